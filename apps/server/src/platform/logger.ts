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
      hooks: { streamWrite: (line) => secretScrubber.scrub(line) },
    },
    options.destination ?? pino.destination(1),
  )
}
