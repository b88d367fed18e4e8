import type { z } from 'zod'
import type { EgressPolicy } from '../platform/egress/egress.ts'

// Channels (issue 14, decision 0032): where notifications go. One adapter per type behind this small
// interface; the domain around it (store, routes, rules, delivery as runs of kind `notification`)
// knows no type. An adapter only renders a message in its own markup and sends it.

/** What happened, as every channel renders it (its own markup, its own length limits). */
export interface ChannelMessage {
  /** The outbox event this message reports: the idempotency key of its delivery, on every retry. */
  eventId: string
  /** `run.completed`, `run.failed`, `bot.paused`, `approval.requested`, `test`, … */
  event: string
  /** One line, e.g. "✅ Sneaker scout — 3 new offers" (plain text, no markup). */
  title: string
  /** The body as Markdown (the bot's output, or a system event's words); may be long. */
  text: string
  /** short: the first line of the result and the facts; full: the whole text; summary: two sentences by the bot's model. */
  format: 'short' | 'full' | 'summary'
  /** Facts shown small: "14:02 · 12 s · 1,234 tokens · $0.0021". */
  facts: string[]
  /** Where a person sees it in the dashboard (absolute when the installation knows its URL). */
  link: string | null
  /** A closing line, e.g. "Next run: Fri 15:00 (Europe/Berlin)"; null: none. */
  footer: string | null
  severity: 'info' | 'success' | 'warning' | 'error'
  /** The machine-readable event (webhook, AMQP, NATS send this as it is). */
  data: NotificationData
}

/** The JSON a webhook receives (issue 14): stable field names, null where not known. */
export interface NotificationData {
  eventId: string
  event: string
  botId: string | null
  botName: string | null
  runId: string | null
  status: string | null
  isNew: boolean | null
  output: unknown
  error: { code: string; message: string } | null
  createdAt: string
}

/** A bot as a notification names it (the bots domain answers; channels do not read its tables). */
export interface NotifiedBot {
  id: string
  name: string
  /** Its time zone, for the next run time in the footer (absent: UTC). */
  timezone?: string
  /** When it runs next (epoch ms); null or absent: not scheduled. */
  nextRunAt?: number | null
}

/** Two sentences about a bot run's result by the bot's own model, with what they cost (`summary`). */
export type SummarizeRun = (
  tenantId: string,
  botId: string,
  text: string,
  by: { runId: string; attempt: number; signal: AbortSignal },
) => Promise<{ text: string; tokensIn: number; tokensOut: number; costUsd: number | null }>

/** What an adapter may use while it sends: the channel's settings (secrets decrypted), the run's signal. */
export interface SendContext<Config> {
  config: Config
  signal: AbortSignal
  /** Channels that call URLs (webhook, Slack, Discord, a self-hosted Telegram API) go through it. */
  egress: EgressPolicy
}

/**
 * A delivery that did not work. `retryable`: the kernel retries with backoff (network, 5xx, 429 with
 * `retryAfterMs`); not retryable: the run fails at once, and `channelBroken` marks the channel `error`
 * (a refused token, a chat that does not exist, a gone push subscription).
 */
export class ChannelError extends Error {
  readonly code: string
  readonly retryable: boolean
  readonly retryAfterMs: number | undefined
  readonly channelBroken: boolean
  constructor(
    code: string,
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; channelBroken?: boolean },
  ) {
    super(message)
    this.name = 'ChannelError'
    this.code = code
    this.retryable = options.retryable
    this.retryAfterMs = options.retryAfterMs
    this.channelBroken = options.channelBroken ?? !options.retryable
  }
}

export interface ChannelAdapter<Config extends Record<string, unknown> = Record<string, unknown>> {
  type: string
  /** The `config` a person sends when creating or changing the channel, secrets included. */
  configSchema: z.ZodType<Config>
  /** The config's secret fields (string values): kept in the vault, never returned, shown as hints. */
  secretFields: readonly string[]
  /**
   * Checks what the schema cannot, before saving (a URL the egress rules refuse): throws an AppError
   * (400 `egress_refused`, …). Absent: nothing more to check.
   */
  check?(config: Config, egress: EgressPolicy): Promise<void>
  send(message: ChannelMessage, context: SendContext<Config>): Promise<void>
}
