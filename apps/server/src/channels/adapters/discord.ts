import { z } from 'zod'
import type { EgressPolicy } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { maxRetryDelayMs } from '../../runs/retry.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage } from '../channel.types.ts'
import { firstLine, truncate, truncateMarkdown } from './markup.ts'
import {
  type ChannelAnswer,
  checkChannelUrl,
  isServiceUrl,
  oneLine,
  postToChannel,
  retryAfterOf,
} from './webhook.ts'

// Discord through a channel webhook (https://discord.com/developers/docs/resources/webhook): one embed,
// Markdown as it is (Discord renders it), within Discord's limits, and nobody pinged — `@everyone`, a
// role or a user in a bot's output must not wake a server. `?wait=true` so a refusal comes back as an
// answer instead of a silent 204. The webhook URL carries its token: a secret, never named in a message.

/** Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
export const discordLimits = {
  title: 256,
  description: 4_096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1_024,
  footer: 2_048,
  /** Title, description, field names and values, footer and author together. */
  total: 6_000,
} as const

const discordHosts = new Set(['discord.com', 'discordapp.com', 'ptb.discord.com', 'canary.discord.com'])

export const discordConfigSchema = z.strictObject({
  webhookUrl: z
    .string()
    .trim()
    .max(2_000)
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .describe('The webhook URL Discord shows (https://discord.com/api/webhooks/…); kept in the vault.'),
})

export type DiscordConfig = z.infer<typeof discordConfigSchema>

export const discordAdapter: ChannelAdapter<DiscordConfig> = {
  type: 'discord',
  configSchema: discordConfigSchema,
  secretFields: ['webhookUrl'],
  async check(config, egress) {
    if (!(await isDiscordUrl(config.webhookUrl, egress)))
      throw new AppError('discord_url_invalid', discordUrlAdvice, 400)
    await checkChannelUrl(config.webhookUrl, egress)
  },
  async send(message, { config, signal, egress }) {
    if (!(await isDiscordUrl(config.webhookUrl, egress)))
      throw new ChannelError('discord_url_invalid', discordUrlAdvice, { retryable: false })
    const url = new URL(config.webhookUrl)
    url.searchParams.set('wait', 'true')
    const label = `Discord (${url.host})`
    const answer = await postToChannel(
      url.href,
      JSON.stringify(discordPayload(message)),
      { 'Content-Type': 'application/json', 'User-Agent': 'openOrchestrator' },
      { kind: 'discord', label, egress, signal },
    )
    if (answer.status >= 200 && answer.status < 300) return
    throw discordFailure(answer, label)
  },
}

const discordUrlAdvice =
  'A Discord webhook URL starts with https://discord.com/api/webhooks/ (Server Settings → Integrations → Webhooks → Copy Webhook URL). Another host is only called when the operator opens it with OPENORCH_EGRESS_ALLOW.'

const isDiscordUrl = (text: string, egress: EgressPolicy) =>
  isServiceUrl(text, { hosts: discordHosts, path: /^\/api\/(v\d+\/)?webhooks\// }, egress)

// ---------------------------------------------------------------------------------------------------
// The message

export interface DiscordEmbed {
  title?: string
  description?: string
  url?: string
  color: number
  fields?: Array<{ name: string; value: string; inline: boolean }>
  footer?: { text: string }
  timestamp?: string
}

export interface DiscordPayload {
  embeds: [DiscordEmbed]
  allowed_mentions: { parse: [] }
}

/** Tailwind's 500s: blue, green, amber, red. */
export const severityColors: Record<ChannelMessage['severity'], number> = {
  info: 0x3b82f6,
  success: 0x22c55e,
  warning: 0xf59e0b,
  error: 0xef4444,
}

/** The embed for `message`, within Discord's limits, with every mention defused. */
export function discordPayload(message: ChannelMessage): DiscordPayload {
  const embed: DiscordEmbed = { color: severityColors[message.severity] }
  const title = defuseMentions(message.title.trim())
  if (title) embed.title = truncate(title, discordLimits.title)
  if (message.link && /^https?:\/\//i.test(message.link)) embed.url = message.link
  const fields = message.facts.slice(0, discordLimits.fields).map(factField)
  if (fields.length > 0) embed.fields = fields
  const footer = defuseMentions(message.footer?.trim() ?? '')
  if (footer) embed.footer = { text: truncate(footer, discordLimits.footer) }
  if (message.data.createdAt) embed.timestamp = message.data.createdAt
  const used =
    (embed.title?.length ?? 0) +
    (embed.footer?.text.length ?? 0) +
    fields.reduce((sum, field) => sum + field.name.length + field.value.length, 0)
  const markdown = defuseMentions(message.format === 'short' ? firstLine(message.text) : message.text)
  const room = Math.min(discordLimits.description, discordLimits.total - used)
  if (markdown.trim() && room > 0) embed.description = truncateMarkdown(markdown, room)
  return { embeds: [embed], allowed_mentions: { parse: [] } }
}

/** A fact as a field: "Duration: 12 s" → name "Duration", value "12 s"; a fact without a label is a value. */
function factField(fact: string): { name: string; value: string; inline: boolean } {
  const defused = defuseMentions(fact.trim())
  const labelled = /^([^:\n]{1,60}):\s+(.+)$/s.exec(defused)
  const [name, value] = labelled ? [labelled[1]!, labelled[2]!] : ['\u200b', defused || '\u200b']
  return {
    name: truncate(name, discordLimits.fieldName),
    value: truncate(value, discordLimits.fieldValue),
    inline: true,
  }
}

/**
 * `@everyone`, `@here` and `<@…>` (users, `<@&…>` roles) shown as text, not as mentions: a zero-width
 * space after the `@`. `allowed_mentions: { parse: [] }` already stops the ping; this stops the look.
 */
export function defuseMentions(text: string): string {
  return text.replace(/@(everyone|here)\b/g, '@\u200b$1').replace(/<@([!&]?\d+)>/g, '<@\u200b$1>')
}

// ---------------------------------------------------------------------------------------------------
// Discord's refusals

export function discordFailure(answer: ChannelAnswer, label: string): ChannelError {
  const { status } = answer
  const json = parseJson(answer.text)
  const words = typeof json?.message === 'string' ? json.message : answer.text
  const said = words.trim() ? ` (${oneLine(`${words}${json?.code ? ` [${json.code}]` : ''}`, 200)})` : ''
  if (status === 429) {
    const retryAfterMs = retryAfterOfDiscord(json, answer.headers)
    return new ChannelError(
      'discord_rate_limited',
      `${label} answered 429 (rate limited${json?.global === true ? ' globally' : ''})${retryAfterMs === undefined ? '' : `, asking to wait ${Math.ceil(retryAfterMs / 1000)} s`}; the message is sent again then.`,
      { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    )
  }
  if (status >= 500)
    return new ChannelError(
      'discord_unavailable',
      `${label} answered ${status}${said}; the message is sent again.`,
      {
        retryable: true,
      },
    )
  if (status === 404)
    return new ChannelError(
      'discord_gone',
      `${label} answered 404${said}: the webhook was deleted. Create a new webhook in the Discord channel's settings and paste its URL into the channel.`,
      { retryable: false, channelBroken: true },
    )
  if (status === 401 || status === 403)
    return new ChannelError(
      'discord_unauthorized',
      `${label} refused the webhook with ${status}${said}. Copy the webhook URL from Discord again (its token may have been reset) and paste it into the channel.`,
      { retryable: false, channelBroken: true },
    )
  return new ChannelError('discord_refused', `${label} refused the message with ${status}${said}.`, {
    retryable: false,
    channelBroken: false,
  })
}

/** Discord's 429 body says `retry_after` in seconds (a float) — more precise than the header's whole seconds. */
function retryAfterOfDiscord(json: DiscordError | undefined, headers: Headers): number | undefined {
  const seconds = json?.retry_after
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0)
    return Math.min(Math.ceil(seconds * 1000), maxRetryDelayMs)
  return retryAfterOf(headers)
}

interface DiscordError {
  message?: unknown
  code?: unknown
  retry_after?: unknown
  global?: unknown
}

function parseJson(text: string): DiscordError | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' ? (value as DiscordError) : undefined
  } catch {
    return undefined
  }
}
