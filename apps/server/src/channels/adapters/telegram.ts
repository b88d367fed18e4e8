import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import {
  type EgressPolicy,
  egressFetch,
  egressRefusal,
  type FetchFunction,
} from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import { AppError } from '../../platform/errors.ts'
import { maxRetryDelayMs } from '../../runs/retry.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage } from '../channel.types.ts'
import { type Block, type Inline, isSafeLinkUrl, parseMarkdown } from './markup.ts'
import { readCapped } from './webhook.ts'

// The Telegram channel: `sendMessage` in HTML parse mode through the egress guard. The Markdown is
// rendered into the HTML subset Telegram parses (b, i, s, a, code, pre) with everything else escaped,
// and cut into messages of at most 4,096 characters, each valid HTML on its own, sent in order.
// The bot token sits in the URL path (`/bot<token>/…`): no error message or log line ever carries a
// URL, and every text that leaves this file is scrubbed of the token.

export const telegramApiBaseUrl = 'https://api.telegram.org'
/** Telegram's limit for one message's text. */
export const telegramMessageLimit = 4_096
/** The pause between the parts of one long message (Telegram allows about one message a second per chat). */
const partIntervalMs = 1_000
/** A 429 on a later part up to this long is waited out in the send (a retry would repeat the earlier parts). */
const maxInPlaceWaitMs = 30_000

/** Waits `ms`, or throws the signal's reason when the run is cancelled meanwhile. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch (error) {
    if (signal.aborted) throw signal.reason
    throw error
  }
}

/** How long the Bot API has to answer one call; the kernel retries after that. */
const telegramTimeoutMs = 15_000

export const telegramConfigSchema = z.strictObject({
  botToken: z
    .string()
    .trim()
    .regex(/^\d{1,20}:[A-Za-z0-9_-]{20,100}$/, 'must be a bot token from @BotFather (123456:ABC…)')
    .describe("The bot's token from @BotFather; kept in the vault."),
  chatId: z
    .union([
      z.number().int(),
      z
        .string()
        .trim()
        .regex(/^(-?\d{1,20}|@[A-Za-z0-9_]{4,64})$/, 'must be a numeric chat id or an @channel username'),
    ])
    .describe('The chat the bot writes to: a numeric id ("find my chat" finds it) or an @channel username.'),
  apiBaseUrl: z
    .string()
    .trim()
    .max(2_000)
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .optional()
    .describe('A self-hosted Bot API server; default https://api.telegram.org.'),
})

export type TelegramConfig = z.infer<typeof telegramConfigSchema>

/**
 * A message with inline buttons under its last part (`reply_markup`). Only the inbound commands
 * (channels/telegram/) make one, for approval requests; every other message is a plain ChannelMessage.
 */
export interface TelegramChannelMessage extends ChannelMessage {
  replyMarkup?: { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> }
}

export const telegramAdapter: ChannelAdapter<TelegramConfig> = {
  type: 'telegram',
  configSchema: telegramConfigSchema,
  secretFields: ['botToken'],
  async check(config, egress) {
    if (config.apiBaseUrl) await checkApiBaseUrl(config.apiBaseUrl, egress)
  },
  async send(message, { config, signal, egress }) {
    const api = { baseUrl: config.apiBaseUrl ?? telegramApiBaseUrl, token: config.botToken, egress, signal }
    // In order, each after the one before was accepted. Telegram has no idempotency key, so a retry of
    // the delivery sends every part again: after the first part is out, parts are paced (about one
    // message a second per chat) and a short 429 is waited out here rather than handed to the kernel.
    const parts = splitTelegramHtml(renderTelegramMessage(message), telegramMessageLimit)
    const replyMarkup = (message as TelegramChannelMessage).replyMarkup
    for (const [index, text] of parts.entries()) {
      if (index > 0) await pause(partIntervalMs, signal)
      for (let waited = 0; ; waited++) {
        try {
          await callTelegram(api, 'sendMessage', {
            chat_id: config.chatId,
            text,
            parse_mode: 'HTML',
            link_preview_options: { is_disabled: true },
            ...(replyMarkup && index === parts.length - 1 ? { reply_markup: replyMarkup } : {}),
          })
          break
        } catch (error) {
          const retryAfterMs = error instanceof ChannelError ? error.retryAfterMs : undefined
          const isShortRateLimit =
            error instanceof ChannelError &&
            error.code === 'telegram_rate_limited' &&
            (retryAfterMs ?? 0) <= maxInPlaceWaitMs
          if (index === 0 || !isShortRateLimit || waited >= 3) throw error
          await pause(retryAfterMs ?? 1_000, signal)
        }
      }
    }
  },
}

// ---------------------------------------------------------------------------------------------------
// Rendering

/** `&`, `<`, `>` (and `"` for attributes) as Telegram's HTML parser wants them. */
export function escapeTelegramHtml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[char]!)
}

function renderInline(nodes: readonly Inline[]): string {
  return nodes.map(renderNode).join('')
}

function renderNode(node: Inline): string {
  switch (node.type) {
    case 'text':
      return escapeTelegramHtml(node.text)
    case 'code':
      return `<code>${escapeTelegramHtml(node.text)}</code>`
    case 'strong':
      return `<b>${renderInline(node.children)}</b>`
    case 'em':
      return `<i>${renderInline(node.children)}</i>`
    case 'strike':
      return `<s>${renderInline(node.children)}</s>`
    case 'link':
      // A link Telegram would refuse (javascript:, a relative path) stays its words.
      return isSafeLinkUrl(node.url)
        ? `<a href="${escapeTelegramHtml(node.url)}">${renderInline(node.children)}</a>`
        : renderInline(node.children)
  }
}

function renderBlock(block: Block): string {
  switch (block.type) {
    case 'paragraph':
      return block.lines.map(renderInline).join('\n')
    case 'heading':
      return `<b>${renderInline(block.content)}</b>`
    case 'quote':
      return block.lines.map((line) => `┃ <i>${renderInline(line)}</i>`).join('\n')
    case 'list_item': {
      const marker = /^\d/.test(block.marker) ? block.marker : '•'
      return `${'   '.repeat(block.depth)}${marker} ${renderInline(block.content)}`
    }
    case 'code': {
      const language = /^[\w+#.-]{1,30}$/.test(block.language)
        ? ` class="language-${escapeTelegramHtml(block.language)}"`
        : ''
      return `<pre><code${language}>${escapeTelegramHtml(block.text)}</code></pre>`
    }
    case 'rule':
      return '———'
  }
}

/** Markdown as Telegram HTML; list items and quote lines stay together, other blocks a blank line apart. */
export function markdownToTelegramHtml(markdown: string): string {
  let html = ''
  let previous: Block['type'] | undefined
  for (const block of parseMarkdown(markdown)) {
    if (previous !== undefined) html += previous === 'list_item' && block.type === 'list_item' ? '\n' : '\n\n'
    html += renderBlock(block)
    previous = block.type
  }
  return html
}

/** The whole message: the title in bold, the text, then the facts, the link and the footer. */
export function renderTelegramMessage(message: ChannelMessage): string {
  const parts = [`<b>${escapeTelegramHtml(message.title)}</b>`]
  const body = markdownToTelegramHtml(message.text)
  if (body.trim()) parts.push(body)
  const closing: string[] = []
  if (message.facts.length > 0) closing.push(`<i>${escapeTelegramHtml(message.facts.join(' · '))}</i>`)
  if (message.link && isSafeLinkUrl(message.link))
    closing.push(`<a href="${escapeTelegramHtml(message.link)}">Open in openOrchestrator</a>`)
  if (message.footer) closing.push(`<i>${escapeTelegramHtml(message.footer)}</i>`)
  if (closing.length > 0) parts.push(closing.join('\n'))
  return parts.join('\n\n')
}

// ---------------------------------------------------------------------------------------------------
// Splitting

interface OpenTag {
  name: string
  /** The opening tag as written, to open it again at the start of the next part. */
  open: string
}

// A tag, an entity, a surrogate pair or one character: the units a cut never falls inside.
const htmlUnit = /<[^>]*>|&[#\w]+;|[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g

const closingOf = (stack: readonly OpenTag[]) =>
  stack
    .toReversed()
    .map((tag) => `</${tag.name}>`)
    .join('')
const openingOf = (stack: readonly OpenTag[]) => stack.map((tag) => tag.open).join('')

/**
 * Telegram HTML in parts of at most `max` characters, cut at a paragraph break where one falls in the
 * second half of a part, else at a line break, else between two characters; never inside a tag, an
 * entity or a surrogate pair. Tags open at a cut are closed at the end of the part and opened again
 * at the start of the next, so each part is valid HTML on its own.
 */
export function splitTelegramHtml(html: string, max: number): string[] {
  const parts: string[] = []
  let current = ''
  let stack: OpenTag[] = []
  // Where the current part may be cut, with the tags open there.
  let paragraphBreak: { at: number; stack: OpenTag[] } | undefined
  let lineBreak: { at: number; stack: OpenTag[] } | undefined
  const push = (part: string) => {
    const cleaned = part.replace(/<(\w+)[^>]*><\/\1>/g, '').trim()
    if (cleaned.replace(/<[^>]*>/g, '').trim() !== '') parts.push(cleaned)
  }
  for (const unit of html.match(htmlUnit) ?? []) {
    const next = stackAfter(stack, unit)
    if (current.length + unit.length + closingOf(next).length > max) {
      const cut = [paragraphBreak, lineBreak].find((candidate) => candidate && candidate.at >= max / 2)
      if (cut) {
        push(current.slice(0, cut.at) + closingOf(cut.stack))
        current = openingOf(cut.stack) + current.slice(cut.at).replace(/^\n+/, '')
      } else {
        push(current + closingOf(stack))
        current = openingOf(stack)
      }
      paragraphBreak = undefined
      lineBreak = undefined
    }
    current += unit
    stack = next
    if (unit === '\n') {
      const at = current.length - 1
      if (current[at - 1] === '\n') paragraphBreak = { at: at - 1, stack: [...stack] }
      lineBreak = { at, stack: [...stack] }
    }
  }
  push(current + closingOf(stack))
  return parts
}

function stackAfter(stack: OpenTag[], unit: string): OpenTag[] {
  const tag = /^<(\/?)([a-z-]+)/i.exec(unit)
  if (!tag) return stack
  const name = tag[2]!.toLowerCase()
  if (tag[1]) {
    const at = stack.findLastIndex((open) => open.name === name)
    return at === -1 ? stack : stack.slice(0, at)
  }
  return [...stack, { name, open: unit }]
}

// ---------------------------------------------------------------------------------------------------
// Calling the Bot API

/** Where and how to call the Bot API (the inbound commands of channels/telegram/ call it too). */
export interface TelegramApi {
  baseUrl: string
  token: string
  egress: EgressPolicy
  signal: AbortSignal
}

interface TelegramAnswer {
  ok: boolean
  result?: unknown
  error_code?: number
  description?: string
  parameters?: { retry_after?: number; migrate_to_chat_id?: number }
}

// egressFetch keeps a connection pool per port: one per policy, not one per message.
const fetches = new WeakMap<EgressPolicy, FetchFunction>()
function fetchFor(egress: EgressPolicy): FetchFunction {
  let fetch = fetches.get(egress)
  if (!fetch) {
    fetch = egressFetch(egress)
    fetches.set(egress, fetch)
  }
  return fetch
}

/** `text` without the token (whole or URL-encoded): whatever reaches a person or a log line. */
export function scrubToken(text: string, token: string): string {
  if (!token) return text
  let scrubbed = text.split(token).join('<bot token>')
  const encoded = encodeURIComponent(token)
  if (encoded !== token) scrubbed = scrubbed.split(encoded).join('<bot token>')
  // The secret half alone identifies the bot too.
  const secret = token.split(':')[1]
  if (secret && secret.length >= 20) scrubbed = scrubbed.split(secret).join('<bot token>')
  return scrubbed
}

/**
 * Calls a Bot API method (POST with JSON) and returns its `result`, or throws a ChannelError whose
 * message never holds the token. When the run's signal aborts, its reason is thrown as it is.
 */
export async function callTelegram(
  api: TelegramApi,
  method: string,
  body: Record<string, unknown>,
): Promise<unknown> {
  const timeout = AbortSignal.timeout(telegramTimeoutMs)
  const signal = AbortSignal.any([api.signal, timeout])
  const where = api.baseUrl === telegramApiBaseUrl ? 'Telegram' : `The Bot API at ${originOf(api.baseUrl)}`
  let response: Response
  let answer: TelegramAnswer | undefined
  try {
    response = await fetchFor(api.egress)(`${api.baseUrl.replace(/\/+$/, '')}/bot${api.token}/${method}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'openOrchestrator' },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal,
    })
    // A Bot API answer is small; a server answering gigabytes gets read no further (attack F3).
    const text = await readCapped(response, 1024 * 1024)
    try {
      answer = JSON.parse(text) as TelegramAnswer
    } catch {
      answer = undefined
    }
  } catch (error) {
    if (api.signal.aborted) throw api.signal.reason
    const refused = egressRefusal(error)
    if (refused)
      throw new ChannelError(
        'egress_refused',
        scrubToken(`${where} is not called: ${refused.message}`, api.token),
        {
          retryable: false,
        },
      )
    const reason = timeout.aborted
      ? `did not answer within ${telegramTimeoutMs / 1000} s`
      : `could not be reached (${networkFailureReason(error).reason})`
    throw new ChannelError(
      'telegram_unavailable',
      scrubToken(`${where} ${reason}; the delivery is tried again.`, api.token),
      { retryable: true },
    )
  }
  if (response.ok && answer?.ok) return answer.result
  throw scrubError(telegramFailure(response.status, answer, where), api.token)
}

function scrubError(error: ChannelError, token: string): ChannelError {
  const scrubbed = scrubToken(error.message, token)
  if (scrubbed === error.message) return error
  return new ChannelError(error.code, scrubbed, {
    retryable: error.retryable,
    channelBroken: error.channelBroken,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  })
}

/** Telegram's refusal as a channel error: 429/5xx retried, a bad token, a blocked bot or a lost chat break the channel. */
export function telegramFailure(
  status: number,
  answer: TelegramAnswer | undefined,
  where = 'Telegram',
): ChannelError {
  const code = answer?.error_code ?? status
  const description = oneLine(answer?.description ?? '', 300)
  const said = description ? `: ${description}` : ''
  if (code === 429) {
    const seconds = answer?.parameters?.retry_after
    const retryAfterMs =
      typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0
        ? Math.min(Math.ceil(seconds * 1000), maxRetryDelayMs)
        : undefined
    return new ChannelError(
      'telegram_rate_limited',
      `${where} answered 429 (too many requests)${retryAfterMs === undefined ? '' : `, asking to wait ${Math.ceil(retryAfterMs / 1000)} s`}; the delivery is tried again.`,
      { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    )
  }
  if (code >= 500 || status >= 500 || (status >= 300 && status < 400) || !answer)
    return new ChannelError(
      'telegram_unavailable',
      `${where} answered ${status}${said || (answer ? '' : ' without a Bot API answer')}; the delivery is tried again.`,
      { retryable: true },
    )
  if (code === 401 || code === 404)
    return new ChannelError(
      'telegram_unauthorized',
      `${where} refused the bot token (${code}${said}). Check the token from @BotFather (it changes when revoked), then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (code === 403)
    return new ChannelError(
      'telegram_blocked',
      `${where} refused to deliver (403${said}): the bot was blocked by the user or removed from the chat. Start the bot again or add it back to the chat, then send a test.`,
      { retryable: false, channelBroken: true },
    )
  const migratedTo = answer.parameters?.migrate_to_chat_id
  if (migratedTo !== undefined)
    return new ChannelError(
      'telegram_chat_migrated',
      `${where} says the group became a supergroup with the chat id ${migratedTo}: change the channel's chat id to ${migratedTo}.`,
      { retryable: false, channelBroken: true },
    )
  if (/chat not found/i.test(description))
    return new ChannelError(
      'telegram_chat_not_found',
      `${where} does not know the chat (${code}${said}). Send the bot a message from the chat, use "find my chat", then send a test.`,
      { retryable: false, channelBroken: true },
    )
  // A message Telegram cannot parse is ours to fix, not the channel's: fail this delivery only.
  return new ChannelError('telegram_refused', `${where} refused the message (${code}${said}).`, {
    retryable: false,
    channelBroken: false,
  })
}

function oneLine(value: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const controls = /[\u0000-\u001f\u007f-\u009f]+/g
  const line = value.replace(controls, ' ').replace(/\s+/g, ' ').trim()
  return line.length > max ? `${line.slice(0, max)}…` : line
}

function originOf(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'the configured address'
  }
}

/**
 * Throws AppError 400 `egress_refused` when a self-hosted Bot API's host is one the installation does
 * not call (a private address without OPENORCH_EGRESS_ALLOW). A name that does not resolve passes:
 * every connection checks again.
 */
async function checkApiBaseUrl(apiBaseUrl: string, egress: EgressPolicy): Promise<void> {
  const url = new URL(apiBaseUrl)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  let addresses: string[] = []
  if (isIP(host)) addresses = [host]
  else
    try {
      addresses = (await lookup(host, { all: true })).map((entry) => entry.address)
    } catch {
      addresses = []
    }
  for (const address of addresses) {
    const refused = egress.refusal(host, address, port)
    if (refused) throw new AppError('egress_refused', refused.message, 400)
  }
}

// ---------------------------------------------------------------------------------------------------
// Finding the chat (the set-up wizard)

/** A chat that wrote to the bot (or added it), as the wizard lists it. */
export interface DiscoveredChat {
  chatId: number
  /** The group's or channel's title, or the person's name. */
  title: string
  type: 'private' | 'group' | 'supergroup' | 'channel'
  username?: string
}

interface TelegramChat {
  id: number
  type: DiscoveredChat['type']
  title?: string
  username?: string
  first_name?: string
  last_name?: string
}

/** How many recent updates the wizard looks at. */
const discoverLimit = 20

/**
 * The distinct chats among the bot's pending updates, newest first: for "send your bot a message,
 * then find my chat". It calls `getUpdates` without an offset, so it confirms nothing: an update
 * another poller (the inbound commands' long poll) has not fetched yet stays for it. It reads at most
 * the 20 oldest pending updates and does not wait (timeout 0). Telegram answers 409 while a webhook is
 * set; then this throws `telegram_webhook_set` (the inbound webhook already sees the chats).
 */
export async function discoverChats(
  botToken: string,
  options: { apiBaseUrl?: string; egress: EgressPolicy; signal?: AbortSignal },
): Promise<DiscoveredChat[]> {
  const api: TelegramApi = {
    baseUrl: options.apiBaseUrl ?? telegramApiBaseUrl,
    token: botToken,
    egress: options.egress,
    signal: options.signal ?? new AbortController().signal,
  }
  let updates: unknown
  try {
    updates = await callTelegram(api, 'getUpdates', { limit: discoverLimit, timeout: 0 })
  } catch (error) {
    if (error instanceof ChannelError && /webhook/i.test(error.message) && /409/.test(error.message))
      throw new ChannelError(
        'telegram_webhook_set',
        'The bot has a webhook set, so Telegram does not hand out its updates here. Enter the chat id yourself, or remove the webhook.',
        { retryable: false, channelBroken: false },
      )
    throw error
  }
  const chats = new Map<number, DiscoveredChat>()
  for (const update of Array.isArray(updates) ? updates.toReversed() : []) {
    const chat = chatOf(update)
    if (!chat || typeof chat.id !== 'number' || chats.has(chat.id)) continue
    const name = [chat.first_name, chat.last_name].filter(Boolean).join(' ')
    chats.set(chat.id, {
      chatId: chat.id,
      title: chat.title ?? (name || (chat.username ? `@${chat.username}` : String(chat.id))),
      type: chat.type,
      ...(chat.username ? { username: chat.username } : {}),
    })
  }
  return [...chats.values()]
}

/** The chat an update happened in: a message, an edit, a channel post, a membership change, a button. */
function chatOf(update: unknown): TelegramChat | undefined {
  if (typeof update !== 'object' || update === null) return undefined
  const record = update as Record<
    string,
    { chat?: TelegramChat; message?: { chat?: TelegramChat } } | undefined
  >
  for (const key of [
    'message',
    'edited_message',
    'channel_post',
    'edited_channel_post',
    'my_chat_member',
    'chat_member',
    'chat_join_request',
  ]) {
    const chat = record[key]?.chat
    if (chat) return chat
  }
  return record.callback_query?.message?.chat
}
