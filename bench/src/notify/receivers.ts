// The two receivers of the notification benchmark, in the bench's main process (not the measured
// one): a plain node:http webhook receiver that verifies every signature with the documented check
// (`verifySignature`, so its cost is on the receiving side as it would be for a real receiver) and a
// real SMTP server (`smtp-server`, no TLS, no AUTH). Each timestamps an arrival when the whole body or
// message is in, before it answers, keyed by the event id (X-OpenOrch-Event-Id on both).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { verifySignature } from '../../../apps/server/src/channels/adapters/webhook.ts'

const now = () => performance.timeOrigin + performance.now()

export interface Arrivals {
  /** event id → arrival times (ms since the epoch, fractional); more than one is a repeat. */
  webhook: Map<string, number[]>
  email: Map<string, number[]>
  badSignatures: number
}

export interface Receivers {
  webhookUrl: string
  smtpPort: number
  /** Starts the next measurement's arrivals (its channel's secret follows with setSecret). */
  reset(): Arrivals
  setSecret(secret: string): void
  close(): Promise<void>
}

const record = (map: Map<string, number[]>, id: string, at: number) => {
  const list = map.get(id)
  if (list) list.push(at)
  else map.set(id, [at])
}

export async function startReceivers(): Promise<Receivers> {
  let arrivals: Arrivals = { webhook: new Map(), email: new Map(), badSignatures: 0 }
  let secret: string | undefined

  const web = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const at = now()
      const body = Buffer.concat(chunks)
      const timestamp = String(request.headers['x-openorch-timestamp'] ?? '')
      const signature = String(request.headers['x-openorch-signature'] ?? '')
      if (secret === undefined || !verifySignature(secret, timestamp, body, signature)) {
        arrivals.badSignatures++
        response.writeHead(400).end()
        return
      }
      record(arrivals.webhook, String(request.headers['x-openorch-event-id']), at)
      response.writeHead(204).end()
    })
  })
  web.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))

  const smtp = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        const at = now()
        const raw = Buffer.concat(chunks).toString('utf8')
        const head = raw.slice(0, raw.indexOf('\r\n\r\n'))
        const eventId = /^X-OpenOrch-Event-Id:\s*(\S+)/im.exec(head)?.[1] ?? 'missing'
        record(arrivals.email, eventId, at)
        callback()
      })
    },
  })
  smtp.on('error', () => {})
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))

  return {
    webhookUrl: `http://127.0.0.1:${(web.address() as AddressInfo).port}/hook`,
    smtpPort: (smtp.server.address() as AddressInfo).port,
    setSecret(next) {
      secret = next
    },
    reset() {
      secret = undefined
      arrivals = { webhook: new Map(), email: new Map(), badSignatures: 0 }
      return arrivals
    },
    async close() {
      web.closeAllConnections()
      await new Promise<void>((resolve) => web.close(() => resolve()))
      await new Promise<void>((resolve) => smtp.close(() => resolve()))
    },
  }
}
