import dns, { type LookupAddress, type LookupOptions } from 'node:dns'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib'
import { z } from 'zod'
import { type EgressPolicy, egressRefusal } from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import { AppError } from '../../platform/errors.ts'
import { type ChannelAdapter, ChannelError } from '../channel.types.ts'
import { channelTimeoutMs, oneLine } from './webhook.ts'

// The AMQP channel (RabbitMQ): an event stream for systems, not people. Every notification is the
// event as JSON (`message.data`, nothing rendered) published to a durable exchange, persistent, with
// the event id as `messageId` — the same on every retry, so an idempotent consumer drops repeats.
// Publisher confirms: a send is done only when the broker acked the message (it then owns it); a nack,
// a closed connection or no ack in time is retried by the kernel with the same message id.
// One connection (and one confirm channel) per distinct URL, kept open between sends and dropped when
// the broker closes it; the next send reconnects. The broker's host goes through the egress guard in
// the socket's own lookup, so the connection goes to exactly the address that was checked.

export const amqpConfigSchema = z.strictObject({
  url: z
    .string()
    .trim()
    .max(2_000)
    .url({ protocol: /^amqps?$/, error: 'must be an amqp:// or amqps:// URL' })
    .describe(
      'The broker, e.g. `amqps://user:password@rabbit.example/vhost`; kept in the vault (it may carry credentials).',
    ),
  exchange: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'must be an exchange name (letters, digits, - _ . :)')
    .describe(
      'The exchange the events are published to; declared durable on first use (an `amq.*` exchange must exist).',
    ),
  routingKey: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .optional()
    .describe('The routing key; `{event}` is replaced by the event name. Default `openorch.{event}`.'),
  exchangeType: z
    .enum(['topic', 'direct', 'fanout', 'headers'])
    .optional()
    .describe('The type the exchange is declared with; default `topic`.'),
})

export type AmqpConfig = z.infer<typeof amqpConfigSchema>

/** How long the broker has to accept a connection and to ack a message; the kernel retries after that. */
const amqpTimeoutMs = channelTimeoutMs

/** `openorch.run.completed`: the routing key of `event` (a key template with `{event}`, or the default). */
export function amqpRoutingKey(config: Pick<AmqpConfig, 'routingKey'>, event: string): string {
  return (config.routingKey ?? 'openorch.{event}').replaceAll('{event}', subjectToken(event))
}

/** An event name as dot-separated words only: no wildcards (`*`, `#`, `>`) or spaces from a name. */
export function subjectToken(event: string): string {
  return event.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+|\.+$/g, '') || 'event'
}

export const amqpAdapter: ChannelAdapter<AmqpConfig> = {
  type: 'amqp',
  configSchema: amqpConfigSchema,
  secretFields: ['url'],
  async check(config, egress) {
    const { host, port } = brokerOf(config.url)
    const refused = await refusalOf(host, port, egress)
    if (refused) throw new AppError('egress_refused', refused, 400)
  },
  async send(message, { config, signal, egress }) {
    signal.throwIfAborted()
    const label = labelOf(config.url)
    const exchangeType = config.exchangeType ?? 'topic'
    try {
      const link = await untilAborted(linkFor(config.url, egress), signal, label)
      await untilAborted(link.declare(config.exchange, exchangeType), signal, label)
      const body = Buffer.from(JSON.stringify(message.data))
      const createdAt = Date.parse(message.data.createdAt)
      const confirmed = new Promise<void>((resolve, reject) => {
        link.channel.publish(
          config.exchange,
          amqpRoutingKey(config, message.event),
          body,
          {
            messageId: message.eventId,
            type: message.event,
            contentType: 'application/json',
            contentEncoding: 'utf-8',
            persistent: true,
            // AMQP timestamps are seconds since the epoch.
            timestamp: Math.floor((Number.isNaN(createdAt) ? Date.now() : createdAt) / 1000),
            appId: 'openOrchestrator',
          },
          (error: unknown) => (error ? reject(nackOf(label)) : resolve()),
        )
      })
      await untilAborted(Promise.race([confirmed, link.closed]), signal, label, amqpTimeoutMs)
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw amqpFailure(error, label)
    }
  },
}

// ---------------------------------------------------------------------------------------------------
// Errors

/** "The RabbitMQ broker at amqps://rabbit.example:5671/prod": a URL as messages name it, no credentials. */
function labelOf(url: string): string {
  const { host, port } = brokerOf(url)
  const parsed = new URL(url)
  const vhost = parsed.pathname.length > 1 ? parsed.pathname : ''
  return `The AMQP broker at ${parsed.protocol}//${host.includes(':') ? `[${host}]` : host}:${port}${vhost}`
}

function nackOf(label: string): ChannelError {
  return new ChannelError(
    'amqp_unavailable',
    `${label} did not accept the message (nack); the delivery is tried again.`,
    { retryable: true },
  )
}

/**
 * A broker's refusal as a channel error: credentials, a virtual host or an exchange that does not fit
 * break the channel (a person must change it); everything else (no connection, no ack in time, a
 * connection closed while waiting) is retried with the same message id.
 */
export function amqpFailure(error: unknown, label: string): ChannelError {
  if (error instanceof ChannelError) return error
  const refused = egressRefusal(error)
  if (refused)
    return new ChannelError('egress_refused', `${label} is not called: ${refused.message}`, {
      retryable: false,
    })
  const text = error instanceof Error ? error.message : String(error)
  const said = oneLine(text, 300)
  if (/\b403\b|ACCESS[-_]REFUSED/.test(text))
    return new ChannelError(
      'amqp_refused',
      `${label} refused the connection or the exchange (${said}). Check the user, password and permissions in the channel's URL, then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (/Expected ConnectionOpenOk; got <ConnectionClose|\b530\b|NOT[-_]ALLOWED/.test(text))
    return new ChannelError(
      'amqp_refused',
      `${label} closed the connection while it was opened: the virtual host in the URL does not exist or the user may not use it. Correct the URL, then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (/\b406\b|PRECONDITION[-_]FAILED/.test(text))
    return new ChannelError(
      'amqp_exchange_mismatch',
      `${label} has the exchange with other settings (${said}). Set the channel's exchange type to the existing one or use another exchange, then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (/\b404\b|NOT[-_]FOUND/.test(text))
    return new ChannelError(
      'amqp_exchange_missing',
      `${label} has no such exchange (${said}). \`amq.*\` exchanges are the broker's own and are not declared: create it or use another name.`,
      { retryable: false, channelBroken: true },
    )
  return new ChannelError(
    'amqp_unavailable',
    `${label} could not be reached or did not confirm the message (${networkFailureReason(error).reason}); the delivery is tried again.`,
    { retryable: true },
  )
}

/**
 * Waits for `work` until the run's signal aborts (its reason is thrown) or `timeoutMs` passes (a
 * retryable `amqp_unavailable`). The work goes on in the background; a retry publishes the same id.
 */
async function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal,
  label: string,
  timeoutMs = amqpTimeoutMs,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ChannelError(
            'amqp_unavailable',
            `${label} did not answer within ${timeoutMs / 1000} s; the delivery is tried again.`,
            { retryable: true },
          ),
        ),
      timeoutMs,
    )
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, stopped])
  } finally {
    clearTimeout(timer)
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}

// ---------------------------------------------------------------------------------------------------
// Egress

/** The broker's host (no brackets) and port (5672, or 5671 for amqps). */
function brokerOf(url: string): { host: string; port: number } {
  const parsed = new URL(url)
  const host = parsed.hostname.replace(/^\[|\]$/g, '')
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'amqps:' ? 5671 : 5672
  return { host, port }
}

/**
 * Why the egress rules refuse `host` on `port` (every address it resolves to), or undefined. A name
 * that does not resolve now passes: the connection checks again in its own lookup.
 */
export async function refusalOf(
  host: string,
  port: number,
  egress: EgressPolicy,
): Promise<string | undefined> {
  let addresses: string[]
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((entry) => entry.address)
  } catch {
    return undefined
  }
  for (const address of addresses) {
    const refused = egress.refusal(host, address, port)
    if (refused) return refused.message
  }
  return undefined
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void

/** A socket `lookup` that refuses when any address `hostname` resolves to is refused on `port`. */
export function guardedLookup(egress: EgressPolicy, port: number) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, [])
      for (const { address } of addresses) {
        const refused = egress.refusal(hostname, address, port)
        if (refused) return callback(refused, [])
      }
      if (options.all) return callback(null, addresses)
      const first = addresses[0]!
      callback(null, first.address, first.family)
    })
  }
}

// ---------------------------------------------------------------------------------------------------
// Connections

interface AmqpLink {
  channel: ConfirmChannel
  /** Declares `exchange` (durable) once per connection; an `amq.*` exchange is only checked. */
  declare(exchange: string, type: string): Promise<void>
  /** Rejects when the connection or its channel closes, with why (a pending confirm then fails). */
  closed: Promise<never>
  close(): Promise<void>
}

// Per egress policy, so a connection opened under one policy is never used under another.
const links = new Map<EgressPolicy, Map<string, Promise<AmqpLink>>>()

/** Closes every kept AMQP connection (at shutdown); a later send opens new ones. */
export async function closeAmqpConnections(): Promise<void> {
  const open = [...links.values()].flatMap((byUrl) => [...byUrl.values()])
  links.clear()
  await Promise.all(open.map(async (link) => (await link.catch(() => undefined))?.close()))
}

function linkFor(url: string, egress: EgressPolicy): Promise<AmqpLink> {
  let byUrl = links.get(egress)
  if (!byUrl) {
    byUrl = new Map()
    links.set(egress, byUrl)
  }
  const kept = byUrl.get(url)
  if (kept) return kept
  const opened = openLink(url, egress, () => {
    if (byUrl.get(url) === opened) byUrl.delete(url)
  })
  byUrl.set(url, opened)
  // A failed connection is not kept: the next send tries again.
  opened.catch(() => {
    if (byUrl.get(url) === opened) byUrl.delete(url)
  })
  return opened
}

async function openLink(url: string, egress: EgressPolicy, forget: () => void): Promise<AmqpLink> {
  const { host, port } = brokerOf(url)
  // An address literal skips the socket's lookup: checked here instead.
  if (isIP(host)) {
    const refused = egress.refusal(host, host, port)
    if (refused) throw refused
  }
  const connection: ChannelModel = await amqp.connect(url, {
    lookup: guardedLookup(egress, port),
    timeout: amqpTimeoutMs,
    noDelay: true,
    clientProperties: { connection_name: 'openOrchestrator notifications' },
  })
  let closeReason: Error = new Error('connection closed')
  let rejectClosed: (error: Error) => void = () => {}
  const closed = new Promise<never>((_, reject) => {
    rejectClosed = reject
  })
  closed.catch(() => {})
  const drop = (error?: Error) => {
    if (error) closeReason = error
    forget()
    rejectClosed(closeReason)
  }
  // Without listeners an 'error' event would end the process; the reason goes to whoever waits.
  connection.on('error', (error: Error) => drop(error))
  connection.on('close', () => drop())
  let channel: ConfirmChannel
  try {
    channel = await connection.createConfirmChannel()
  } catch (error) {
    await connection.close().catch(() => {})
    throw error
  }
  // A channel error (a refused declare) closes the channel: the whole link goes, the next send reopens.
  channel.on('error', (error: Error) => {
    drop(error)
    connection.close().catch(() => {})
  })
  channel.on('close', () => {
    drop()
    connection.close().catch(() => {})
  })
  const declared = new Map<string, Promise<void>>()
  return {
    channel,
    closed,
    declare(exchange, type) {
      const key = `${type}\u0000${exchange}`
      let done = declared.get(key)
      if (!done) {
        done = exchange.startsWith('amq.')
          ? channel.checkExchange(exchange).then(() => {})
          : channel.assertExchange(exchange, type, { durable: true }).then(() => {})
        declared.set(key, done)
        done.catch(() => declared.delete(key))
      }
      return Promise.race([done, closed])
    },
    async close() {
      await connection.close().catch(() => {})
    },
  }
}
