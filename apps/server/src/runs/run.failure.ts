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

/**
 * Unknown throws are treated as transient: a bug fixed by a deploy should not lose the run. The message
 * is scrubbed of the workspace's stored secrets (an upstream error may quote the key).
 */
export function toRunError(value: unknown, tenantId?: string): RunError {
  const scrub = secretScrubber.forTenant(tenantId)
  if (value instanceof RunFailure) {
    const failure = value.toRunError()
    return { ...failure, message: scrub(failure.message) }
  }
  const marked = (value as { runError?: { code: string; retryable: boolean } } | null)?.runError
  const error = toError(value)
  if (marked) return { ...marked, message: scrub(error.message) }
  return { code: 'executor_error', message: scrub(error.message || error.name), retryable: true }
}
