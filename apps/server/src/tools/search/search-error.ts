import { ToolError } from '../tool-error.ts'
import type { SearchProviderName } from './search.types.ts'

// A failed search as data (like ProviderError for the models): a stable code, whether trying again
// later may help, how long the provider asked to wait, and a sentence that says what to do.

export type SearchErrorCode =
  /** The provider refused the key (or a proxy in front of SearXNG refused us). */
  | 'search_unauthorized'
  /** The plan's credits or monthly quota are used up: waiting minutes does not help. */
  | 'search_quota'
  /** Too many searches too fast: `retryAfterMs` when the provider said how long to wait. */
  | 'search_rate_limited'
  /** A server error, an outage, a network failure, or a SearXNG whose engines all failed. */
  | 'search_unavailable'
  /** The query or a parameter was refused (empty, too long, out of range). */
  | 'search_bad_request'
  /** No full answer within the timeout (15 s by default). */
  | 'search_timeout'
  /** The configuration cannot work: no key, no or wrong base URL, SearXNG without the JSON format. */
  | 'search_not_configured'
  /** The answer was not JSON, or not in the provider's shape. */
  | 'search_answer_invalid'
  /** The egress guard refused the address (a private SearXNG the operator has not opened). */
  | 'egress_refused'

const retryableCodes: ReadonlySet<SearchErrorCode> = new Set([
  'search_rate_limited',
  'search_unavailable',
  'search_timeout',
])

/** True for failures that may pass by themselves (429, 5xx, network, timeouts); never for a bad key or quota. */
export function isRetryableSearchCode(code: SearchErrorCode): boolean {
  return retryableCodes.has(code)
}

export interface SearchErrorOptions {
  provider?: SearchProviderName | undefined
  /** The provider's HTTP status, when it answered at all. */
  status?: number | undefined
  /** How long the provider asked to wait (Retry-After, X-RateLimit-Reset), in ms. */
  retryAfterMs?: number | undefined
  cause?: unknown
}

export class SearchError extends ToolError {
  declare readonly code: SearchErrorCode
  readonly retryable: boolean
  readonly retryAfterMs?: number
  readonly provider: SearchProviderName | undefined
  /** The provider's HTTP status; undefined when it never answered (network, timeout, configuration). */
  readonly status: number | undefined

  constructor(code: SearchErrorCode, message: string, options: SearchErrorOptions = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SearchError'
    this.retryable = isRetryableSearchCode(code)
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs
    this.provider = options.provider
    this.status = options.status
  }
}
