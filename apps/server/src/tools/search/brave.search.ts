import type { RawResult } from './search.types.ts'
import { SearchError } from './search-error.ts'
import {
  asRecord,
  commonFailure,
  type FailedAnswer,
  maxRetryAfterMs,
  rateLimited,
  retryAfterOf,
  type SearchProviderSpec,
  statusWords,
  unauthorized,
} from './search-provider.ts'

// Brave Search API, web search: GET {root}/web/search?q=…&count=… with the key in
// X-Subscription-Token. Answers { type: 'search', web: { results: [{ title, url, description }] } },
// the description marking the query's words with <strong>. A query without web results has no `web`.
// Errors: { type: 'ErrorResponse', error: { code, detail, status, meta } }; each answer carries
// X-RateLimit-{Limit,Policy,Remaining,Reset}, one comma-separated value per window (per second, per month).

const dashboardUrl = 'https://api-dashboard.search.brave.com'

/** One window of Brave's rate limit headers (policy `1;w=1, 15000;w=2592000`: per second, per month). */
interface LimitWindow {
  windowS: number | undefined
  remaining: number | undefined
  resetS: number | undefined
}

function numbers(value: string | null): Array<number | undefined> {
  return (value ?? '')
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      const number = Number(part.trim().split(';')[0])
      return Number.isFinite(number) && number >= 0 ? number : undefined
    })
}

function limitWindows(headers: Headers): LimitWindow[] {
  const remaining = numbers(headers.get('x-ratelimit-remaining'))
  const reset = numbers(headers.get('x-ratelimit-reset'))
  const windows = (headers.get('x-ratelimit-policy') ?? '').split(',').map((part) => {
    const match = /;\s*w=(\d+)/.exec(part)
    return match ? Number(match[1]) : undefined
  })
  return remaining.map((left, index) => ({
    // Without a policy header, Brave's order is per second first, then per month.
    windowS: windows[index] ?? (index === 0 ? 1 : 2_592_000),
    remaining: left,
    resetS: reset[index],
  }))
}

const aDay = 86_400

function durationWords(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`
  if (seconds < 2 * aDay) return `${Math.round(seconds / 3600)} h`
  return `${Math.round(seconds / aDay)} days`
}

function braveFailure(answer: FailedAnswer): SearchError {
  const code = String(asRecord(asRecord(answer.json)?.error)?.code ?? '')
  // Brave answers a key it does not know with 422 SUBSCRIPTION_TOKEN_INVALID as well as 401.
  if (/TOKEN_INVALID|UNAUTHORIZED/i.test(code)) return unauthorized(brave, answer)
  if (answer.status === 429 || /QUOTA|USAGE_LIMIT/i.test(code)) {
    const exhausted = limitWindows(answer.headers).filter((window) => window.remaining === 0)
    const monthly = exhausted.find((window) => (window.windowS ?? 0) >= aDay)
    if (monthly || /QUOTA|USAGE_LIMIT/i.test(code)) {
      const renews = monthly?.resetS === undefined ? '' : `; it renews in ${durationWords(monthly.resetS)}`
      return new SearchError(
        'search_quota',
        `Brave's quota for this key is used up (${statusWords(answer)}${renews}): raise the plan's limit at ${dashboardUrl}, or wait until it renews.`,
        { provider: 'brave', status: answer.status },
      )
    }
    const resetS = exhausted[0]?.resetS ?? limitWindows(answer.headers)[0]?.resetS
    const retryAfterMs =
      retryAfterOf(answer.headers) ??
      (resetS === undefined ? undefined : Math.min(resetS * 1000, maxRetryAfterMs))
    return rateLimited(brave, answer, retryAfterMs)
  }
  if (answer.status === 422 || answer.status === 400) {
    return new SearchError(
      'search_bad_request',
      `Brave refused the search (${statusWords(answer)}): give a query of plain words, at most 400 characters and 50 words.`,
      { provider: 'brave', status: answer.status },
    )
  }
  return commonFailure(brave, answer)
}

export const brave: SearchProviderSpec = {
  name: 'brave',
  label: 'Brave',
  defaultBaseUrl: 'https://api.search.brave.com/res/v1',
  needsKey: true,
  dashboardUrl,
  baseUrlHint:
    'the API root with its version path, https://api.search.brave.com/res/v1 (or none at all, for that default)',
  request({ baseUrl, apiKey, query, count }) {
    const url = new URL(`${baseUrl}/web/search`)
    url.searchParams.set('q', query)
    url.searchParams.set('count', String(count))
    return {
      url,
      init: {
        method: 'GET',
        headers: { accept: 'application/json', 'x-subscription-token': apiKey ?? '' },
      },
    }
  },
  results(json) {
    const root = asRecord(json)
    if (!root) return undefined
    const web = asRecord(root.web)
    if (!web) return root.type === 'search' ? [] : undefined
    if (!Array.isArray(web.results)) return undefined
    return web.results.flatMap((item): RawResult[] => {
      const result = asRecord(item)
      return result ? [{ title: result.title, url: result.url, snippet: result.description }] : []
    })
  },
  failure: braveFailure,
}
