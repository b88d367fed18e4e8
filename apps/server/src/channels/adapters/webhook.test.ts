import crypto from 'node:crypto'
import fs from 'node:fs'
import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createEgressPolicy, type EgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import {
  postToChannel,
  signPayload,
  verifySignature,
  type WebhookConfig,
  webhookAdapter,
  webhookConfigSchema,
} from './webhook.ts'

// The webhook adapter against a local receiver, through the egress guard opened for exactly the
// receiver's port (as an operator would with OPENORCH_EGRESS_ALLOW=127.0.0.1:<port>).

interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

interface Receiver {
  url: string
  port: number
  received: Received[]
  egress: EgressPolicy
}

const receivers: http.Server[] = []

async function startReceiver(
  answer: (request: Received, response: ServerResponse) => void,
): Promise<Receiver> {
  const received: Received[] = []
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      received.push(entry)
      answer(entry, response)
    })
  })
  receivers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/hooks/openorch`,
    port,
    received,
    egress: createEgressPolicy(parseEgressAllow(`127.0.0.1:${port}`)),
  }
}

afterEach(async () => {
  for (const server of receivers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

const secret = 'whsec_0123456789abcdef0123456789abcdef'

function messageOf(overrides: Partial<ChannelMessage> = {}): ChannelMessage {
  const eventId = overrides.eventId ?? '0193a0c4-5f4e-7c1a-9d0e-2b7f4c8e1a55'
  return {
    eventId,
    event: 'run.completed',
    title: '✅ Sneaker scout — 3 new offers',
    text: 'Found **3** offers',
    format: 'full',
    facts: ['14:02', '12 s'],
    link: 'https://orch.example/runs/r1',
    footer: null,
    severity: 'success',
    data: {
      eventId,
      event: 'run.completed',
      botId: 'b1',
      botName: 'Sneaker scout',
      runId: 'r1',
      status: 'completed',
      isNew: true,
      output: { offers: [{ title: 'Air Max <90> & co', price: 89.5 }] },
      error: null,
      createdAt: '2026-12-04T09:00:00.000Z',
    },
    ...overrides,
  }
}

const send = (receiver: Receiver, message: ChannelMessage, config: Partial<WebhookConfig> = {}) =>
  webhookAdapter.send(message, {
    config: { url: receiver.url, signingSecret: secret, ...config },
    signal: new AbortController().signal,
    egress: receiver.egress,
  })

async function failureOf(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ChannelError)
  return error as ChannelError
}

/** A receiver that checks every request with the documented verifySignature: 204 when it holds, 401 when not. */
const verifying = () =>
  startReceiver((request, response) => {
    const ok = verifySignature(
      secret,
      String(request.headers['x-openorch-timestamp']),
      request.body,
      String(request.headers['x-openorch-signature']),
    )
    response.writeHead(ok ? 204 : 401).end()
  })

describe('webhook adapter', () => {
  it('posts message.data exactly, signed so the documented verifySignature accepts it', async () => {
    const receiver = await verifying()
    const message = messageOf()
    await send(receiver, message)
    expect(receiver.received).toHaveLength(1)
    const [request] = receiver.received
    expect(request!.method).toBe('POST')
    expect(request!.url).toBe('/hooks/openorch')
    expect(request!.body).toBe(JSON.stringify(message.data))
    expect(JSON.parse(request!.body)).toEqual(message.data)
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.headers['user-agent']).toBe('openOrchestrator')
    expect(request!.headers['x-openorch-event-id']).toBe(message.eventId)
    const timestamp = Number(request!.headers['x-openorch-timestamp'])
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(5)
    expect(request!.headers['x-openorch-signature']).toMatch(/^v1=[0-9a-f]{64}$/)
    expect(request!.headers['x-openorch-signature']).toBe(
      `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${request!.body}`).digest('hex')}`,
    )
  })

  it('verifySignature refuses a tampered body, another secret, an old or future timestamp and a malformed header', async () => {
    const body = JSON.stringify(messageOf().data)
    const now = Math.floor(Date.now() / 1000)
    const signed = (timestamp: number, payload = body, key = secret) =>
      [String(timestamp), payload, `v1=${signPayload(key, String(timestamp), payload)}`] as const
    const [timestamp, , header] = signed(now)
    expect(verifySignature(secret, timestamp, body, header)).toBe(true)
    expect(verifySignature(secret, timestamp, Buffer.from(body), header)).toBe(true)
    expect(verifySignature(secret, timestamp, body.replace('89.5', '8.95'), header)).toBe(false)
    expect(verifySignature('another-secret-0123456789', timestamp, body, header)).toBe(false)
    expect(verifySignature(secret, String(now + 1), body, header)).toBe(false)
    expect(verifySignature(secret, ...signed(now - 301))).toBe(false)
    expect(verifySignature(secret, ...signed(now - 299))).toBe(true)
    expect(verifySignature(secret, ...signed(now + 301))).toBe(false)
    expect(verifySignature(secret, ...signed(now - 30), 10)).toBe(false)
    expect(verifySignature(secret, timestamp, body, header.toUpperCase().replace('V1=', 'v1='))).toBe(true)
    expect(verifySignature(secret, timestamp, body, `v1=${'0'.repeat(64)}, ${header}`)).toBe(true)
    expect(verifySignature(secret, timestamp, body, header.slice(0, -2))).toBe(false)
    expect(verifySignature(secret, timestamp, body, header.replace('v1=', 'v0='))).toBe(false)
    expect(verifySignature(secret, timestamp, body, '')).toBe(false)
    expect(verifySignature(secret, '1e9', body, header)).toBe(false)
    expect(verifySignature(secret, '', body, header)).toBe(false)
  })

  it('the receiver refuses a tampered body and an old timestamp that the adapter did not send', async () => {
    const receiver = await verifying()
    const body = JSON.stringify(messageOf().data)
    const post = (timestamp: number, payload: string, signedPayload = payload) =>
      fetch(receiver.url, {
        method: 'POST',
        headers: {
          'X-OpenOrch-Timestamp': String(timestamp),
          'X-OpenOrch-Signature': `v1=${signPayload(secret, String(timestamp), signedPayload)}`,
        },
        body: payload,
      }).then((response) => response.status)
    const now = Math.floor(Date.now() / 1000)
    expect(await post(now, body)).toBe(204)
    expect(await post(now, body.replace('"isNew":true', '"isNew":false'), body)).toBe(401)
    expect(await post(now - 600, body)).toBe(401)
  })

  it('the snippet in docs/webhooks.md verifies like verifySignature', async () => {
    const docs = fs.readFileSync(path.join(import.meta.dirname, '../../../../../docs/webhooks.md'), 'utf8')
    const block =
      /<!-- verify-signature:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-signature:end -->/.exec(docs)
    expect(block).not.toBeNull()
    const code = block![1]!
    expect(code.split('\n').length).toBeLessThanOrEqual(16)
    expect(code).toContain("import crypto from 'node:crypto'")
    const documented = new Function(
      'crypto',
      `${code.replace("import crypto from 'node:crypto'", '').replace('export function', 'function')}\nreturn verifySignature`,
    )(crypto) as typeof verifySignature
    const receiver = await startReceiver((request, response) => {
      const headers = request.headers
      const args = [
        String(headers['x-openorch-timestamp']),
        request.body,
        String(headers['x-openorch-signature']),
      ]
      const ok = documented(secret, args[0]!, args[1]!, args[2]!)
      expect(ok).toBe(verifySignature(secret, args[0]!, args[1]!, args[2]!))
      expect(documented(secret, args[0]!, `${args[1]} `, args[2]!)).toBe(false)
      expect(documented(secret, String(Number(args[0]) - 400), args[1]!, args[2]!)).toBe(false)
      expect(documented(secret, args[0]!, args[1]!, undefined as never)).toBe(false)
      response.writeHead(ok ? 204 : 401).end()
    })
    await send(receiver, messageOf())
    expect(receiver.received).toHaveLength(1)
  })

  it('sends the same event id on every attempt of one message, signed anew each time', async () => {
    const receiver = await verifying()
    const message = messageOf()
    await send(receiver, message)
    await send(receiver, message)
    const [first, second] = receiver.received
    expect(first!.headers['x-openorch-event-id']).toBe(message.eventId)
    expect(second!.headers['x-openorch-event-id']).toBe(message.eventId)
    expect(second!.body).toBe(first!.body)
    await send(receiver, messageOf({ eventId: 'another-event' }))
    expect(receiver.received[2]!.headers['x-openorch-event-id']).toBe('another-event')
  })

  it('sends the configured headers, which cannot override the signature, the event id or the content type', async () => {
    const receiver = await verifying()
    await send(receiver, messageOf(), {
      headers: {
        Authorization: 'Bearer receiver-token-123',
        'X-Team': 'scouts',
        'X-OpenOrch-Signature': 'v1=forged',
        'x-openorch-event-id': 'forged',
        'x-openorch-timestamp': '1',
        'content-type': 'text/plain',
        'User-Agent': 'curl',
      },
    })
    const [request] = receiver.received
    expect(request!.headers.authorization).toBe('Bearer receiver-token-123')
    expect(request!.headers['x-team']).toBe('scouts')
    expect(request!.headers['x-openorch-signature']).toMatch(/^v1=[0-9a-f]{64}$/)
    expect(request!.headers['x-openorch-event-id']).toBe(messageOf().eventId)
    expect(request!.headers['content-type']).toBe('application/json')
    expect(request!.headers['user-agent']).toBe('openOrchestrator')
    // 204: the receiver's verifySignature accepted it.
    expect(receiver.received).toHaveLength(1)
  })

  it('refuses reserved or malformed header names when the config is saved', () => {
    const parse = (headers: Record<string, string>) =>
      webhookConfigSchema.safeParse({ url: 'https://example.com/hook', signingSecret: secret, headers })
    expect(parse({ Authorization: 'Bearer x' }).success).toBe(true)
    for (const name of ['X-OpenOrch-Signature', 'content-type', 'User-Agent', 'Host', 'Bad Name'])
      expect(parse({ [name]: 'x' }).success, name).toBe(false)
    expect(parse({ 'X-Split': 'a\r\nInjected: yes' }).success).toBe(false)
    expect(webhookConfigSchema.safeParse({ url: 'ftp://example.com/x', signingSecret: secret }).success).toBe(
      false,
    )
    expect(webhookConfigSchema.safeParse({ url: 'https://example.com/x' }).success).toBe(false)
    expect(webhookAdapter.secretFields).toEqual(['url', 'headers', 'signingSecret'])
  })

  it('does not follow a redirect: a permanent webhook_redirect naming the location', async () => {
    const receiver = await startReceiver((request, response) => {
      if (request.url === '/elsewhere') return response.writeHead(204).end()
      response.writeHead(307, { Location: '/elsewhere?token=abc' }).end()
    })
    const error = await failureOf(send(receiver, messageOf()))
    expect(error.code).toBe('webhook_redirect')
    expect(error.retryable).toBe(false)
    expect(error.channelBroken).toBe(true)
    expect(error.message).toContain(`http://127.0.0.1:${receiver.port}/elsewhere`)
    expect(error.message).not.toContain('token=abc')
    expect(receiver.received.map((request) => request.url)).toEqual(['/hooks/openorch'])
  })

  const statusCases: Array<{
    name: string
    status: number
    headers?: Record<string, string>
    body?: string
    code: string
    retryable: boolean
    channelBroken: boolean
    retryAfterMs?: number
  }> = [
    {
      name: '429 with Retry-After in seconds',
      status: 429,
      headers: { 'Retry-After': '7' },
      code: 'webhook_rate_limited',
      retryable: true,
      channelBroken: false,
      retryAfterMs: 7000,
    },
    {
      name: '429 without Retry-After',
      status: 429,
      code: 'webhook_rate_limited',
      retryable: true,
      channelBroken: false,
    },
    { name: '500', status: 500, code: 'webhook_unavailable', retryable: true, channelBroken: false },
    {
      name: '503 with Retry-After',
      status: 503,
      headers: { 'Retry-After': '30' },
      code: 'webhook_unavailable',
      retryable: true,
      channelBroken: false,
      retryAfterMs: 30_000,
    },
    { name: '410', status: 410, code: 'webhook_gone', retryable: false, channelBroken: true },
    { name: '400', status: 400, code: 'webhook_refused', retryable: false, channelBroken: false },
    { name: '422', status: 422, code: 'webhook_refused', retryable: false, channelBroken: false },
    { name: '401', status: 401, code: 'webhook_refused', retryable: false, channelBroken: true },
    { name: '403', status: 403, code: 'webhook_refused', retryable: false, channelBroken: true },
    { name: '404', status: 404, code: 'webhook_refused', retryable: false, channelBroken: true },
  ]

  for (const c of statusCases) {
    it(`maps ${c.name} to ${c.code} (retryable ${c.retryable}, channel broken ${c.channelBroken})`, async () => {
      const receiver = await startReceiver((_request, response) =>
        response.writeHead(c.status, c.headers).end(c.body ?? `answer ${c.status}`),
      )
      const error = await failureOf(send(receiver, messageOf()))
      expect(error.code).toBe(c.code)
      expect(error.retryable).toBe(c.retryable)
      expect(error.channelBroken).toBe(c.channelBroken)
      expect(error.retryAfterMs).toBe(c.retryAfterMs)
      expect(error.message).toContain(String(c.status))
    })
  }

  it('reads an HTTP-date Retry-After', async () => {
    const at = new Date(Date.now() + 90_000).toUTCString()
    const receiver = await startReceiver((_request, response) =>
      response.writeHead(429, { 'Retry-After': at }).end(),
    )
    const error = await failureOf(send(receiver, messageOf()))
    expect(error.retryAfterMs).toBeGreaterThan(85_000)
    expect(error.retryAfterMs).toBeLessThanOrEqual(90_000)
  })

  it('quotes the first 200 characters of a refusal, on one line', async () => {
    const answer = `bad\npayload ${'x'.repeat(400)}`
    const receiver = await startReceiver((_request, response) => response.writeHead(400).end(answer))
    const error = await failureOf(send(receiver, messageOf()))
    expect(error.message).toContain(`400: bad payload ${'x'.repeat(188)}…`)
    expect(error.message).not.toContain('x'.repeat(189))
  })

  it('retries when the receiver cannot be reached', async () => {
    const receiver = await startReceiver((_request, response) => response.end())
    const closed = receivers.pop()!
    closed.closeAllConnections()
    await new Promise((resolve) => closed.close(resolve))
    const error = await failureOf(send(receiver, messageOf()))
    expect(error.code).toBe('webhook_unavailable')
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('connection refused')
  })

  it('gives up on a silent receiver after the timeout, retryable', async () => {
    const receiver = await startReceiver(() => {})
    const started = Date.now()
    const error = await failureOf(
      postToChannel(
        receiver.url,
        '{}',
        {},
        {
          kind: 'webhook',
          label: 'The webhook',
          egress: receiver.egress,
          signal: new AbortController().signal,
          timeoutMs: 200,
        },
      ),
    )
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(error.code).toBe('webhook_unavailable')
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('did not answer within 0.2 s')
  })

  it("stops when the run's signal aborts, with the signal's reason", async () => {
    const receiver = await startReceiver(() => {})
    const controller = new AbortController()
    const reason = new Error('lease lost')
    const sent = webhookAdapter.send(messageOf(), {
      config: { url: receiver.url, signingSecret: secret },
      signal: controller.signal,
      egress: receiver.egress,
    })
    setTimeout(() => controller.abort(reason), 50)
    await expect(sent).rejects.toBe(reason)
  })

  it('refuses another loopback port and the metadata address, in check and in send, before sending', async () => {
    const receiver = await verifying()
    await expect(
      webhookAdapter.check!({ url: receiver.url, signingSecret: secret }, receiver.egress),
    ).resolves.toBe(undefined)
    const refused = [
      [`http://127.0.0.1:${receiver.port + 1}/hook`, 'loopback'],
      ['http://169.254.169.254/latest/meta-data/', 'link-local'],
      ['http://[::1]:8080/hook', 'loopback'],
      ['http://10.1.2.3/hook', 'private'],
    ] as const
    for (const [url, range] of refused) {
      const checked = await webhookAdapter.check!({ url, signingSecret: secret }, receiver.egress).then(
        () => undefined,
        (thrown: unknown) => thrown,
      )
      expect(checked, url).toBeInstanceOf(AppError)
      expect((checked as AppError).code).toBe('egress_refused')
      expect((checked as AppError).status).toBe(400)
      expect((checked as AppError).message).toContain(range)
      expect((checked as AppError).message).toContain('OPENORCH_EGRESS_ALLOW')
      const error = await failureOf(
        webhookAdapter.send(messageOf(), {
          config: { url, signingSecret: secret },
          signal: new AbortController().signal,
          egress: receiver.egress,
        }),
      )
      expect(error.code).toBe('egress_refused')
      expect(error.retryable).toBe(false)
      expect(error.channelBroken).toBe(true)
      expect(error.message).toContain(range)
    }
    expect(receiver.received).toHaveLength(0)
  })

  it('refuses a name that resolves to a refused address in check', async () => {
    const egress = createEgressPolicy(parseEgressAllow('none'))
    const error = await webhookAdapter.check!(
      { url: 'http://localhost:9/hook', signingSecret: secret },
      egress,
    ).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('egress_refused')
    expect((error as AppError).message).toMatch(/^localhost \(.+\) is a loopback address/)
  })
})
