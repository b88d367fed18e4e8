import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import net from 'node:net'
import { simpleParser } from 'mailparser'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createEgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import {
  closeEmailTransports,
  createEmailAdapter,
  type EmailConfig,
  emailConfigSchema,
  smtpFailure,
} from './email.ts'

// A real SMTP server (smtp-server) in the test: plain, TLS and STARTTLS with a certificate made here,
// AUTH PLAIN and LOGIN; each received message is read back with mailparser.

const egress = createEgressPolicy(parseEgressAllow('127.0.0.1'))

// --- A self-signed certificate for 127.0.0.1 and localhost, built with node:crypto (ECDSA P-256) ---
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  const length =
    body.length < 128
      ? Buffer.from([body.length])
      : body.length < 256
        ? Buffer.from([0x81, body.length])
        : Buffer.from([0x82, body.length >> 8, body.length & 255])
  return Buffer.concat([Buffer.from([tag]), length, body])
}
const sequence = (...parts: Buffer[]) => der(0x30, ...parts)
function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]]
  const bytes = [40 * first + second]
  for (const value of rest) {
    const groups = [value & 0x7f]
    for (let left = value >> 7; left > 0; left >>= 7) groups.unshift((left & 0x7f) | 0x80)
    bytes.push(...groups)
  }
  return der(0x06, Buffer.from(bytes))
}
const utcTime = (date: Date) =>
  der(0x17, Buffer.from(`${date.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`))

function selfSignedCertificate(): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const algorithm = sequence(oid('1.2.840.10045.4.3.2')) // ecdsa-with-SHA256
  const name = sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from('openOrchestrator test')))))
  const serial = randomBytes(8)
  serial[0] = serial[0]! & 0x7f
  const altNames = sequence(der(0x82, Buffer.from('localhost')), der(0x87, Buffer.from([127, 0, 0, 1])))
  const extensions = der(
    0xa3,
    sequence(
      sequence(oid('2.5.29.17'), der(0x04, altNames)),
      sequence(
        oid('2.5.29.19'),
        der(0x01, Buffer.from([0xff])),
        der(0x04, sequence(der(0x01, Buffer.from([0xff])))),
      ),
    ),
  )
  const now = Date.now()
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))),
    der(0x02, serial),
    algorithm,
    name,
    sequence(utcTime(new Date(now - 3_600_000)), utcTime(new Date(now + 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  )
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' })
  const certificate = sequence(tbs, algorithm, der(0x03, Buffer.from([0]), signature))
  const pem = certificate
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: `-----BEGIN CERTIFICATE-----\n${pem}\n-----END CERTIFICATE-----\n`,
  }
}

const certificate = selfSignedCertificate()
const adapter = createEmailAdapter({
  tls: { ca: certificate.cert },
  connectionTimeoutMs: 2_000,
  idleMs: 5_000,
})

// --- The SMTP server ---
interface Received {
  raw: Buffer
  from: string | undefined
  to: string[]
  user: string | undefined
  secure: boolean
}

const servers: SMTPServer[] = []
async function startSmtp(options: SMTPServerOptions = {}): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = []
  const server = new SMTPServer({
    logger: false,
    disabledCommands: options.authMethods ? [] : ['AUTH'],
    ...options,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        received.push({
          raw: Buffer.concat(chunks),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          user: session.user as string | undefined,
          secure: session.secure,
        })
        callback()
      })
    },
  })
  // A client that gives up mid-handshake (the certificate test) is an 'error' event here, not a failure.
  server.on('error', () => {})
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.server.address() as net.AddressInfo).port, received }
}

afterEach(() => {
  closeEmailTransports()
})
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
})

function message(overrides: Partial<ChannelMessage> = {}): ChannelMessage {
  return {
    eventId: 'evt_01JABC',
    event: 'run.completed',
    title: '✅ Sneaker scout — 3 new offers',
    text: 'Found **3** offers:\n\n- [Air Max](https://shop.example/a?x=1&y=2) <b>90</b>\n- `size 44`\n\n![tracker](https://evil.example/pixel.png)\n\n<img src="https://evil.example/p.png"><script>alert(1)</script>',
    format: 'full',
    facts: ['14:02', '12 s', '1,234 tokens'],
    link: 'https://orch.example/runs/r1',
    footer: 'Next run: Fri 15:00 (Europe/Berlin)',
    severity: 'success',
    data: {
      eventId: 'evt_01JABC',
      event: 'run.completed',
      botId: 'b1',
      botName: 'Sneaker scout',
      runId: 'r1',
      status: 'completed',
      isNew: true,
      output: null,
      error: null,
      createdAt: '2026-01-01T00:00:00.000Z',
    },
    ...overrides,
  }
}

const config = (overrides: Partial<EmailConfig>): EmailConfig =>
  emailConfigSchema.parse({
    host: '127.0.0.1',
    port: 25,
    security: 'none',
    from: 'openOrchestrator <bots@orch.example>',
    to: ['ada@example.com', 'bob@example.com'],
    ...overrides,
  })

const send = (
  configured: EmailConfig,
  overrides: Partial<ChannelMessage> = {},
  signal = new AbortController().signal,
) => adapter.send(message(overrides), { config: configured, signal, egress })

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(ChannelError)
  return error as ChannelError
}

describe('email channel', () => {
  it('sends a plain message with subject, HTML and text parts, and a Message-ID stable for the event', async () => {
    const smtp = await startSmtp({ hideSTARTTLS: true })
    const configured = config({ port: smtp.port })
    await send(configured)
    await send(configured) // a resend of the same event
    await send(configured, { eventId: 'evt_02' })
    expect(smtp.received).toHaveLength(3)
    const [first, again, other] = await Promise.all(smtp.received.map((mail) => simpleParser(mail.raw)))
    expect(smtp.received[0]!.to).toEqual(['ada@example.com', 'bob@example.com'])
    expect(smtp.received[0]!.from).toBe('bots@orch.example')
    expect(first!.subject).toBe('✅ Sneaker scout — 3 new offers')
    expect(first!.messageId).toBe('<openorch.evt_01JABC@orch.example>')
    expect(again!.messageId).toBe(first!.messageId)
    expect(other!.messageId).toBe('<openorch.evt_02@orch.example>')
    expect(first!.headers.get('x-openorch-event-id')).toBe('evt_01JABC')
    expect(first!.headers.get('auto-submitted')).toBe('auto-generated')

    const html = String(first!.html)
    expect(html).toContain('<strong>3</strong>')
    expect(html).toContain(
      '<a href="https://shop.example/a?x=1&amp;y=2" rel="noopener noreferrer">Air Max</a>',
    )
    expect(html).toContain('&lt;b&gt;90&lt;/b&gt;')
    expect(html).toContain('size 44</code>')
    expect(html).not.toMatch(/<img|<script/i)
    expect(html).toContain('&lt;script&gt;')
    expect(html).toContain('14:02 · 12 s · 1,234 tokens')
    expect(html).toContain(
      '<a href="https://orch.example/runs/r1" rel="noopener noreferrer">Open in openOrchestrator</a>',
    )
    expect(html).toContain('Next run: Fri 15:00 (Europe/Berlin)')
    // The facts, the link and the footer close the message.
    expect(html.indexOf('Next run')).toBeGreaterThan(html.indexOf('size 44'))

    const text = String(first!.text)
    expect(text).toContain('Found **3** offers:')
    expect(text.trimEnd().endsWith('Next run: Fri 15:00 (Europe/Berlin)')).toBe(true)
    expect(text).toContain('https://orch.example/runs/r1')
  })

  it('reuses one pooled connection for several sends', async () => {
    let connections = 0
    const smtp = await startSmtp({
      hideSTARTTLS: true,
      onConnect(_session, callback) {
        connections++
        callback()
      },
    })
    const configured = config({ port: smtp.port })
    for (let i = 0; i < 4; i++) await send(configured, { eventId: `evt_pool_${i}` })
    expect(smtp.received).toHaveLength(4)
    expect(connections).toBe(1)
  })

  it('sends over STARTTLS with AUTH PLAIN, verifying the certificate', async () => {
    const smtp = await startSmtp({
      ...certificate,
      authMethods: ['PLAIN'],
      onAuth(auth, _session, callback) {
        if (auth.method === 'PLAIN' && auth.username === 'ada' && auth.password === 'secret pass')
          return callback(null, { user: 'ada' })
        callback(new Error('Invalid username or password'))
      },
    })
    await send(config({ port: smtp.port, security: 'starttls', user: 'ada', pass: 'secret pass' }))
    expect(smtp.received).toHaveLength(1)
    expect(smtp.received[0]).toMatchObject({ user: 'ada', secure: true })
  })

  it('sends over TLS from the start with AUTH LOGIN', async () => {
    const smtp = await startSmtp({
      ...certificate,
      secure: true,
      authMethods: ['LOGIN'],
      onAuth(auth, _session, callback) {
        if (auth.method === 'LOGIN' && auth.username === 'bob' && auth.password === 'pw')
          return callback(null, { user: 'bob' })
        callback(new Error('Invalid username or password'))
      },
    })
    await send(config({ port: smtp.port, security: 'tls', user: 'bob', pass: 'pw' }))
    expect(smtp.received[0]).toMatchObject({ user: 'bob', secure: true })
  })

  it('refuses a certificate it cannot verify as smtp_tls', async () => {
    const smtp = await startSmtp({ ...selfSignedCertificate(), secure: true })
    const error = await failure(send(config({ port: smtp.port, security: 'tls' })))
    expect(error).toMatchObject({ code: 'smtp_tls', retryable: false, channelBroken: true })
  })

  it('maps a refused login (535) to smtp_auth, breaking the channel, without the password', async () => {
    const smtp = await startSmtp({
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: true,
      hideSTARTTLS: true,
      onAuth(_auth, _session, callback) {
        callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }))
      },
    })
    const error = await failure(send(config({ port: smtp.port, user: 'ada', pass: 'hunter2-secret' })))
    expect(error).toMatchObject({ code: 'smtp_auth', retryable: false, channelBroken: true })
    expect(error.message).toContain('535')
    expect(error.message).not.toContain('hunter2-secret')
  })

  it('maps a refused recipient (550) to smtp_recipient, breaking the channel', async () => {
    const smtp = await startSmtp({
      hideSTARTTLS: true,
      onRcptTo(address, _session, callback) {
        callback(Object.assign(new Error(`<${address.address}>: mailbox unavailable`), { responseCode: 550 }))
      },
    })
    const error = await failure(send(config({ port: smtp.port })))
    expect(error).toMatchObject({ code: 'smtp_recipient', retryable: false, channelBroken: true })
    expect(error.message).toContain('550')
    // One of two recipients refused: the other got it, and the channel still needs fixing.
    const partial = await startSmtp({
      hideSTARTTLS: true,
      onRcptTo(address, _session, callback) {
        if (address.address === 'bob@example.com')
          return callback(Object.assign(new Error('no such user'), { responseCode: 553 }))
        callback()
      },
    })
    const refused = await failure(send(config({ port: partial.port })))
    expect(refused).toMatchObject({ code: 'smtp_recipient', channelBroken: true })
    expect(refused.message).toContain('bob@example.com')
    expect(partial.received).toHaveLength(1)
  })

  it('retries a temporary refusal (421, 451) and a closed port as smtp_unavailable', async () => {
    const busy = await startSmtp({
      hideSTARTTLS: true,
      onMailFrom(_address, _session, callback) {
        callback(Object.assign(new Error('Service not available, try later'), { responseCode: 421 }))
      },
    })
    expect(await failure(send(config({ port: busy.port })))).toMatchObject({
      code: 'smtp_unavailable',
      retryable: true,
      channelBroken: false,
    })
    const greylisted = await startSmtp({
      hideSTARTTLS: true,
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('Greylisted, try again later'), { responseCode: 451 }))
      },
    })
    expect(await failure(send(config({ port: greylisted.port })))).toMatchObject({
      code: 'smtp_unavailable',
      retryable: true,
    })
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const error = await failure(send(config({ port })))
    expect(error).toMatchObject({ code: 'smtp_unavailable', retryable: true })
    expect(error.message).toContain('connection refused')
  })

  it('times out a server that never greets', async () => {
    const silent = net.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as net.AddressInfo).port
    const started = Date.now()
    const error = await failure(send(config({ port })))
    expect(error).toMatchObject({ code: 'smtp_unavailable', retryable: true })
    expect(Date.now() - started).toBeLessThan(10_000)
    silent.close()
  })

  it('aborts a send when the run’s signal aborts', async () => {
    const slow = await startSmtp({
      hideSTARTTLS: true,
      onMailFrom(_address, _session, callback) {
        setTimeout(() => callback(), 3_000)
      },
    })
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('lease lost')), 100)
    const started = Date.now()
    await expect(send(config({ port: slow.port }), {}, controller.signal)).rejects.toThrow('lease lost')
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(slow.received).toHaveLength(0)
  })

  it('refuses an SMTP host on a private address unless the egress rules open it', async () => {
    const closedEgress = createEgressPolicy([])
    const configured = config({ port: 2525 })
    await expect(adapter.check!(configured, closedEgress)).rejects.toMatchObject({ code: 'egress_refused' })
    await expect(adapter.check!(configured, egress)).resolves.toBeUndefined()
    const error = await failure(
      adapter.send(message(), {
        config: configured,
        signal: new AbortController().signal,
        egress: closedEgress,
      }),
    )
    expect(error).toMatchObject({ code: 'egress_refused', retryable: false })
  })

  it('validates the configuration', () => {
    expect(emailConfigSchema.safeParse({ ...config({}), to: [] }).success).toBe(false)
    expect(emailConfigSchema.safeParse({ ...config({}), to: Array(21).fill('a@example.com') }).success).toBe(
      false,
    )
    expect(emailConfigSchema.safeParse({ ...config({}), from: 'not an address' }).success).toBe(false)
    expect(emailConfigSchema.safeParse({ ...config({}), pass: 'x' }).success).toBe(false)
    expect(emailConfigSchema.safeParse({ ...config({}), host: 'smtp.example.com\r\nX: y' }).success).toBe(
      false,
    )
    expect(smtpFailure({ code: 'EAUTH', responseCode: 454 })).toMatchObject({ code: 'smtp_unavailable' })
  })
})
