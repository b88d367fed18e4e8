import { randomUUID } from 'node:crypto'
import type { Reply, SearchWire, StandInResult } from './wire.ts'

// Tavily search (https://docs.tavily.com/documentation/api-reference/endpoint/search): POST /search
// with JSON { query, max_results (0..20, default 5), … } and Authorization: Bearer tvly-…. Errors are
// { detail: { error } }: 400 bad request, 401 bad or missing key, 429 too many requests, 432 the
// plan's or key's credit limit, 433 the pay-as-you-go limit, 500.

const failure = (status: number, error: string, headers: Record<string, string> = {}): Reply => ({
  status,
  body: { detail: { error } },
  headers,
})

const defaultResults: StandInResult[] = [
  {
    title: 'Tavily — the web access layer for AI agents',
    url: 'https://www.tavily.com/',
    snippet: 'Tavily connects your agents to the web with fast, real-time search.',
  },
  {
    title: 'Tavily documentation',
    url: 'https://docs.tavily.com/',
    snippet: 'Search, extract and crawl the web from one API.',
  },
]

export const tavilyWire: SearchWire = {
  basePath: '',
  defaultResults,
  isSearch: (request) => request.method === 'POST' && request.path === '/search',
  keyOf: (request) => {
    const match = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))
    return match ? match[1]! : null
  },
  parse(request) {
    const body = request.body as { query?: unknown; max_results?: unknown } | undefined
    if (typeof body !== 'object' || body === null) return failure(400, 'Invalid JSON body.')
    if (typeof body.query !== 'string' || body.query.trim() === '') return failure(400, 'Query is missing.')
    const count = body.max_results === undefined ? 5 : body.max_results
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 20)
      return failure(400, 'max_results must be between 0 and 20.')
    return { query: body.query, count }
  },
  success(asked, results) {
    return {
      status: 200,
      body: {
        query: asked.query,
        follow_up_questions: null,
        answer: null,
        images: [],
        results: results.slice(0, asked.count ?? 5).map((result, index) => ({
          url: result.url,
          title: result.title,
          content: result.snippet,
          score: 0.9 - index * 0.1,
          raw_content: null,
        })),
        response_time: 1.05,
        request_id: randomUUID(),
      },
    }
  },
  error(kind, { retryAfter, status }) {
    switch (kind) {
      case 'unauthorized':
        return failure(401, 'Unauthorized: missing or invalid API key.')
      case 'quota':
        return status === 433
          ? failure(
              433,
              'This request exceeds the pay-as-you-go limit. You can increase your limit on the Tavily dashboard.',
            )
          : failure(
              432,
              "This request exceeds your plan's set usage limit. Please upgrade your plan or contact support@tavily.com",
            )
      case 'rate_limited':
        return failure(
          429,
          'Your request has been blocked due to excessive requests. Please reduce rate of requests.',
          retryAfter === undefined ? {} : { 'retry-after': retryAfter },
        )
      case 'bad_request':
        return failure(400, 'Query is invalid.')
      default:
        return failure(status ?? 500, 'Internal Server Error')
    }
  },
  garbage: () => ({
    status: 200,
    body: 'upstream connect error or disconnect/reset before headers',
    headers: { 'content-type': 'text/plain' },
  }),
}
