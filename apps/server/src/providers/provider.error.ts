import { RunFailure } from '../runs/run.failure.ts'
import type { ProviderErrorCode, ProviderName } from './provider.types.ts'

// A failed provider call as a run failure: a stable code, whether the kernel may retry it, how
// long to wait, and a sentence that tells a person what to do.

const retryableCodes: ReadonlySet<ProviderErrorCode> = new Set([
  'provider_rate_limited',
  'provider_unavailable',
  'provider_unreachable',
  'provider_timeout',
])

/** True for failures that may pass by themselves (429, 5xx, network, timeouts); never for a bad key or no credit. */
export function isRetryableProviderCode(code: ProviderErrorCode): boolean {
  return retryableCodes.has(code)
}

export interface ProviderErrorOptions {
  provider: ProviderName
  /** The provider's HTTP status, when it answered at all. */
  status?: number | undefined
  /** How long the provider asked us to wait (Retry-After), in ms. */
  retryAfterMs?: number | undefined
  cause?: unknown
}

export class ProviderError extends RunFailure {
  declare readonly code: ProviderErrorCode
  readonly provider: ProviderName
  /** The provider's HTTP status; undefined when it never answered (network, timeout). */
  readonly status: number | undefined

  constructor(code: ProviderErrorCode, message: string, options: ProviderErrorOptions) {
    super(code, message, isRetryableProviderCode(code), options.retryAfterMs)
    this.name = 'ProviderError'
    this.provider = options.provider
    this.status = options.status
    if (options.cause !== undefined) this.cause = options.cause
  }
}

/**
 * Milliseconds a Retry-After value asks for: delay-seconds (`7`, `1.5`) or an HTTP date. Undefined
 * when absent or unreadable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  // An HTTP date names its month (`Wed, 21 Oct 2026 07:28:00 GMT`); Date.parse alone would take `-5` as a year.
  const at = /[a-z]{3}/i.test(text) ? Date.parse(text) : Number.NaN
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}

/** `750 ms`, `15 s`: a duration in the unit people read. */
export function durationText(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`
}
