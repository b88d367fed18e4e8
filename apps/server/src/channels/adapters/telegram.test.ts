import net from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseTelegramHtml, startTelegramServer, type TelegramServer } from '../../../test/telegram-server.ts'
import { createEgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import {
  discoverChats,
  markdownToTelegramHtml,
  splitTelegramHtml,
  type TelegramConfig,
  telegramAdapter,
  telegramConfigSchema,
} from './telegram.ts'

const egress = createEgressPolicy(parseEgressAllow('127.0.0.1'))
const closedEgress = createEgressPolicy([])

let api: TelegramServer
beforeAll(async () => {
  api = await startTelegramServer()
})
afterAll(async () => {
  await api.close()
})
beforeEach(() => {
  api.requests.length = 0
  api.sent.length = 0
  api.blockedChats.clear()
  api.knownChats = undefined
  api.webhook = undefined
})

function message(overrides: Partial<ChannelMessage> = {}): ChannelMessage {
  return {
    eventId: 'evt_01',
    event: 'run.completed',
    title: '✅ Sneaker scout — 3 new offers',
    text: 'Found **3** offers.',
    format: 'full',
    facts: ['14:02', '12 s', '1,234 tokens'],
    link: 'https://orch.example/runs/r1',
    footer: 'Next run: Fri 15:00 (Europe/Berlin)',
    severity: 'success',
    data: {
      eventId: 'evt_01',
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

const config = (overrides: Partial<TelegramConfig> = {}): TelegramConfig =>
  telegramConfigSchema.parse({ botToken: api.token, chatId: 4242, apiBaseUrl: api.url, ...overrides })

async function send(text: string, overrides: Partial<TelegramConfig> = {}) {
  await telegramAdapter.send(message({ text }), {
    config: config(overrides),
    signal: new AbortController().signal,
    egress,
  })
}

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(ChannelError)
  return error as ChannelError
}

describe('telegram formatting', () => {
  it('escapes HTML in the text and renders bold, italic, links and code in the HTML subset', async () => {
    await send(
      'Use <b>not bold</b> & **bold** *it* [site](https://x.example/?a=1&b=2) `a<b>` ok\n\n```js\nif (a < b && c > d) {}\n```',
    )
    expect(api.sent).toHaveLength(1)
    const html = api.sent[0]!.text
    expect(api.sent[0]!.parseMode).toBe('HTML')
    expect(html).toContain('Use &lt;b&gt;not bold&lt;/b&gt; &amp; <b>bold</b> <i>it</i>')
    expect(html).toContain('<a href="https://x.example/?a=1&amp;b=2">site</a>')
    expect(html).toContain('<code>a&lt;b&gt;</code>')
    expect(html).toContain('<pre><code class="language-js">if (a &lt; b &amp;&amp; c &gt; d) {}</code></pre>')
    expect(html.startsWith('<b>✅ Sneaker scout — 3 new offers</b>\n\n')).toBe(true)
    expect(html).toContain('<i>14:02 · 12 s · 1,234 tokens</i>')
    expect(html).toContain('<a href="https://orch.example/runs/r1">Open in openOrchestrator</a>')
    expect(html.endsWith('<i>Next run: Fri 15:00 (Europe/Berlin)</i>')).toBe(true)
  })

  it('keeps a javascript: link as its words and escapes a title with markup', () => {
    expect(markdownToTelegramHtml('[click](javascript:void) <script>')).toBe('click &lt;script&gt;')
    const html = markdownToTelegramHtml('# Head <i>\n- one\n- two\n> quoted')
    expect(html).toBe('<b>Head &lt;i&gt;</b>\n\n• one\n• two\n\n┃ <i>quoted</i>')
    expect(parseTelegramHtml(html)).not.toHaveProperty('error')
  })

  it('sends a 10,000-character text as valid parts of at most 4,096 characters, in order', async () => {
    const paragraphs: string[] = []
    for (let i = 0; paragraphs.join('\n\n').length < 10_000; i++)
      paragraphs.push(`**Offer ${i}** <${i}> & [link](https://x.example/${i}) ${'lorem ipsum '.repeat(8)}`)
    const text = paragraphs.join('\n\n')
    await send(text)
    expect(api.sent.length).toBeGreaterThanOrEqual(3)
    for (const part of api.sent) {
      expect(part.text.length).toBeLessThanOrEqual(4096)
      expect(parseTelegramHtml(part.text)).not.toHaveProperty('error')
    }
    // Every offer arrives, once, in order.
    const shown = api.sent.map((part) => (parseTelegramHtml(part.text) as { text: string }).text).join('\n')
    const offers = [...shown.matchAll(/Offer (\d+) <\1> &/g)].map((match) => Number(match[1]))
    expect(offers).toEqual(paragraphs.map((_, i) => i))
  })

  it('waits out a short 429 on a later part instead of failing (a retry would repeat the first part)', async () => {
    api.failNext('sendMessage', 'rate_limited', { skip: 1, retryAfter: 1 })
    await send(`${'first part '.repeat(300)}\n\n${'second part '.repeat(300)}`)
    expect(api.sent).toHaveLength(2)
    expect(api.sent[0]!.text).toContain('first part')
    expect(api.sent[1]!.text).toContain('second part')
    expect(api.requests.filter((request) => request.method === 'sendMessage')).toHaveLength(3)
  })

  it('cuts a long code block or bold run into parts that each close and reopen their tags', () => {
    const code = `\`\`\`\n${'x < y && z\n'.repeat(1_000)}\`\`\``
    const bold = `**${'word & '.repeat(1_500)}**`
    for (const markdown of [code, bold, 'a'.repeat(9_000), '😀'.repeat(5_000)]) {
      const parts = splitTelegramHtml(markdownToTelegramHtml(markdown), 4096)
      expect(parts.length).toBeGreaterThan(1)
      for (const part of parts) {
        expect(part.length).toBeLessThanOrEqual(4096)
        expect(parseTelegramHtml(part)).not.toHaveProperty('error')
        expect(part).not.toMatch(/[\ud800-\udbff]$/)
      }
    }
    const parts = splitTelegramHtml(markdownToTelegramHtml(code), 4096)
    expect(parts.every((part) => part.startsWith('<pre><code>') && part.endsWith('</code></pre>'))).toBe(true)
  })
})

describe('telegram errors', () => {
  it('retries a 429 after the retry_after Telegram asks for', async () => {
    api.failNext('sendMessage', 'rate_limited', { retryAfter: 7 })
    const error = await failure(send('hi'))
    expect(error).toMatchObject({
      code: 'telegram_rate_limited',
      retryable: true,
      retryAfterMs: 7_000,
      channelBroken: false,
    })
  })

  it('retries a 500 and an unreachable API as telegram_unavailable', async () => {
    api.failNext('sendMessage', 'server_error')
    expect(await failure(send('hi'))).toMatchObject({ code: 'telegram_unavailable', retryable: true })
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const error = await failure(send('hi', { apiBaseUrl: `http://127.0.0.1:${port}` }))
    expect(error).toMatchObject({ code: 'telegram_unavailable', retryable: true, channelBroken: false })
    expect(error.message).toContain('connection refused')
  })

  it('breaks the channel on a bad token, a blocked bot and a chat that does not exist', async () => {
    const unauthorized = await failure(
      send('hi', { botToken: '123456789:AAHsomeOtherTokenThatIsWrong_987654' }),
    )
    expect(unauthorized).toMatchObject({
      code: 'telegram_unauthorized',
      retryable: false,
      channelBroken: true,
    })
    api.blockedChats.add('4242')
    const blocked = await failure(send('hi'))
    expect(blocked).toMatchObject({ code: 'telegram_blocked', retryable: false, channelBroken: true })
    api.blockedChats.clear()
    api.knownChats = new Set(['1'])
    const lost = await failure(send('hi'))
    expect(lost).toMatchObject({ code: 'telegram_chat_not_found', retryable: false, channelBroken: true })
    api.knownChats = undefined
    api.failNext('sendMessage', 'unauthorized')
    expect(await failure(send('hi'))).toMatchObject({ code: 'telegram_unauthorized', channelBroken: true })
  })

  it('never puts the token in an error message', async () => {
    const token = api.token
    const secret = token.split(':')[1]!
    const errors: ChannelError[] = []
    for (const scripted of [
      'rate_limited',
      'blocked',
      'chat_not_found',
      'unauthorized',
      'server_error',
    ] as const) {
      api.failNext('sendMessage', scripted)
      errors.push(await failure(send('hi')))
    }
    errors.push(await failure(send('hi', { apiBaseUrl: 'http://127.0.0.1:1' })))
    errors.push(
      await failure(
        telegramAdapter.send(message(), {
          config: config(),
          signal: new AbortController().signal,
          egress: closedEgress,
        }),
      ),
    )
    expect(errors.at(-1)).toMatchObject({ code: 'egress_refused', retryable: false })
    for (const error of errors) {
      expect(error.message).not.toContain(secret)
      expect(String(error.stack)).not.toContain(secret)
      expect(JSON.stringify(error)).not.toContain(secret)
    }
  })

  it('refuses a self-hosted API on a private address unless the egress rules open it', async () => {
    await expect(telegramAdapter.check!(config(), closedEgress)).rejects.toMatchObject({
      code: 'egress_refused',
    })
    await expect(telegramAdapter.check!(config(), egress)).resolves.toBeUndefined()
  })

  it('throws the signal’s reason when the run is cancelled', async () => {
    const controller = new AbortController()
    controller.abort(new Error('lease lost'))
    await expect(
      telegramAdapter.send(message(), { config: config(), signal: controller.signal, egress }),
    ).rejects.toThrow('lease lost')
  })
})

describe('discoverChats', () => {
  it('lists the distinct chats that wrote to the bot, newest first, without confirming updates', async () => {
    api.pushMessage({ id: 11, first_name: 'Ada', username: 'ada' }, '/start')
    api.pushMessage({ id: -100200, type: 'supergroup', title: 'Scouts' }, 'hello bot')
    api.pushMessage({ id: 11, first_name: 'Ada', username: 'ada' }, 'again')
    const chats = await discoverChats(api.token, { apiBaseUrl: api.url, egress })
    expect(chats).toEqual([
      { chatId: 11, title: 'Ada', type: 'private', username: 'ada' },
      { chatId: -100200, title: 'Scouts', type: 'supergroup' },
    ])
    const call = api.requests.find((request) => request.method === 'getUpdates')!
    expect(call.params).not.toHaveProperty('offset')
    expect(call.params.limit).toBeLessThanOrEqual(20)
    // A poller still gets every update.
    const again = await fetch(`${api.url}/bot${api.token}/getUpdates`).then((response) => response.json())
    expect((again as { result: unknown[] }).result).toHaveLength(3)
  })

  it('says so when a webhook is set, and maps a bad token', async () => {
    api.webhook = { url: 'https://orch.example/hook', secretToken: undefined }
    await expect(discoverChats(api.token, { apiBaseUrl: api.url, egress })).rejects.toMatchObject({
      code: 'telegram_webhook_set',
    })
    api.webhook = undefined
    const error = await failure(
      discoverChats('1:AAHwrongwrongwrongwrongwrong', { apiBaseUrl: api.url, egress }),
    )
    expect(error.code).toBe('telegram_unauthorized')
    expect(error.message).not.toContain('AAHwrongwrongwrongwrongwrong')
  })
})
