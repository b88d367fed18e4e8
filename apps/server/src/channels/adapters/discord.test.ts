import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createEgressPolicy, type EgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import { type DiscordPayload, discordAdapter, discordLimits, discordPayload } from './discord.ts'

// The Discord adapter against a local receiver speaking the webhook wire format (`?wait=true` answers
// 200 with the message; errors as `{ message, code }`, 429 with `retry_after`), opened by the egress
// policy for exactly its port.

interface Received {
  url: string
  headers: IncomingHttpHeaders
  body: string
}

interface Receiver {
  url: string
  received: Received[]
  egress: EgressPolicy
}

const servers: http.Server[] = []
const hookPath = '/api/webhooks/1234567890/secretTokenXYZ'

const created = (response: ServerResponse) =>
  response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: '99', type: 0 }))

async function startDiscord(answer: (response: ServerResponse) => void = created): Promise<Receiver> {
  const received: Received[] = []
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      received.push({
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      })
      answer(response)
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}${hookPath}`,
    received,
    egress: createEgressPolicy(parseEgressAllow(`127.0.0.1:${port}`)),
  }
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

function messageOf(overrides: Partial<ChannelMessage> = {}): ChannelMessage {
  return {
    eventId: 'e1',
    event: 'run.completed',
    title: '✅ Sneaker scout — 3 new offers',
    text: 'Found **3 new** offers\n\n- [Air Max 90](https://shop.example/a) — 89 €',
    format: 'full',
    facts: ['14:02', 'Duration: 12 s', 'Cost: $0.0021'],
    link: 'https://orch.example/runs/r1',
    footer: 'Next run: Fri 15:00 (Europe/Berlin)',
    severity: 'success',
    data: {
      eventId: 'e1',
      event: 'run.completed',
      botId: 'b1',
      botName: 'Sneaker scout',
      runId: 'r1',
      status: 'completed',
      isNew: true,
      output: null,
      error: null,
      createdAt: '2026-12-04T09:00:00.000Z',
    },
    ...overrides,
  }
}

const send = (receiver: Receiver, message: ChannelMessage) =>
  discordAdapter.send(message, {
    config: { webhookUrl: receiver.url },
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

const fields = [
  { name: '\u200b', value: '14:02', inline: true },
  { name: 'Duration', value: '12 s', inline: true },
  { name: 'Cost', value: '$0.0021', inline: true },
]

const embedOf = (payload: DiscordPayload) => payload.embeds[0]

describe('discord adapter', () => {
  it('posts a short message as one embed with ?wait=true and no mentions allowed', async () => {
    const discord = await startDiscord()
    await send(discord, messageOf({ format: 'short' }))
    expect(discord.received).toHaveLength(1)
    expect(discord.received[0]!.url).toBe(`${hookPath}?wait=true`)
    expect(discord.received[0]!.headers['content-type']).toBe('application/json')
    expect(JSON.parse(discord.received[0]!.body)).toEqual({
      embeds: [
        {
          title: '✅ Sneaker scout — 3 new offers',
          description: 'Found **3 new** offers',
          url: 'https://orch.example/runs/r1',
          color: 0x22c55e,
          fields,
          footer: { text: 'Next run: Fri 15:00 (Europe/Berlin)' },
          timestamp: '2026-12-04T09:00:00.000Z',
        },
      ],
      allowed_mentions: { parse: [] },
    })
  })

  it('posts a full message with its Markdown as it is, coloured by severity', async () => {
    const discord = await startDiscord()
    const text =
      '## Offers\n\n- [Air Max 90](https://shop.example/a) — **89 €**\n\n```js\nconst a = 1 < 2\n```'
    await send(discord, messageOf({ text, severity: 'error', facts: [], footer: null, link: null }))
    expect(JSON.parse(discord.received[0]!.body)).toEqual({
      embeds: [
        {
          title: '✅ Sneaker scout — 3 new offers',
          description: text,
          color: 0xef4444,
          timestamp: '2026-12-04T09:00:00.000Z',
        },
      ],
      allowed_mentions: { parse: [] },
    })
    expect(embedOf(discordPayload(messageOf({ severity: 'warning' }))).color).toBe(0xf59e0b)
    expect(embedOf(discordPayload(messageOf({ severity: 'info' }))).color).toBe(0x3b82f6)
  })

  it('defuses @everyone, @here, user and role mentions everywhere and allows none', () => {
    const payload = discordPayload(
      messageOf({
        title: '@everyone look',
        text: 'Hey @here and <@123456> and <@!42> and <@&777>, mail me at a@here.example',
        facts: ['Owner: <@123456>'],
        footer: '@everyone',
      }),
    )
    expect(payload.allowed_mentions).toEqual({ parse: [] })
    const embed = embedOf(payload)
    expect(embed.title).toBe('@\u200beveryone look')
    expect(embed.description).toBe(
      'Hey @\u200bhere and <@\u200b123456> and <@\u200b!42> and <@\u200b&777>, mail me at a@\u200bhere.example',
    )
    expect(embed.fields).toEqual([{ name: 'Owner', value: '<@\u200b123456>', inline: true }])
    expect(embed.footer).toEqual({ text: '@\u200beveryone' })
    expect(JSON.stringify(payload)).not.toMatch(/@everyone|@here|<@\d|<@[!&]\d/)
  })

  it('keeps a 10,000-character text within the description and total limits, cut with "…"', () => {
    const text = Array.from({ length: 100 }, (_, i) => `${`Paragraph ${i}: `.padEnd(97, 'ab ')}.`).join(
      '\n\n',
    )
    expect(text.length).toBeGreaterThanOrEqual(9_998)
    const embed = embedOf(discordPayload(messageOf({ text })))
    expect(embed.description!.length).toBeLessThanOrEqual(discordLimits.description)
    expect(embed.description!.length).toBeGreaterThan(discordLimits.description - 5)
    expect(embed.description!.endsWith('…')).toBe(true)
    expect(text.startsWith(embed.description!.slice(0, -1))).toBe(true)
    // With long facts the whole embed stays within 6,000 characters: the description gives way.
    const crowded = embedOf(
      discordPayload(
        messageOf({ text, facts: Array.from({ length: 30 }, (_, i) => `Fact ${i}: ${'v'.repeat(2_000)}`) }),
      ),
    )
    expect(crowded.fields).toHaveLength(discordLimits.fields)
    for (const field of crowded.fields!) {
      expect(field.name.length).toBeLessThanOrEqual(discordLimits.fieldName)
      expect(field.value.length).toBeLessThanOrEqual(discordLimits.fieldValue)
    }
    expect(crowded.fields![0]!.value.endsWith('…')).toBe(true)
  })

  it('keeps the sum of an embed within 6,000 characters', () => {
    const text = 'd'.repeat(10_000)
    const embed = embedOf(
      discordPayload(
        messageOf({
          text,
          title: 't'.repeat(300),
          footer: 'f'.repeat(3_000),
          facts: ['Label: '.concat('v'.repeat(1_500))],
        }),
      ),
    )
    expect(embed.title).toHaveLength(256)
    expect(embed.footer!.text).toHaveLength(2_048)
    const total =
      embed.title!.length +
      embed.description!.length +
      embed.footer!.text.length +
      embed.fields!.reduce((sum, field) => sum + field.name.length + field.value.length, 0)
    expect(total).toBe(discordLimits.total)
    expect(embed.description!.endsWith('…')).toBe(true)
  })

  it('closes a code block the cut falls into', () => {
    const text = `Result:\n\n\`\`\`\n${'line of code\n'.repeat(1_000)}\`\`\``
    const description = embedOf(discordPayload(messageOf({ text, facts: [], footer: null }))).description!
    expect(description.length).toBeLessThanOrEqual(discordLimits.description)
    expect(description.endsWith('…\n```')).toBe(true)
  })

  it('retries a 429 after the retry_after of its body, in milliseconds', async () => {
    const discord = await startDiscord((response) =>
      response
        .writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '2' })
        .end(JSON.stringify({ message: 'You are being rate limited.', retry_after: 1.337, global: false })),
    )
    const error = await failureOf(send(discord, messageOf()))
    expect(error.code).toBe('discord_rate_limited')
    expect(error.retryable).toBe(true)
    expect(error.channelBroken).toBe(false)
    expect(error.retryAfterMs).toBe(1337)
  })

  it('retries a 429 after its Retry-After header when the body has none', async () => {
    const discord = await startDiscord((response) => response.writeHead(429, { 'Retry-After': '5' }).end())
    const error = await failureOf(send(discord, messageOf()))
    expect(error.code).toBe('discord_rate_limited')
    expect(error.retryAfterMs).toBe(5_000)
  })

  const refusals = [
    {
      status: 404,
      body: { message: 'Unknown Webhook', code: 10015 },
      code: 'discord_gone',
      broken: true,
      retry: false,
    },
    {
      status: 401,
      body: { message: 'Invalid Webhook Token', code: 50027 },
      code: 'discord_unauthorized',
      broken: true,
      retry: false,
    },
    {
      status: 403,
      body: { message: 'Missing Access', code: 50001 },
      code: 'discord_unauthorized',
      broken: true,
      retry: false,
    },
    {
      status: 400,
      body: { message: 'Invalid Form Body', code: 50035 },
      code: 'discord_refused',
      broken: false,
      retry: false,
    },
    {
      status: 500,
      body: { message: '500: Internal Server Error', code: 0 },
      code: 'discord_unavailable',
      broken: false,
      retry: true,
    },
    { status: 502, body: undefined, code: 'discord_unavailable', broken: false, retry: true },
  ]
  for (const c of refusals) {
    it(`maps ${c.status} ${c.body?.message ?? '(empty)'} to ${c.code}`, async () => {
      const discord = await startDiscord((response) =>
        response
          .writeHead(c.status, { 'Content-Type': 'application/json' })
          .end(c.body ? JSON.stringify(c.body) : ''),
      )
      const error = await failureOf(send(discord, messageOf()))
      expect(error.code).toBe(c.code)
      expect(error.retryable).toBe(c.retry)
      expect(error.channelBroken).toBe(c.broken)
      expect(error.message).toContain(String(c.status))
      if (c.body) expect(error.message).toContain(c.body.message)
      // The webhook URL carries its token: never in a message.
      expect(error.message).not.toContain('secretTokenXYZ')
    })
  }

  it("accepts Discord's own URLs and a host the operator opened, and refuses any other", async () => {
    const discord = await startDiscord()
    await expect(discordAdapter.check!({ webhookUrl: discord.url }, discord.egress)).resolves.toBe(undefined)
    for (const webhookUrl of [
      'https://discord.com/api/webhooks/1/abc',
      'https://discordapp.com/api/webhooks/1/abc',
      'https://canary.discord.com/api/v10/webhooks/1/abc',
    ])
      await expect(discordAdapter.check!({ webhookUrl }, discord.egress), webhookUrl).resolves.toBe(undefined)
    for (const webhookUrl of [
      'https://93.184.215.14/api/webhooks/1/abc',
      'http://discord.com/api/webhooks/1/abc',
      'https://discord.com/channels/1/2',
    ]) {
      const error = await discordAdapter.check!({ webhookUrl }, discord.egress).then(
        () => undefined,
        (thrown: unknown) => thrown,
      )
      expect(error, webhookUrl).toBeInstanceOf(AppError)
      expect((error as AppError).code).toBe('discord_url_invalid')
      expect((error as AppError).status).toBe(400)
    }
    const refused = await failureOf(
      discordAdapter.send(messageOf(), {
        config: { webhookUrl: 'http://169.254.169.254/api/webhooks/1/abc' },
        signal: new AbortController().signal,
        egress: discord.egress,
      }),
    )
    expect(refused.code).toBe('discord_url_invalid')
    expect(refused.channelBroken).toBe(true)
    expect(discord.received).toHaveLength(0)
  })

  it('keeps a thread_id of the URL and keeps the webhook URL in the vault', async () => {
    const discord = await startDiscord()
    await discordAdapter.send(messageOf(), {
      config: { webhookUrl: `${discord.url}?thread_id=55` },
      signal: new AbortController().signal,
      egress: discord.egress,
    })
    expect(discord.received[0]!.url).toBe(`${hookPath}?thread_id=55&wait=true`)
    expect(discordAdapter.secretFields).toEqual(['webhookUrl'])
  })
})
