import { runStatuses, runTriggers, usageGroupings } from '@openorch/contracts'
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'
import { secretScrubber } from './secret-scrubber.ts'
import { activeTraceFields } from './tracing.ts'

export type { Logger }

const replacement = '[redacted]'

// Field names that never reach a log line with their value.
export const redactedPaths = [
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
]

/**
 * Human-readable lines for a person at a terminal: time, level in colour, message, fields. Written
 * synchronously in this process (no worker thread), so nothing is lost when the process exits.
 */
function prettyStream(): pino.DestinationStream {
  return pretty({
    sync: true,
    colorize: Boolean(process.stdout.isTTY),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: false,
  })
}

/** Logs are for people on a terminal and JSON for machines: OPENORCH_PRETTY_LOGS decides when set. */
export function wantsPrettyLogs(
  setting: boolean | undefined,
  stdoutIsTty = Boolean(process.stdout.isTTY),
): boolean {
  return setting ?? stdoutIsTty
}

export function createLogger(options: {
  level: string
  pretty?: boolean
  name?: string
  /** Where the lines go (standard output by default). */
  destination?: pino.DestinationStream
}): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'openorch',
      redact: { paths: redactedPaths, censor: replacement },
      base: { pid: process.pid },
      // Stored secrets are scrubbed inside string values, identity fields left as they are
      // (secret-scrubber.ts); scrubbing the serialised line could break its JSON.
      formatters: { log: (fields) => secretScrubber.scrubLogFields(withQueryRedacted(fields)) },
      hooks: { logMethod: scrubMessage },
      // The trace and span a line was written in, when tracing is on and a span is active (decision 0038).
      mixin: traceFields,
    },
    options.destination ?? (options.pretty ? prettyStream() : pino.destination(1)),
  )
}

// A new object each time: pino assigns the line's fields into what the mixin returns.
function traceFields(): object {
  return activeTraceFields() ?? {}
}

/** Log messages are text too; an Error logged without one would give its message unscrubbed. */
function scrubMessage(this: Logger, args: unknown[], method: (...args: unknown[]) => void): void {
  if (secretScrubber.size === 0) {
    method.apply(this, args)
    return
  }
  const [first, ...rest] = args
  const error = first instanceof Error ? first : (first as { err?: unknown } | null)?.err
  if (error instanceof Error && typeof rest[0] !== 'string') rest.unshift(error.message)
  const scrub = (arg: unknown) => (typeof arg === 'string' ? secretScrubber.scrub(arg) : arg)
  method.apply(this, [scrub(first), ...rest.map(scrub)])
}

const oneOf = (values: readonly string[]) => new RegExp(`^(${values.join('|')})$`)
const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

/**
 * Query parameters whose values say nothing about anyone and help reading a log — kept only when the
 * value has the shape the API accepts for it (contracts), so `limit=oo_SECRET` or `status=<a key>`
 * is redacted like any other value (attack finding F5).
 */
const plainQueryParameters = new Map<string, RegExp>([
  ['limit', /^\d{1,3}$/],
  // Cursors are ids: a UUID, or an event's or audit entry's number.
  ['cursor', new RegExp(`^(${uuid}|\\d{1,18})$`, 'i')],
  ['lastEventId', /^\d{1,18}$/],
  ['status', oneOf(runStatuses)],
  ['trigger', oneOf(runTriggers)],
  ['groupBy', oneOf(usageGroupings)],
])

/** A parameter's name is kept when it is a plain word; a bare token (`?sk-…`) is a value too. */
const plainName = /^[A-Za-z_]{1,24}$/

/**
 * A URL as logged: the path, and the query's parameter names with their values replaced, except a
 * few harmless ones. A key or token put into a URL by mistake does not land in the log (decision 0018).
 */
export function redactQuery(url: string): string {
  const mark = url.indexOf('?')
  if (mark < 0) return url
  const query = url
    .slice(mark + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const equals = pair.indexOf('=')
      const name = equals < 0 ? pair : pair.slice(0, equals)
      if (!plainName.test(name)) return replacement
      if (equals < 0) return name
      const shape = plainQueryParameters.get(name)
      return shape?.test(pair.slice(equals + 1)) ? pair : `${name}=${replacement}`
    })
  return `${url.slice(0, mark)}?${query.join('&')}`
}

/** Paths whose last part is a credential (an inbound hook's token): logged without it. */
// Inbound webhooks' tokens, and Telegram's webhook secret (`/channels/{id}/telegram/{secret}`; not its
// named routes).
const credentialPaths =
  /(\/hooks(?:\/|%2f)+|\/telegram(?:\/|%2f)+(?!(?:link-code|inbound|discover-chats)(?:[/?#]|$)))[^/?#]+/i

/** A URL as logged: credentials in the path and the query's values redacted. */
export function redactUrl(url: string): string {
  return redactQuery(url.replace(credentialPaths, `$1${replacement}`))
}

/** Fastify logs the request object (`req`) and serialises its `url` later: hand it a redacted one. */
function withQueryRedacted(fields: Record<string, unknown>): Record<string, unknown> {
  const req = fields.req as { url?: unknown } | undefined
  if (!req || typeof req !== 'object' || typeof req.url !== 'string') return fields
  if (!req.url.includes('?') && !credentialPaths.test(req.url)) return fields
  // The request's other properties (method, host, ip) stay reachable through the prototype.
  return { ...fields, req: Object.create(req, { url: { value: redactUrl(req.url), enumerable: true } }) }
}
