import type { RawResult } from './search.types.ts'
import { SearchError } from './search-error.ts'
import {
  asRecord,
  commonFailure,
  type FailedAnswer,
  type SearchProviderSpec,
  statusWords,
  unauthorized,
} from './search-provider.ts'

// Tavily search: POST {root}/search with JSON { query, max_results } and Authorization: Bearer <key>.
// Answers { query, answer, images, results: [{ title, url, content, score }], response_time }.
// Errors: { detail: { error } }; 401 a bad or missing key, 429 too many requests, 432 the plan's
// (or the key's) credit limit, 433 the pay-as-you-go limit.

const dashboardUrl = 'https://app.tavily.com'

function tavilyFailure(answer: FailedAnswer): SearchError {
  const options = { provider: 'tavily' as const, status: answer.status }
  if (answer.status === 401 || answer.status === 403) return unauthorized(tavily, answer)
  if (answer.status === 432) {
    return new SearchError(
      'search_quota',
      `Tavily refused the search: the plan's credit limit is reached (${statusWords(answer)}). Upgrade the plan or raise the key's limit at ${dashboardUrl}, or wait until the credits renew.`,
      options,
    )
  }
  if (answer.status === 433) {
    return new SearchError(
      'search_quota',
      `Tavily refused the search: the pay-as-you-go limit is reached (${statusWords(answer)}). Raise it at ${dashboardUrl}.`,
      options,
    )
  }
  if (answer.status === 400 || answer.status === 422) {
    return new SearchError(
      'search_bad_request',
      `Tavily refused the search (${statusWords(answer)}): give a query of plain words, at most 400 characters.`,
      options,
    )
  }
  return commonFailure(tavily, answer)
}

export const tavily: SearchProviderSpec = {
  name: 'tavily',
  label: 'Tavily',
  defaultBaseUrl: 'https://api.tavily.com',
  needsKey: true,
  dashboardUrl,
  baseUrlHint: 'the API root, https://api.tavily.com (or none at all, for that default)',
  request({ baseUrl, apiKey, query, count }) {
    return {
      url: new URL(`${baseUrl}/search`),
      init: {
        method: 'POST',
        headers: {
          accept: 'application/json',
          'content-type': 'application/json',
          authorization: `Bearer ${apiKey ?? ''}`,
        },
        body: JSON.stringify({ query, max_results: count }),
      },
    }
  },
  results(json) {
    const root = asRecord(json)
    if (!root || !Array.isArray(root.results)) return undefined
    return root.results.flatMap((item): RawResult[] => {
      const result = asRecord(item)
      return result ? [{ title: result.title, url: result.url, snippet: result.content }] : []
    })
  },
  failure: tavilyFailure,
}
