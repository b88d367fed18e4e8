import { createHash } from 'node:crypto'
import webPush from 'web-push'
import { z } from 'zod'
import {
  type EgressPolicy,
  egressFetch,
  egressRefusal,
  type FetchFunction,
} from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import { AppError } from '../../platform/errors.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage } from '../channel.types.ts'
import {
  channelTimeoutMs,
  checkChannelUrl,
  isOpenedByOperator,
  oneLine,
  readCapped,
  retryAfterOf,
} from './webhook.ts'

// The push channel: Web Push to a browser that subscribed from the dashboard (RFC 8030), the payload
// encrypted for that browser alone (aes128gcm, RFC 8291) and the request signed with the installation's
// VAPID key (RFC 8292). `web-push` builds the request; we send it ourselves through the egress guard.
// A push service that says the subscription is gone (404/410) gets it removed: the browser
// unsubscribed or its permission was revoked, and it will never come back under this endpoint.

/** The installation's VAPID key pair (base64url), made once at first need. */
export interface VapidKeys {
  publicKey: string
  privateKey: string
}

export interface PushAdapterDeps {
  vapidKeys(): Promise<VapidKeys>
  /** `mailto:` or the installation's https URL: who the push service may contact about our traffic. */
  subject: string
  /** The push service said the subscription is gone: forget it (its channel included). */
  onGone(endpoint: string): Promise<void>
  /** How long a push service keeps a message for a browser that is offline (default 24 h). */
  ttlSeconds?: number
}

const base64url = /^[A-Za-z0-9_-]+={0,2}$/
const decodedLength = (value: string) => Buffer.from(value.replace(/=+$/, ''), 'base64url').length

export const pushConfigSchema = z.strictObject({
  endpoint: z
    .string()
    .trim()
    .max(2_000)
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .describe("The push service's URL for this browser (PushSubscription.endpoint); a capability URL."),
  keys: z
    .strictObject({
      p256dh: z
        .string()
        .max(200)
        .regex(base64url, 'must be base64url')
        .refine((value) => decodedLength(value) === 65, { error: 'must be an uncompressed P-256 public key' })
        .describe("The browser's public key (PushSubscription.getKey('p256dh'))."),
      auth: z
        .string()
        .max(100)
        .regex(base64url, 'must be base64url')
        .refine((value) => decodedLength(value) === 16, { error: 'must be 16 bytes' })
        .describe("The browser's auth secret (PushSubscription.getKey('auth'))."),
    })
    .describe('What the payload is encrypted for.'),
})

export type PushConfig = z.infer<typeof pushConfigSchema>

/** What the service worker receives (apps/web/public/sw.js shows it). */
export interface PushPayload {
  title: string
  body: string
  url: string | null
  eventId: string
}

/** The first line of the message's text with its Markdown markers removed, at most 200 characters. */
export function payloadOf(message: ChannelMessage): PushPayload {
  const first =
    message.text
      .split('\n')
      .map((line) =>
        line
          .replace(/^\s{0,3}(#{1,6}\s+|[-*+]\s+|>\s*|\d+[.)]\s+)/, '')
          .replace(/(\*\*|__|`|~~)/g, '')
          .trim(),
      )
      .find((line) => line.length > 0) ?? ''
  return {
    title: oneLine(message.title, 120),
    body: oneLine(first, 199),
    url: message.link,
    eventId: message.eventId,
  }
}

/**
 * A topic (≤ 32 URL-safe base64 characters) from the event id: the push service replaces a message
 * still waiting for an offline browser with a newer one of the same topic, so a retried delivery
 * does not show twice.
 */
export function topicOf(eventId: string): string {
  return createHash('sha256').update(eventId).digest('base64url').slice(0, 32)
}

const fetches = new WeakMap<EgressPolicy, FetchFunction>()
function fetchFor(egress: EgressPolicy): FetchFunction {
  let fetch = fetches.get(egress)
  if (!fetch) {
    fetch = egressFetch(egress)
    fetches.set(egress, fetch)
  }
  return fetch
}

/** The push service as people see it: its origin only, the endpoint's path is the capability. */
const serviceOf = (endpoint: string) => `The push service at ${new URL(endpoint).origin}`

export function createPushAdapter(deps: PushAdapterDeps): ChannelAdapter<PushConfig> {
  const ttlSeconds = deps.ttlSeconds ?? 24 * 60 * 60
  return {
    type: 'push',
    configSchema: pushConfigSchema,
    secretFields: ['endpoint', 'keys'],
    async check(config, egress) {
      await checkChannelUrl(config.endpoint, egress)
      // Push services speak https; plain http only to a service the operator opened (a test's own).
      const url = new URL(config.endpoint)
      if (url.protocol === 'http:' && !(await isOpenedByOperator(url, egress)))
        throw new AppError(
          'validation_failed',
          'The push endpoint must be an https URL (browsers subscribe at https push services).',
          400,
          { errors: [{ field: 'config.endpoint', message: 'must be an https URL' }] },
        )
    },
    async send(message, { config, signal, egress }) {
      const vapid = await deps.vapidKeys()
      const details = webPush.generateRequestDetails(
        { endpoint: config.endpoint, keys: config.keys },
        JSON.stringify(payloadOf(message)),
        {
          vapidDetails: { subject: deps.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
          contentEncoding: 'aes128gcm',
          TTL: ttlSeconds,
          urgency: message.severity === 'error' ? 'high' : 'normal',
          topic: topicOf(message.eventId),
        },
      )
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(details.headers))
        if (name.toLowerCase() !== 'content-length') headers[name] = String(value)
      const label = serviceOf(config.endpoint)
      const timeout = AbortSignal.timeout(channelTimeoutMs)
      let response: Response
      try {
        response = await fetchFor(egress)(config.endpoint, {
          method: 'POST',
          headers,
          body: details.body === null ? null : new Uint8Array(details.body),
          redirect: 'manual',
          signal: AbortSignal.any([signal, timeout]),
        })
      } catch (error) {
        if (signal.aborted) throw signal.reason
        const refused = egressRefusal(error)
        if (refused)
          throw new ChannelError('egress_refused', `${label} is not called: ${refused.message}`, {
            retryable: false,
          })
        const why = timeout.aborted
          ? `did not answer within ${channelTimeoutMs / 1000} s`
          : `could not be reached (${networkFailureReason(error).reason})`
        throw new ChannelError('push_unavailable', `${label} ${why}; the delivery is tried again.`, {
          retryable: true,
        })
      }
      // Only the start of an answer matters, and a hostile service may send gigabytes (attack F3).
      const text = await readCapped(response).catch(() => '')
      const { status } = response
      if (status === 201 || status === 202 || status === 200) return
      const said = text.trim() ? `: ${oneLine(text, 200)}` : ''
      if (status === 404 || status === 410) {
        await deps.onGone(config.endpoint)
        throw new ChannelError(
          'push_gone',
          `${label} answered ${status}: the browser's subscription has expired or was withdrawn, so it was removed. Enable notifications in that browser again to receive them there.`,
          { retryable: false, channelBroken: true },
        )
      }
      if (status === 429 || status >= 500) {
        const retryAfterMs = retryAfterOf(response.headers)
        throw new ChannelError(
          status === 429 ? 'push_rate_limited' : 'push_unavailable',
          `${label} answered ${status}${said}${retryAfterMs === undefined ? '' : `, asking to wait ${Math.ceil(retryAfterMs / 1000)} s`}; the delivery is tried again.`,
          { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        )
      }
      // 400 (a malformed request), 401/403 (a VAPID signature or key it does not accept), 413, a redirect.
      throw new ChannelError(
        'push_refused',
        `${label} refused the notification with ${status}${said}. If it names the VAPID key or token, the browser subscribed with another key: enable notifications in that browser again.`,
        { retryable: false, channelBroken: true },
      )
    },
  }
}
