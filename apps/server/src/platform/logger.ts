import pino, { type Logger } from 'pino'
import { secretScrubber } from './secret-scrubber.ts'

export type { Logger }

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
      redact: { paths: redactedPaths, censor: '[redacted]' },
      base: { pid: process.pid },
      // Stored secrets are scrubbed inside string values, identity fields left as they are
      // (secret-scrubber.ts); scrubbing the serialised line could break its JSON.
      formatters: { log: (fields) => secretScrubber.scrubLogFields(fields) },
      hooks: { logMethod: scrubMessage },
    },
    options.destination ?? pino.destination(1),
  )
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
