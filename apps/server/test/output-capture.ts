import fs from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { createLogger, type Logger } from '../src/platform/logger.ts'

// Issue 5: "a test greps every log line and response of the full test run for the test secrets".
// `npm test` sets OPENORCH_TEST_CAPTURE_DIR; then every test logger writes its lines there (through
// the production logger: same redaction, same scrubber), every in-process answer of the API is kept,
// and every secret a test hands the system (provider keys through the vault, master keys, user
// passwords) is recorded. The last pass (test/secrets-in-output.final.test.ts) greps the one for the
// other. Without the variable nothing is written.

const dir = process.env.OPENORCH_TEST_CAPTURE_DIR
export const captureDir = dir && dir.length > 0 ? dir : undefined

const fileOf = (kind: 'log' | 'answers' | 'secrets' | 'public') =>
  path.join(captureDir!, `${kind}-${process.pid}.${kind === 'log' ? 'ndjson' : 'txt'}`)

/** The logger every test uses by default: silent, or the production logger into the capture dir. */
export const testLog: Logger = captureDir
  ? createLogger({
      level: 'debug',
      destination: pino.destination({ dest: fileOf('log'), append: true, sync: true, mkdir: true }),
    })
  : pino({ level: process.env.OPENORCH_TEST_LOG_LEVEL ?? 'silent' })

/** A value that must never appear in a log line or an answer. */
export function recordSecret(value: string | null | undefined): void {
  if (!captureDir || !value || value.length < 8) return
  fs.appendFileSync(fileOf('secrets'), `${JSON.stringify(value)}\n`)
}

// Answers are kept up to this size each: enough for every error, list and detail page.
const maxAnswerChars = 256 * 1024

/** Keeps an API answer for the final grep. */
export function recordAnswer(method: string, url: string, body: string): void {
  if (!captureDir || body.length === 0) return
  fs.appendFileSync(
    fileOf('answers'),
    `${JSON.stringify({ request: `${method} ${url}`, body: body.slice(0, maxAnswerChars) })}\n`,
  )
}

/**
 * A value a test stores as a secret on purpose although it is public (an attack test saves an id or
 * a bot's name as a provider key, to show the scrubber cannot be aimed at them): the final grep does
 * not count it.
 */
export function recordPublic(value: string): void {
  if (!captureDir) return
  fs.appendFileSync(fileOf('public'), `${JSON.stringify(value)}\n`)
}
