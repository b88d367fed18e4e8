import http from 'node:http'
import type { AddressInfo } from 'node:net'

// A local Telegram Bot API for tests (https://core.telegram.org/bots/api), on port 0, speaking the
// wire format: `POST /bot<token>/<method>` with JSON, form or query parameters, answers
// `{ ok: true, result }` or `{ ok: false, error_code, description, parameters? }`.
// Methods: sendMessage, getUpdates (offset confirms, limit, long-poll timeout, 409 while a webhook is
// set), setWebhook, deleteWebhook, getWebhookInfo, answerCallbackQuery, editMessageText, getMe. Every request is
// recorded. Failures are scripted per method (429 with parameters.retry_after, 403 blocked, 400 chat
// not found, 401 bad token, 500), a wrong token is 401 and a blocked chat 403 like the real API.
// sendMessage checks what Telegram checks: a non-empty text of at most 4,096 characters (counted as
// sent, which is stricter than Telegram's count after parsing) and, with parse_mode HTML, well-formed
// HTML of Telegram's subset, refused as the real API does: 400 "Bad Request: can't parse entities: …".

export type TelegramFailure = 'rate_limited' | 'blocked' | 'chat_not_found' | 'unauthorized' | 'server_error'

export interface RecordedTelegramRequest {
  method: string
  /** The token in the path, as sent (tests check it never leaks elsewhere). */
  token: string
  params: Record<string, unknown>
  httpMethod: string
}

export interface SentTelegramMessage {
  chatId: number | string
  /** `text` as sent (the HTML). */
  text: string
  parseMode: string | undefined
  messageId: number
  /** Inline buttons, as sent (`reply_markup`). */
  replyMarkup?: unknown
}

export interface TelegramServer {
  /** The API base URL, e.g. http://127.0.0.1:40123 (pass it as `apiBaseUrl`). */
  url: string
  /** The token the server accepts; any other is 401. */
  token: string
  requests: RecordedTelegramRequest[]
  sent: SentTelegramMessage[]
  /** Chats that blocked the bot: sendMessage answers 403. */
  blockedChats: Set<string>
  /** When set, only these chats exist; any other is 400 "chat not found". */
  knownChats: Set<string> | undefined
  webhook: { url: string; secretToken: string | undefined } | undefined
  /** editMessageText calls accepted, in order. */
  edited: Array<{ chatId: number | string; messageId: number; text: string }>
  /** answerCallbackQuery calls accepted, in order. */
  answered: Array<{ callbackQueryId: string; text: string | undefined; showAlert: boolean }>
  /**
   * The next `count` calls of `method` fail this way (`retryAfter` seconds for rate_limited), after
   * `skip` calls that are answered normally.
   */
  failNext(
    method: string,
    failure: TelegramFailure,
    options?: { count?: number; retryAfter?: number; skip?: number },
  ): void
  /** Queues an update (its update_id is set when absent) and wakes a waiting long poll. */
  pushUpdate(update: Record<string, unknown>): Record<string, unknown>
  /** An update carrying a private text message from `from`. */
  pushMessage(
    chat: { id: number; type?: string; title?: string; username?: string; first_name?: string },
    text: string,
  ): Record<string, unknown>
  /** An update carrying a button press by `from` on a message the bot sent (`sent` entry). */
  pushCallback(
    from: { id: number; first_name?: string },
    message: SentTelegramMessage,
    data: string,
  ): Record<string, unknown>
  close(): Promise<void>
}

interface Reply {
  status: number
  body: Record<string, unknown>
}

const ok = (result: unknown): Reply => ({ status: 200, body: { ok: true, result } })
const refuse = (status: number, description: string, parameters?: Record<string, unknown>): Reply => ({
  status,
  body: { ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) },
})

function scriptedFailure(failure: TelegramFailure, retryAfter: number): Reply {
  switch (failure) {
    case 'rate_limited':
      return refuse(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter })
    case 'blocked':
      return refuse(403, 'Forbidden: bot was blocked by the user')
    case 'chat_not_found':
      return refuse(400, 'Bad Request: chat not found')
    case 'unauthorized':
      return refuse(401, 'Unauthorized')
    case 'server_error':
      return refuse(500, 'Internal Server Error')
  }
}

// Telegram's HTML subset (https://core.telegram.org/bots/api#html-style).
const allowedTags = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'tg-emoji',
  'code',
  'pre',
  'blockquote',
])
const namedEntities: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' }

/**
 * The text Telegram would show for `html`, or the reason it refuses it ("Can't find end tag
 * corresponding to start tag "b""), as the real parser words it.
 */
export function parseTelegramHtml(html: string): { text: string } | { error: string } {
  const stack: string[] = []
  let text = ''
  let index = 0
  const byteOffset = (at: number) => Buffer.byteLength(html.slice(0, at))
  while (index < html.length) {
    const char = html[index]!
    if (char === '<') {
      const end = html.indexOf('>', index)
      if (end === -1) return { error: `Unsupported start tag at byte offset ${byteOffset(index)}` }
      const tag = html.slice(index + 1, end)
      const closing = /^\/([a-z-]+)\s*$/i.exec(tag)
      if (closing) {
        const name = closing[1]!.toLowerCase()
        const expected = stack.pop()
        if (expected !== name)
          return {
            error: `Unmatched end tag at byte offset ${byteOffset(index)}, expected "</${expected ?? ''}>", found "</${name}>"`,
          }
      } else {
        const opening = /^([a-z-]+)((?:\s+[a-z-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))*)\s*$/i.exec(tag)
        const name = opening?.[1]?.toLowerCase()
        if (!opening || !name || !allowedTags.has(name))
          return {
            error: `Unsupported start tag "${tag.split(/\s/)[0]}" at byte offset ${byteOffset(index)}`,
          }
        if (name === 'a' && !/\bhref\s*=/i.test(opening[2] ?? ''))
          return { error: `Can't find URL of a link at byte offset ${byteOffset(index)}` }
        if (name === 'code' && stack.includes('code'))
          return { error: `Unsupported nested code tag at byte offset ${byteOffset(index)}` }
        stack.push(name)
      }
      index = end + 1
      continue
    }
    if (char === '&') {
      const entity = /^&(#x[0-9a-f]+|#\d+|[a-z]+);/i.exec(html.slice(index, index + 12))
      if (!entity)
        return { error: `Can't find end of the entity starting at byte offset ${byteOffset(index)}` }
      const name = entity[1]!
      if (name.startsWith('#'))
        text += String.fromCodePoint(
          name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1)),
        )
      else if (namedEntities[name.toLowerCase()] !== undefined) text += namedEntities[name.toLowerCase()]
      else return { error: `Unsupported entity "${name}" at byte offset ${byteOffset(index)}` }
      index += entity[0].length
      continue
    }
    // Telegram tolerates a bare ">", but a renderer that leaves one unescaped leaves "<" too: stricter here.
    if (char === '>') return { error: `Unescaped ">" at byte offset ${byteOffset(index)}` }
    text += char
    index++
  }
  if (stack.length > 0) return { error: `Can't find end tag corresponding to start tag "${stack.at(-1)}"` }
  return { text }
}

async function readParams(request: http.IncomingMessage, url: URL): Promise<Record<string, unknown>> {
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams)
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks).toString('utf8')
  if (!body) return params
  const type = request.headers['content-type'] ?? ''
  if (type.includes('application/json'))
    return { ...params, ...(JSON.parse(body) as Record<string, unknown>) }
  if (type.includes('application/x-www-form-urlencoded'))
    for (const [key, value] of new URLSearchParams(body)) {
      try {
        params[key] = /^[[{]/.test(value) ? JSON.parse(value) : value
      } catch {
        params[key] = value
      }
    }
  return params
}

export async function startTelegramServer(
  options: { token?: string; botUsername?: string } = {},
): Promise<TelegramServer> {
  const token = options.token ?? '123456789:AAHtestTokenForTheLocalBotApi_0123456'
  const botId = Number(token.split(':')[0])
  const requests: RecordedTelegramRequest[] = []
  const sent: SentTelegramMessage[] = []
  const failures = new Map<string, Array<{ failure: TelegramFailure; retryAfter: number } | undefined>>()
  let updates: Array<Record<string, unknown>> = []
  let nextUpdateId = 100_000
  let nextMessageId = 1
  const waiting = new Set<() => void>()

  const state: TelegramServer = {
    url: '',
    token,
    requests,
    sent,
    blockedChats: new Set(),
    knownChats: undefined,
    webhook: undefined,
    edited: [],
    answered: [],
    failNext(method, failure, { count = 1, retryAfter = 1, skip = 0 } = {}) {
      const queue = failures.get(method) ?? []
      for (let i = 0; i < skip; i++) queue.push(undefined)
      for (let i = 0; i < count; i++) queue.push({ failure, retryAfter })
      failures.set(method, queue)
    },
    pushUpdate(update) {
      const full = { update_id: nextUpdateId++, ...update }
      updates.push(full)
      for (const wake of waiting) wake()
      return full
    },
    pushMessage(chat, text) {
      const from = {
        id: chat.id,
        is_bot: false,
        first_name: chat.first_name ?? 'Test',
        username: chat.username,
      }
      return state.pushUpdate({
        message: {
          message_id: nextMessageId++,
          from,
          chat: { type: 'private', ...chat },
          date: Math.floor(Date.now() / 1000),
          text,
        },
      })
    },
    pushCallback(from, message, data) {
      return state.pushUpdate({
        callback_query: {
          id: `cbq-${nextUpdateId}`,
          from: { id: from.id, is_bot: false, first_name: from.first_name ?? 'Test' },
          message: {
            message_id: message.messageId,
            chat: { id: Number(message.chatId), type: 'private' },
            date: Math.floor(Date.now() / 1000),
            text: ((parsed) => ('text' in parsed ? parsed.text : message.text))(
              parseTelegramHtml(message.text),
            ),
          },
          chat_instance: '1',
          data,
        },
      })
    },
    close: async () => {
      for (const wake of waiting) wake()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }

  async function handle(method: string, params: Record<string, unknown>): Promise<Reply> {
    const scripted = failures.get(method)?.shift()
    if (scripted) return scriptedFailure(scripted.failure, scripted.retryAfter)
    switch (method) {
      case 'getMe':
        return ok({
          id: botId,
          is_bot: true,
          first_name: 'Test bot',
          username: options.botUsername ?? 'openorch_test_bot',
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        })
      case 'sendMessage': {
        const chatId = params.chat_id
        if (chatId === undefined || chatId === '') return refuse(400, 'Bad Request: chat_id is empty')
        const key = String(chatId)
        if (state.knownChats && !state.knownChats.has(key)) return refuse(400, 'Bad Request: chat not found')
        if (state.blockedChats.has(key)) return refuse(403, 'Forbidden: bot was blocked by the user')
        const text = typeof params.text === 'string' ? params.text : ''
        if (text.trim() === '') return refuse(400, 'Bad Request: message text is empty')
        if (text.length > 4096) return refuse(400, 'Bad Request: message is too long')
        let shown = text
        if (typeof params.parse_mode === 'string' && params.parse_mode.toUpperCase() === 'HTML') {
          const parsed = parseTelegramHtml(text)
          if ('error' in parsed) return refuse(400, `Bad Request: can't parse entities: ${parsed.error}`)
          shown = parsed.text
          if (shown.trim() === '') return refuse(400, 'Bad Request: message text is empty')
        }
        const messageId = nextMessageId++
        sent.push({
          chatId: typeof chatId === 'number' ? chatId : key,
          text,
          parseMode: typeof params.parse_mode === 'string' ? params.parse_mode : undefined,
          messageId,
          ...(params.reply_markup === undefined ? {} : { replyMarkup: params.reply_markup }),
        })
        return ok({
          message_id: messageId,
          from: { id: botId, is_bot: true, first_name: 'Test bot' },
          chat: { id: Number.isNaN(Number(chatId)) ? -1001 : Number(chatId), type: 'private' },
          date: Math.floor(Date.now() / 1000),
          text: shown,
        })
      }
      case 'getUpdates': {
        if (state.webhook)
          return refuse(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
          )
        const offset = Number(params.offset ?? 0)
        // A positive offset confirms every update before it: they are not handed out again.
        if (offset > 0) updates = updates.filter((update) => Number(update.update_id) >= offset)
        const limit = Math.min(Math.max(Number(params.limit ?? 100), 1), 100)
        const timeout = Math.min(Number(params.timeout ?? 0), 50)
        const pending = () => updates.filter((update) => Number(update.update_id) >= offset).slice(0, limit)
        if (pending().length === 0 && timeout > 0)
          await new Promise<void>((resolve) => {
            const wake = () => {
              clearTimeout(timer)
              waiting.delete(wake)
              resolve()
            }
            const timer = setTimeout(wake, timeout * 1000)
            waiting.add(wake)
          })
        return ok(pending())
      }
      case 'setWebhook': {
        const url = typeof params.url === 'string' ? params.url : ''
        if (url === '') {
          state.webhook = undefined
          return ok(true)
        }
        if (!/^https?:\/\//.test(url))
          return refuse(400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook')
        const secretToken = typeof params.secret_token === 'string' ? params.secret_token : undefined
        if (secretToken !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secretToken))
          return refuse(400, 'Bad Request: secret token contains unallowed characters')
        state.webhook = { url, secretToken }
        return ok(true)
      }
      case 'deleteWebhook':
        state.webhook = undefined
        if (params.drop_pending_updates === true || params.drop_pending_updates === 'true') updates = []
        return ok(true)
      case 'getWebhookInfo':
        return ok({
          url: state.webhook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: updates.length,
        })
      case 'answerCallbackQuery':
        if (typeof params.callback_query_id !== 'string' || params.callback_query_id === '')
          return refuse(
            400,
            'Bad Request: query is too old and response timeout expired or query ID is invalid',
          )
        state.answered.push({
          callbackQueryId: params.callback_query_id,
          text: typeof params.text === 'string' ? params.text : undefined,
          showAlert: params.show_alert === true || params.show_alert === 'true',
        })
        return ok(true)
      case 'editMessageText': {
        const text = typeof params.text === 'string' ? params.text : ''
        const messageId = Number(params.message_id)
        if (!sent.some((message) => message.messageId === messageId))
          return refuse(400, 'Bad Request: message to edit not found')
        if (text.trim() === '') return refuse(400, 'Bad Request: message text is empty')
        if (typeof params.parse_mode === 'string' && params.parse_mode.toUpperCase() === 'HTML') {
          const parsed = parseTelegramHtml(text)
          if ('error' in parsed) return refuse(400, `Bad Request: can't parse entities: ${parsed.error}`)
        }
        state.edited.push({ chatId: params.chat_id as number | string, messageId, text })
        return ok(true)
      }
      default:
        return refuse(404, 'Not Found')
    }
  }

  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname)
    let reply: Reply
    try {
      if (!match) reply = refuse(404, 'Not Found')
      else {
        const params = await readParams(request, url)
        const [, sentToken, method] = match as unknown as [string, string, string]
        requests.push({
          method,
          token: decodeURIComponent(sentToken),
          params,
          httpMethod: request.method ?? 'GET',
        })
        reply =
          decodeURIComponent(sentToken) === token ? await handle(method, params) : refuse(401, 'Unauthorized')
      }
    } catch {
      reply = refuse(400, 'Bad Request: invalid request body')
    }
    const body = JSON.stringify(reply.body)
    response.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    })
    response.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return state
}
