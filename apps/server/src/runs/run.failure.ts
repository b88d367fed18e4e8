import { toError } from '../platform/errors.ts'
import { secretScrubber } from '../platform/secret-scrubber.ts'
import type { RunError } from './run.types.ts'

/**
 * Thrown by an executor to fail a run with a stable code. Retryable failures
 * (429, 5xx, network, provider timeouts) are retried with backoff; the rest are not.
 */
export class RunFailure extends Error {
  readonly code: string
  readonly retryable: boolean
  readonly retryAfterMs: number | undefined

  constructor(code: string, message: string, retryable = false, retryAfterMs?: number) {
    super(message)
    this.name = 'RunFailure'
    this.code = code
    this.retryable = retryable
    this.retryAfterMs = retryAfterMs
  }

  toRunError(): RunError {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
    }
  }
}

/** Unknown throws are treated as transient: a bug fixed by a deploy should not lose the run. */
export function toRunError(value: unknown): RunError {
  if (value instanceof RunFailure) {
    const failure = value.toRunError()
    return { ...failure, message: secretScrubber.scrub(failure.message) }
  }
  const error = toError(value)
  return {
    code: 'executor_error',
    message: secretScrubber.scrub(error.message || error.name),
    retryable: true,
  }
}
