import { durationText, parseRetryAfter } from '../../providers/provider.error.ts'
import type { RawResult, SearchProviderName } from './search.types.ts'
import { SearchError } from './search-error.ts'
import { quoteProvider } from './search-text.ts'

// What one search provider is: how a search is asked for, where the results are in its answer, and
// what its failures mean. The HTTP, timeouts and cleaning are search.ts's; a provider only shapes
// requests and reads answers (brave.search.ts, searxng.search.ts, tavily.search.ts).

export interface SearchRequest {
  /** The API root (brave, tavily) or the instance root (searxng), without a trailing slash. */
  baseUrl: string
  apiKey: string | undefined
  query: string
  count: number
}

/** A non-2xx answer: its body read (capped) as text, and as JSON when it is JSON. */
export interface FailedAnswer {
  status: number
  headers: Headers
  text: string
  json: unknown
  /** Where it came from, without the query string (for people: which base URL answered). */
  where: string
  apiKey: string | undefined
}

export interface SearchProviderSpec {
  name: SearchProviderName
  label: string
  /** The API root; undefined when there is none (searxng is self-hosted). */
  defaultBaseUrl: string | undefined
  needsKey: boolean
  /** Where a person checks the key, the plan and the quota. */
  dashboardUrl: string | undefined
  /** What the base URL should be, for messages: `the instance root, e.g. https://searx.example.org`. */
  baseUrlHint: string
  /** Added to the message about an answer that is not JSON (SearXNG: the instance may not serve JSON). */
  notJsonAdvice?: string
  request(search: SearchRequest): { url: URL; init: RequestInit }
  /** The results of a 200 answer's JSON; undefined when the JSON is not in the provider's shape. May throw a SearchError. */
  results(json: unknown, answer: { where: string }): RawResult[] | undefined
  failure(answer: FailedAnswer): SearchError
}

/** The saying, as the person's next step after fixing a key or plan. */
export const saveAgain = 'then PUT /api/v1/tools/search again'

/** A provider asking to wait longer than this is not waited for longer. */
export const maxRetryAfterMs = 60 * 60_000

export const asRecord = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined

const asString = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value : undefined

/** The error words in the bodies the providers send (Brave `error.detail`, Tavily `detail.error`, …). */
export function providerWords(json: unknown): string | undefined {
  const root = asRecord(json)
  if (!root) return undefined
  const error = asRecord(root.error)
  const detail = asRecord(root.detail)
  return (
    asString(error?.detail) ??
    asString(error?.message) ??
    asString(detail?.error) ??
    asString(root.detail) ??
    asString(root.error) ??
    asString(root.message)
  )
}

/** Retry-After (seconds or an HTTP date) in ms, capped at an hour; undefined when absent. */
export function retryAfterOf(headers: Headers, now = Date.now()): number | undefined {
  const asked = parseRetryAfter(headers.get('retry-after'), now)
  return asked === undefined ? undefined : Math.min(asked, maxRetryAfterMs)
}

const waitWords = (retryAfterMs: number | undefined) =>
  retryAfterMs === undefined
    ? '. Try again in a minute'
    : ` and asks to wait ${durationText(Math.max(retryAfterMs, 1000))}. Try again after that`

/** The provider's own words in a failed answer, quoted for people; '' when it said none. */
export const said = (answer: FailedAnswer): string => quoteProvider(providerWords(answer.json), answer.apiKey)

/** `429: their words` or `429`. */
export function statusWords(answer: FailedAnswer): string {
  const words = said(answer)
  return words ? `${answer.status}: ${words}` : String(answer.status)
}

export function unauthorized(spec: SearchProviderSpec, answer: FailedAnswer): SearchError {
  const where = spec.dashboardUrl ? `check it at ${spec.dashboardUrl}` : 'check it'
  return new SearchError(
    'search_unauthorized',
    `${spec.label} refused the key (${statusWords(answer)}): ${where}, ${saveAgain}.`,
    { provider: spec.name, status: answer.status },
  )
}

export function rateLimited(
  spec: SearchProviderSpec,
  answer: FailedAnswer,
  retryAfterMs: number | undefined,
  advice = `search less often${spec.dashboardUrl ? `, or raise the plan's rate limit at ${spec.dashboardUrl}` : ''}`,
): SearchError {
  return new SearchError(
    'search_rate_limited',
    `${spec.label} is rate-limiting searches (${answer.status})${waitWords(retryAfterMs)}; to avoid it, ${advice}.`,
    { provider: spec.name, status: answer.status, retryAfterMs },
  )
}

/** The meaning of a status every provider shares; providers handle their own first. */
export function commonFailure(spec: SearchProviderSpec, answer: FailedAnswer): SearchError {
  const { status } = answer
  const options = { provider: spec.name, status }
  if (status === 401 || status === 403) return unauthorized(spec, answer)
  if (status === 402) {
    return new SearchError(
      'search_quota',
      `${spec.label} refused the search for lack of credit (${statusWords(answer)}): ${
        spec.dashboardUrl ? `add credit or raise the plan at ${spec.dashboardUrl}` : 'add credit'
      }, or wait until the quota renews.`,
      options,
    )
  }
  if (status === 404 || status === 405) {
    return new SearchError(
      'search_not_configured',
      `${spec.label} has no search endpoint at ${answer.where} (${status}). The base URL should be ${spec.baseUrlHint}: fix it, ${saveAgain}.`,
      options,
    )
  }
  if (status === 429) return rateLimited(spec, answer, retryAfterOf(answer.headers))
  if (status === 408 || status === 504) {
    return new SearchError(
      'search_timeout',
      `${spec.label} timed out (${status}). Try again in a minute.`,
      options,
    )
  }
  if (status >= 500) {
    const retryAfterMs = retryAfterOf(answer.headers)
    return new SearchError(
      'search_unavailable',
      `${spec.label} answered ${status} (${said(answer) || 'a server error'}). This is usually temporary: try again in a few minutes.`,
      { ...options, retryAfterMs },
    )
  }
  return new SearchError(
    'search_bad_request',
    `${spec.label} refused the search (${statusWords(answer)}): rephrase the query in plain words, at most 400 characters.`,
    options,
  )
}
