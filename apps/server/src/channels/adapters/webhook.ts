import { createHmac, timingSafeEqual } from 'node:crypto'
import dns from 'node:dns/promises'
import { isIP } from 'node:net'
import { z } from 'zod'
import {
  type EgressPolicy,
  egressFetch,
  egressRefusal,
  type FetchFunction,
  refusedRangeOf,
} from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import { AppError } from '../../platform/errors.ts'
import { injectTraceHeaders } from '../../platform/tracing.ts'
import { parseRetryAfter } from '../../providers/provider.error.ts'
import { maxRetryDelayMs } from '../../runs/retry.ts'
import { type ChannelAdapter, ChannelError } from '../channel.types.ts'

// The webhook channel: the event as JSON (`message.data`, nothing rendered), signed so a receiver
// knows it came from us and is fresh, with the event id in a header so a receiver drops repeats (the
// kernel retries a delivery until it is answered). docs/webhooks.md is the receiver's side.
// The HTTP part (egress guard, no redirects, timeout, the run's signal, Retry-After) is shared with the
// Slack and Discord adapters, which are webhooks with a format of their own.

// ---------------------------------------------------------------------------------------------------
// Posting to a channel's URL (webhook, Slack, Discord)

/** How long a channel's server has to answer; the kernel retries after that. */
export const channelTimeoutMs = 10_000
/** Enough of an answer to say why it refused; the rest is not read. */
const maxAnswerBytes = 64 * 1024

/** A channel server's answer (any status but a redirect), its body read up to 64 KB. */
export interface ChannelAnswer {
  status: number
  headers: Headers
  text: string
}

export interface PostOptions {
  /** The error codes' prefix: `webhook` → `webhook_unavailable`, `webhook_redirect`. */
  kind: string
  /** Who answered, for people; never a secret URL ("The webhook at https://x.example/hook", "Slack"). */
  label: string
  egress: EgressPolicy
  signal: AbortSignal
  timeoutMs?: number
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

/**
 * POSTs `body` through the egress guard without following a redirect (a 3xx is `<kind>_redirect`, not
 * retried: the URL is wrong, and a signed body or a URL's token must not travel elsewhere). No answer
 * within the timeout, or none at all, is `<kind>_unavailable` (retried); an address the installation
 * does not call is `egress_refused`. Any other answer is returned for the adapter to judge. When the
 * run's signal aborts (cancelled, lease lost) its reason is thrown as it is.
 */
export async function postToChannel(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<ChannelAnswer> {
  const timeoutMs = options.timeoutMs ?? channelTimeoutMs
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([options.signal, timeout])
  try {
    const response = await fetchFor(options.egress)(url, {
      method: 'POST',
      // The delivery's W3C trace context (tracing on): the receiver can join the run's trace.
      headers: injectTraceHeaders({ ...headers }),
      body,
      redirect: 'manual',
      signal,
    })
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {})
      const location = response.headers.get('location')
      throw new ChannelError(
        `${options.kind}_redirect`,
        `${options.label} answered ${response.status} with a redirect${location ? ` to ${redirectTarget(location, url)}` : ''}. Notifications do not follow redirects: set the URL to the final address.`,
        { retryable: false },
      )
    }
    return { status: response.status, headers: response.headers, text: await readCapped(response) }
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason
    if (error instanceof ChannelError) throw error
    const refused = egressRefusal(error)
    if (refused)
      throw new ChannelError('egress_refused', `${options.label} is not called: ${refused.message}`, {
        retryable: false,
      })
    if (timeout.aborted)
      throw new ChannelError(
        `${options.kind}_unavailable`,
        `${options.label} did not answer within ${timeoutMs / 1000} s; the delivery is tried again.`,
        { retryable: true },
      )
    throw new ChannelError(
      `${options.kind}_unavailable`,
      `${options.label} could not be reached (${networkFailureReason(error).reason}); the delivery is tried again.`,
      { retryable: true },
    )
  }
}

/** Where a redirect points, as a person can check it: the absolute URL without its query. */
function redirectTarget(location: string, base: string): string {
  try {
    const target = new URL(location, base)
    return `${target.origin}${target.pathname}`
  } catch {
    return oneLine(location, 200)
  }
}

/** An answer's body, read only up to `maxBytes` (a hostile receiver's gigabytes are never held). */
export async function readCapped(response: Response, maxBytes = maxAnswerBytes): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size >= maxBytes) {
      await reader.cancel().catch(() => {})
      break
    }
  }
  return new TextDecoder().decode(Buffer.concat(chunks, size))
}

/** How long an answer asks to wait (Retry-After: seconds or an HTTP date), at most the kernel's longest delay. */
export function retryAfterOf(headers: Headers, now = Date.now()): number | undefined {
  const asked = parseRetryAfter(headers.get('retry-after'), now)
  return asked === undefined ? undefined : Math.min(asked, maxRetryDelayMs)
}

/** Text from a channel's server for a person to read: one line, no control characters, capped. */
export function oneLine(value: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const line = value.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ')
  const trimmed = line.replace(/\s+/g, ' ').trim()
  return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed
}

/** `https://x.example/hook`: a URL as messages name it (no query, no credentials). */
export function whereOf(url: string): string {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

// ---------------------------------------------------------------------------------------------------
// Checking a channel's URL before it is saved

async function addressesOf(host: string): Promise<string[] | undefined> {
  if (isIP(host)) return [host]
  try {
    return (await dns.lookup(host, { all: true })).map((entry) => entry.address)
  } catch {
    return undefined
  }
}

function hostAndPort(url: URL): { host: string; port: number } {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  return { host, port }
}

/**
 * Throws AppError 400 `egress_refused`, naming the range, when `url`'s host resolves to an address the
 * installation does not call (loopback, private, link-local/metadata, …) and the operator has not
 * opened it. A name that does not resolve now passes: every connection checks again.
 */
export async function checkChannelUrl(url: string, egress: EgressPolicy): Promise<void> {
  const { host, port } = hostAndPort(new URL(url))
  for (const address of (await addressesOf(host)) ?? []) {
    const refused = egress.refusal(host, address, port)
    if (refused) throw new AppError('egress_refused', refused.message, 400)
  }
}

/**
 * True when `url`'s host is one the operator opened on purpose: it resolves only to addresses the
 * installation refuses by default (loopback, private, …) and OPENORCH_EGRESS_ALLOW opens them all.
 * Slack and Discord URLs must be theirs unless this holds (a self-hosted relay, a test receiver).
 */
/**
 * A chat service's own webhook URL (https, one of its hosts, the default port, its path), or a host
 * the operator opened on purpose (a self-hosted relay, a test receiver).
 */
export async function isServiceUrl(
  text: string,
  service: { hosts: ReadonlySet<string>; path?: RegExp },
  egress: EgressPolicy,
): Promise<boolean> {
  const url = new URL(text)
  if (
    url.protocol === 'https:' &&
    service.hosts.has(url.hostname.toLowerCase()) &&
    url.port === '' &&
    (service.path === undefined || service.path.test(url.pathname))
  )
    return true
  return isOpenedByOperator(url, egress)
}

export async function isOpenedByOperator(url: URL, egress: EgressPolicy): Promise<boolean> {
  const { host, port } = hostAndPort(url)
  const addresses = await addressesOf(host)
  if (!addresses || addresses.length === 0) return false
  return addresses.every(
    (address) => refusedRangeOf(address) !== undefined && egress.refusal(host, address, port) === undefined,
  )
}

// ---------------------------------------------------------------------------------------------------
// Signatures

/** The hex HMAC-SHA256 of `timestamp + "." + body` under the channel's signing secret. */
export function signPayload(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')
}

/**
 * The receiver's check (docs/webhooks.md has it as a snippet): `header` (`X-OpenOrch-Signature`, one or
 * more comma-separated `v1=<hex>`) is the HMAC of this timestamp and body, compared in constant time,
 * and the timestamp is within `toleranceSeconds` of now (an old request replayed is refused).
 */
export function verifySignature(
  secret: string,
  timestamp: string,
  body: string | Buffer,
  header: string,
  toleranceSeconds = 300,
): boolean {
  if (!/^\d{1,12}$/.test(timestamp)) return false
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false
  const expected = Buffer.from(signPayload(secret, timestamp, body), 'hex')
  return header.split(',').some((part) => {
    const given = /^\s*v1=([0-9a-f]{64})\s*$/i.exec(part)?.[1]
    return given !== undefined && timingSafeEqual(Buffer.from(given, 'hex'), expected)
  })
}

// ---------------------------------------------------------------------------------------------------
// The adapter

/** Headers the adapter sets (or the HTTP client owns): a configured header of these names is refused. */
const reservedHeaders = new Set([
  'content-type',
  'user-agent',
  'host',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
])
const isReservedHeader = (name: string) =>
  reservedHeaders.has(name.toLowerCase()) || name.toLowerCase().startsWith('x-openorch-')

export const webhookConfigSchema = z.strictObject({
  url: z
    .string()
    .trim()
    .max(2_000)
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .describe('Where the events are POSTed.'),
  headers: z
    .record(
      z
        .string()
        .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'must be an HTTP header name')
        .refine((name) => !isReservedHeader(name), {
          error: 'is set by openOrchestrator (Content-Type, User-Agent, X-OpenOrch-*) and cannot be changed',
        }),
      z
        .string()
        .max(4_000)
        // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
        .regex(/^[^\u0000-\u0008\u000a-\u001f\u007f]*$/, 'must be one line without control characters'),
    )
    .refine((headers) => Object.keys(headers).length <= 20, { error: 'at most 20 headers' })
    .optional()
    .describe('Sent with every request, e.g. `Authorization`; the values are kept in the vault.'),
  signingSecret: z
    .string()
    .min(16)
    .max(200)
    .describe('Generated by the service when the channel is made and shown once; signs every request.'),
})

export type WebhookConfig = z.infer<typeof webhookConfigSchema>

export const webhookAdapter: ChannelAdapter<WebhookConfig> = {
  type: 'webhook',
  configSchema: webhookConfigSchema,
  // `headers` is a record: every value is a secret (an Authorization header), so the whole record is.
  // The URL too: it may carry a key in its query or credentials (attack F4); people see its host.
  secretFields: ['url', 'headers', 'signingSecret'],
  async check(config, egress) {
    await checkChannelUrl(config.url, egress)
  },
  async send(message, { config, signal, egress }) {
    const body = JSON.stringify(message.data)
    const timestamp = String(Math.floor(Date.now() / 1000))
    const configured = Object.entries(config.headers ?? {}).filter(([name]) => !isReservedHeader(name))
    const headers: Record<string, string> = {
      ...Object.fromEntries(configured),
      'Content-Type': 'application/json',
      'User-Agent': 'openOrchestrator',
      'X-OpenOrch-Event-Id': message.eventId,
      'X-OpenOrch-Timestamp': timestamp,
      'X-OpenOrch-Signature': `v1=${signPayload(config.signingSecret, timestamp, body)}`,
    }
    const label = `The webhook at ${whereOf(config.url)}`
    const answer = await postToChannel(config.url, body, headers, { kind: 'webhook', label, egress, signal })
    if (answer.status >= 200 && answer.status < 300) return
    throw webhookFailure(answer, label)
  },
}

/** A receiver's refusal as a channel error: 429/5xx retried, 410 gone, 401/403/404 break the channel. */
export function webhookFailure(answer: ChannelAnswer, label: string): ChannelError {
  const { status } = answer
  const said = answer.text.trim() ? `: ${oneLine(answer.text, 200)}` : ''
  if (status === 429 || status === 408) {
    const retryAfterMs = retryAfterOf(answer.headers)
    return new ChannelError(
      'webhook_rate_limited',
      `${label} answered ${status} (${status === 429 ? 'too many requests' : 'request timeout'})${retryAfterMs === undefined ? '' : `, asking to wait ${Math.ceil(retryAfterMs / 1000)} s`}; the delivery is tried again.`,
      { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    )
  }
  if (status >= 500) {
    const retryAfterMs = retryAfterOf(answer.headers)
    return new ChannelError(
      'webhook_unavailable',
      `${label} answered ${status}${said}; the delivery is tried again.`,
      { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
    )
  }
  if (status === 410)
    return new ChannelError(
      'webhook_gone',
      `${label} answered 410 (gone)${said}: the receiver says it no longer exists. Change the channel's URL or delete the channel.`,
      { retryable: false, channelBroken: true },
    )
  const broken = status === 401 || status === 403 || status === 404
  return new ChannelError(
    'webhook_refused',
    `${label} refused the delivery with ${status}${said}.${broken ? " Check the channel's URL and headers (a token?), then send a test." : ''}`,
    { retryable: false, channelBroken: broken },
  )
}
