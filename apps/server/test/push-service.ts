import crypto from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

// A push service on loopback that speaks Web Push as browsers' push services do (RFC 8030): it takes
// the POST of a subscription's endpoint, checks the VAPID authorisation (RFC 8292: an ES256 JWT whose
// `aud` is this service's origin and whose `exp` is at most 24 h away, signed by the key in `k`, the key
// the browser subscribed with) and decrypts the aes128gcm payload (RFC 8291 over RFC 8188) with the
// subscription's private key, which the test made as a browser would. It records what it decrypted,
// answers 201, or the scripted 404/410/429/5xx.

export interface BrowserSubscription {
  /** What `PushSubscription.toJSON()` gives the dashboard. */
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } }
  /** The browser's ECDH key pair and auth secret, kept to decrypt. */
  ecdh: crypto.ECDH
  auth: Buffer
  /** The VAPID public key it subscribed with; requests signed by another key are refused (403). */
  applicationServerKey: string
}

export interface ReceivedPush {
  subscription: string
  headers: http.IncomingHttpHeaders
  /** The JWT's claims, checked. */
  claims: { aud: string; exp: number; sub: string }
  /** The `k` of the Authorization header: the VAPID public key. */
  vapidKey: string
  /** The decrypted payload. */
  plaintext: string
}

export interface PushService {
  origin: string
  /** Requests that passed every check, decrypted, in order. */
  received: ReceivedPush[]
  /** Requests refused, with the reason (a bad signature, an unknown endpoint, …). */
  refused: Array<{ status: number; reason: string }>
  /** Every request that arrived, answered as scripted or not. */
  attempts: number
  /** A browser subscribing with `applicationServerKey`: an endpoint here and its keys. */
  subscribe(applicationServerKey: string): BrowserSubscription
  /** The next requests are answered with these statuses (and headers) instead of being delivered. */
  failNext(...answers: Array<{ status: number; headers?: Record<string, string> }>): void
  close(): Promise<void>
}

const b64url = (buffer: Buffer) => buffer.toString('base64url')

/** The P-256 public key of 65 uncompressed bytes as a KeyObject. */
function publicKeyOf(raw: Buffer): crypto.KeyObject {
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('not an uncompressed P-256 key')
  return crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33)) },
    format: 'jwk',
  })
}

/** Checks `Authorization: vapid t=<jwt>, k=<key>`; throws the reason when it does not hold. */
export function verifyVapid(
  header: string | undefined,
  origin: string,
  now = Date.now(),
): { claims: ReceivedPush['claims']; key: string } {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '')
  if (!match) throw new Error(`no VAPID authorization: ${header}`)
  const [, token, key] = match as unknown as [string, string, string]
  const [head, body, signature] = token.split('.')
  if (!head || !body || !signature) throw new Error('the JWT has not three parts')
  const header64 = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: string }
  if (header64.alg !== 'ES256') throw new Error(`the JWT is signed with ${header64.alg}, not ES256`)
  const valid = crypto.verify(
    'sha256',
    Buffer.from(`${head}.${body}`),
    { key: publicKeyOf(Buffer.from(key, 'base64url')), dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature, 'base64url'),
  )
  if (!valid) throw new Error('the JWT signature does not match k')
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as ReceivedPush['claims']
  if (claims.aud !== origin) throw new Error(`aud is ${claims.aud}, not ${origin}`)
  const seconds = now / 1000
  if (typeof claims.exp !== 'number' || claims.exp <= seconds || claims.exp > seconds + 24 * 3600)
    throw new Error(`exp ${claims.exp} is not within the next 24 h`)
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub))
    throw new Error(`sub ${claims.sub} is not a mailto: or https: URL`)
  return { claims, key }
}

/** RFC 8291/8188: the aes128gcm body decrypted with the browser's key pair and auth secret. */
export function decryptAes128gcm(body: Buffer, ecdh: crypto.ECDH, auth: Buffer): string {
  const salt = body.subarray(0, 16)
  const recordSize = body.readUInt32BE(16)
  const idLength = body[20]!
  const senderPublic = body.subarray(21, 21 + idLength)
  const ciphertext = body.subarray(21 + idLength)
  if (idLength !== 65) throw new Error(`the key id is ${idLength} bytes, not a P-256 public key`)
  if (ciphertext.length > recordSize) throw new Error('more than one record')
  const ecdhSecret = ecdh.computeSecret(senderPublic)
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderPublic])
  const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdhSecret, auth, keyInfo, 32))
  const cek = Buffer.from(
    crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16),
  )
  const nonce = Buffer.from(
    crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12),
  )
  const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce)
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
  const padded = Buffer.concat([
    decipher.update(ciphertext.subarray(0, ciphertext.length - 16)),
    decipher.final(),
  ])
  let end = padded.length - 1
  while (end >= 0 && padded[end] === 0) end--
  if (padded[end] !== 2) throw new Error('the last record has no 0x02 delimiter')
  return padded.subarray(0, end).toString('utf8')
}

export async function startPushService(): Promise<PushService> {
  const subscriptions = new Map<string, BrowserSubscription>()
  const scripted: Array<{ status: number; headers?: Record<string, string> }> = []
  const received: ReceivedPush[] = []
  const refused: PushService['refused'] = []
  let origin = ''
  const service = {
    origin: '',
    received,
    refused,
    attempts: 0,
  } as PushService
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      service.attempts++
      const refuse = (status: number, reason: string) => {
        refused.push({ status, reason })
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ reason }))
      }
      const answer = scripted.shift()
      if (answer) {
        response.writeHead(answer.status, answer.headers ?? {}).end()
        return
      }
      const id = /^\/push\/([A-Za-z0-9_-]+)$/.exec(request.url ?? '')?.[1]
      const subscription = id ? subscriptions.get(id) : undefined
      if (request.method !== 'POST' || !subscription) return refuse(404, 'no such subscription')
      let vapid: ReturnType<typeof verifyVapid>
      try {
        vapid = verifyVapid(request.headers.authorization, origin)
      } catch (error) {
        return refuse(401, (error as Error).message)
      }
      if (vapid.key !== subscription.applicationServerKey)
        return refuse(403, 'signed by another key than the subscription was made with')
      if (request.headers['content-encoding'] !== 'aes128gcm')
        return refuse(415, `content-encoding ${request.headers['content-encoding']}`)
      if (!/^\d+$/.test(String(request.headers.ttl ?? ''))) return refuse(400, 'no TTL')
      let plaintext: string
      try {
        plaintext = decryptAes128gcm(Buffer.concat(chunks), subscription.ecdh, subscription.auth)
      } catch (error) {
        return refuse(400, `cannot decrypt: ${(error as Error).message}`)
      }
      received.push({
        subscription: id!,
        headers: request.headers,
        claims: vapid.claims,
        vapidKey: vapid.key,
        plaintext,
      })
      response.writeHead(201, { location: `${origin}/message/${received.length}` }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  service.origin = origin
  service.subscribe = (applicationServerKey) => {
    const ecdh = crypto.createECDH('prime256v1')
    ecdh.generateKeys()
    const auth = crypto.randomBytes(16)
    const id = crypto.randomBytes(24).toString('base64url')
    const subscription: BrowserSubscription = {
      json: {
        endpoint: `${origin}/push/${id}`,
        expirationTime: null,
        keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) },
      },
      ecdh,
      auth,
      applicationServerKey,
    }
    subscriptions.set(id, subscription)
    return subscription
  }
  service.failNext = (...answers) => {
    scripted.push(...answers)
  }
  service.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return service
}
