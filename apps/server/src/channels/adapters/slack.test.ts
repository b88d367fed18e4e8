import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createEgressPolicy, type EgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import { escapeMrkdwn, type SlackPayload, slackAdapter, slackLimits, slackPayload } from './slack.ts'

// The Slack adapter against a local receiver speaking the incoming-webhook wire format ("ok", or a
// status with an error code as the body), opened by the egress policy for exactly its port.

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
const hookPath = '/services/T0001/B0002/secretToken123'

async function startSlack(
  answer: (response: ServerResponse) => void = (r) => r.end('ok'),
): Promise<Receiver> {
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
    text: 'Found **3 new** offers\n\nSecond paragraph',
    format: 'full',
    facts: ['14:02', '12 s', '1,234 tokens', '$0.0021'],
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
  slackAdapter.send(message, {
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

const header = {
  type: 'header',
  text: { type: 'plain_text', text: '✅ Sneaker scout — 3 new offers', emoji: true },
}
const facts = {
  type: 'context',
  elements: [{ type: 'mrkdwn', text: '14:02 · 12 s · 1,234 tokens · $0.0021' }],
}
const footer = {
  type: 'context',
  elements: [{ type: 'mrkdwn', text: 'Next run: Fri 15:00 (Europe/Berlin)' }],
}
const button = {
  type: 'actions',
  elements: [
    {
      type: 'button',
      text: { type: 'plain_text', text: 'Open in openOrchestrator' },
      url: 'https://orch.example/runs/r1',
    },
  ],
}

const sectionTexts = (payload: SlackPayload) =>
  payload.blocks.flatMap((block) => (block.type === 'section' ? [block.text.text] : []))

describe('slack adapter', () => {
  it('posts a short message as header, the first line, facts, footer and a button', async () => {
    const slack = await startSlack()
    await send(slack, messageOf({ format: 'short' }))
    expect(slack.received).toHaveLength(1)
    expect(slack.received[0]!.url).toBe(hookPath)
    expect(slack.received[0]!.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(JSON.parse(slack.received[0]!.body)).toEqual({
      text: '✅ Sneaker scout — 3 new offers',
      blocks: [
        header,
        { type: 'section', text: { type: 'mrkdwn', text: 'Found *3 new* offers' } },
        facts,
        footer,
        button,
      ],
    })
  })

  it('posts a full message with the Markdown as mrkdwn', async () => {
    const slack = await startSlack()
    const text = [
      '## Offers',
      '',
      'Found **3 new** offers for _Air Max_ and *friends*, ~~old~~ gone: [the shop](https://shop.example/a?x=1&y=2|3).',
      '',
      '- `size 44` at **89 €**',
      '- second',
      '  - nested',
      '',
      '> quoted',
      '',
      '```',
      'if (a < b && c > d) {}',
      '```',
      'snake_case_name stays, [a script](javascript:alert(1)) is text',
    ].join('\n')
    await send(slack, messageOf({ text, facts: [], footer: null, link: null }))
    expect(JSON.parse(slack.received[0]!.body)).toEqual({
      text: '✅ Sneaker scout — 3 new offers',
      blocks: [
        header,
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: [
              '*Offers*',
              '',
              'Found *3 new* offers for _Air Max_ and _friends_, ~old~ gone: <https://shop.example/a?x=1&amp;y=2%7C3|the shop>.',
              '',
              '• `size 44` at *89 €*',
              '• second',
              '    • nested',
              '',
              '>quoted',
              '',
              '```',
              'if (a &lt; b &amp;&amp; c &gt; d) {}',
              '```',
              '',
              'snake_case_name stays, a script is text',
            ].join('\n'),
          },
        },
      ],
    })
  })

  it('escapes &, < and > everywhere, so <!channel> and <@U123> stay text', () => {
    const payload = slackPayload(
      messageOf({
        title: 'Alert <!channel>',
        text: 'Tom & Jerry <!here> <@U123> <https://evil.example|click> a > b',
        facts: ['<!channel>'],
        footer: 'x < y',
      }),
    )
    expect(payload.text).toBe('Alert &lt;!channel&gt;')
    // A header is plain text: Slack shows it as it is, nothing to escape.
    expect(payload.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'Alert <!channel>', emoji: true },
    })
    expect(sectionTexts(payload)).toEqual([
      // Slack's own <url|text> in a bot's output is a Markdown autolink: shown as the URL it goes to.
      'Tom &amp; Jerry &lt;!here&gt; &lt;@U123&gt; <https://evil.example%7Cclick|https://evil.example|click> a &gt; b',
    ])
    expect(payload.blocks[2]).toEqual({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: '&lt;!channel&gt;' }],
    })
    expect(payload.blocks[3]).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: 'x &lt; y' }] })
    expect(escapeMrkdwn('<a & b>')).toBe('&lt;a &amp; b&gt;')
  })

  it('splits a 10,000-character text into sections of at most 3,000 characters and loses nothing', () => {
    // 100 paragraphs of 98 characters and their breaks: 9,998 characters, and two more.
    const paragraphs = Array.from({ length: 100 }, (_, i) => `${`Paragraph ${i}: `.padEnd(97, 'ab ')}.`)
    const text = `${paragraphs.join('\n\n')}..`
    expect(text.length).toBe(10_000)
    const payload = slackPayload(messageOf({ text }))
    const sections = sectionTexts(payload)
    expect(sections.length).toBe(4)
    for (const section of sections) expect(section.length).toBeLessThanOrEqual(slackLimits.sectionText)
    expect(sections.join('\n\n')).toBe(text)
    expect(payload.blocks.length).toBeLessThanOrEqual(slackLimits.blocks)
  })

  it('splits one long line and a long code block too, each piece fenced again', () => {
    const line = 'x'.repeat(10_000)
    expect(sectionTexts(slackPayload(messageOf({ text: line }))).map((s) => s.length)).toEqual([
      3000, 3000, 3000, 1000,
    ])
    const code = Array.from({ length: 500 }, (_, i) => `line ${String(i).padStart(3, '0')} <tag>`).join('\n')
    const sections = sectionTexts(slackPayload(messageOf({ text: `\`\`\`\n${code}\n\`\`\`` })))
    expect(sections.length).toBeGreaterThan(3)
    for (const section of sections) {
      expect(section.length).toBeLessThanOrEqual(3000)
      expect(section).toMatch(/^```\n[\s\S]*\n```$/)
    }
    expect(sections.map((section) => section.slice(4, -4)).join('\n')).toBe(escapeMrkdwn(code))
  })

  it('keeps to 50 blocks, cutting the text with "…"', () => {
    const text = Array.from({ length: 1_000 }, (_, i) => `Paragraph ${i}: ${'word '.repeat(40)}`).join('\n\n')
    const payload = slackPayload(messageOf({ text }))
    expect(payload.blocks).toHaveLength(50)
    const sections = sectionTexts(payload)
    expect(sections).toHaveLength(46)
    expect(sections.at(-1)!.endsWith('…')).toBe(true)
    expect(sections.at(-1)!.length).toBeLessThanOrEqual(3000)
    expect(payload.blocks.at(-1)).toEqual(button)
  })

  it('cuts a long title to the header limit and leaves out a link that is not absolute', () => {
    const payload = slackPayload(
      messageOf({ title: 'T'.repeat(300), link: '/runs/r1', facts: [], footer: null }),
    )
    const first = payload.blocks[0] as { text: { text: string } }
    expect(first.text.text).toHaveLength(150)
    expect(first.text.text.endsWith('…')).toBe(true)
    expect(payload.blocks.map((block) => block.type)).toEqual(['header', 'section'])
  })

  it('retries a 429 after its Retry-After', async () => {
    const slack = await startSlack((response) =>
      response.writeHead(429, { 'Retry-After': '12', 'Content-Type': 'text/plain' }).end('rate_limited'),
    )
    const error = await failureOf(send(slack, messageOf()))
    expect(error.code).toBe('slack_rate_limited')
    expect(error.retryable).toBe(true)
    expect(error.retryAfterMs).toBe(12_000)
    expect(error.channelBroken).toBe(false)
  })

  const refusals = [
    { status: 404, body: 'no_service', code: 'slack_gone', retryable: false, channelBroken: true },
    { status: 410, body: 'channel_is_archived', code: 'slack_gone', retryable: false, channelBroken: true },
    { status: 400, body: 'no_service', code: 'slack_gone', retryable: false, channelBroken: true },
    { status: 403, body: 'invalid_token', code: 'slack_unauthorized', retryable: false, channelBroken: true },
    { status: 400, body: 'invalid_token', code: 'slack_unauthorized', retryable: false, channelBroken: true },
    {
      status: 403,
      body: 'action_prohibited',
      code: 'slack_unauthorized',
      retryable: false,
      channelBroken: true,
    },
    { status: 400, body: 'invalid_payload', code: 'slack_refused', retryable: false, channelBroken: false },
    { status: 500, body: 'rollup_error', code: 'slack_unavailable', retryable: true, channelBroken: false },
    { status: 503, body: '', code: 'slack_unavailable', retryable: true, channelBroken: false },
  ]
  for (const c of refusals) {
    it(`maps ${c.status} ${c.body || '(empty)'} to ${c.code}`, async () => {
      const slack = await startSlack((response) => response.writeHead(c.status).end(c.body))
      const error = await failureOf(send(slack, messageOf()))
      expect(error.code).toBe(c.code)
      expect(error.retryable).toBe(c.retryable)
      expect(error.channelBroken).toBe(c.channelBroken)
      expect(error.message).toContain(String(c.status))
      if (c.body) expect(error.message).toContain(c.body)
      // The webhook URL is the credential: never in a message.
      expect(error.message).not.toContain('secretToken123')
    })
  }

  it("does not follow a redirect and does not name the webhook's path", async () => {
    const slack = await startSlack((response) => response.writeHead(302, { Location: '/elsewhere' }).end())
    const error = await failureOf(send(slack, messageOf()))
    expect(error.code).toBe('slack_redirect')
    expect(error.channelBroken).toBe(true)
    expect(error.message).not.toContain('secretToken123')
    expect(slack.received).toHaveLength(1)
  })

  it("accepts Slack's own URL and a host the operator opened, and refuses any other", async () => {
    const slack = await startSlack()
    await expect(slackAdapter.check!({ webhookUrl: slack.url }, slack.egress)).resolves.toBe(undefined)
    await expect(
      slackAdapter.check!({ webhookUrl: 'https://hooks.slack.com/services/T/B/x' }, slack.egress),
    ).resolves.toBe(undefined)
    for (const webhookUrl of [
      'https://93.184.215.14/services/T/B/x',
      'http://hooks.slack.com/services/T/B/x',
      'https://hooks.slack.com:8443/services/T/B/x',
    ]) {
      const error = await slackAdapter.check!({ webhookUrl }, slack.egress).then(
        () => undefined,
        (thrown: unknown) => thrown,
      )
      expect(error, webhookUrl).toBeInstanceOf(AppError)
      expect((error as AppError).code).toBe('slack_url_invalid')
      expect((error as AppError).status).toBe(400)
    }
    const refused = await failureOf(
      slackAdapter.send(messageOf(), {
        config: { webhookUrl: 'http://169.254.169.254/services/T/B/x' },
        signal: new AbortController().signal,
        egress: slack.egress,
      }),
    )
    expect(refused.code).toBe('slack_url_invalid')
    expect(refused.channelBroken).toBe(true)
    expect(slack.received).toHaveLength(0)
  })

  it('keeps the webhook URL in the vault', () => {
    expect(slackAdapter.secretFields).toEqual(['webhookUrl'])
    expect(slackAdapter.configSchema.safeParse({ webhookUrl: 'not a url' }).success).toBe(false)
  })
})
