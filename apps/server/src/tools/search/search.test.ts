import { afterEach, describe, expect, it } from 'vitest'
import {
  type RecordedRequest,
  type SearchServer,
  startSearchServer,
} from '../../../test/search-servers/index.ts'
import { createEgressPolicy, egressFetch, parseEgressAllow } from '../../platform/egress/egress.ts'
import { ToolError } from '../tool-error.ts'
import {
  checkSearchConfig,
  type SearchConfig,
  SearchError,
  type SearchProviderName,
  webSearch,
} from './search.ts'

// Every provider's client against a local server speaking its wire format, through the egress guard
// as in production (opened for 127.0.0.1 only, as an operator would for a SearXNG on the same host).

const fetch = egressFetch(createEgressPolicy(parseEgressAllow('127.0.0.1')))
const servers: SearchServer[] = []

async function serve(kind: SearchProviderName, options: Parameters<typeof startSearchServer>[1] = {}) {
  const server = await startSearchServer(kind, options)
  servers.push(server)
  return server
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

const signal = () => new AbortController().signal

async function failureOf(promise: Promise<unknown>): Promise<SearchError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(SearchError)
  return error as SearchError
}

interface ProviderCase {
  key: string
  /** The key as the request carried it, read where the provider reads it. */
  keyOf(request: RecordedRequest): string | undefined
  /** The count the request asked for; undefined when the provider takes none (SearXNG). */
  countOf(request: RecordedRequest): unknown
  /** Where the message about a refused key sends people. */
  keyAdvice: RegExp
}

const bearer = (request: RecordedRequest) => /^Bearer (.+)$/.exec(String(request.headers.authorization))?.[1]

const providerCases: Record<SearchProviderName, ProviderCase> = {
  brave: {
    key: 'BSAtestkey0123456789',
    keyOf: (request) => request.headers['x-subscription-token'] as string | undefined,
    countOf: (request) => Number(request.query.count),
    keyAdvice:
      /check it at https:\/\/api-dashboard\.search\.brave\.com, then PUT \/api\/v1\/tools\/search again/,
  },
  tavily: {
    key: 'tvly-dev-testkey0123456789',
    keyOf: bearer,
    countOf: (request) => (request.body as { max_results?: unknown }).max_results,
    keyAdvice: /check it at https:\/\/app\.tavily\.com, then PUT \/api\/v1\/tools\/search again/,
  },
  searxng: {
    key: 'proxy-secret-0123456789',
    keyOf: bearer,
    countOf: () => undefined,
    keyAdvice: /set it as apiKey \(sent as Authorization: Bearer\), then PUT \/api\/v1\/tools\/search again/,
  },
}

const messy = [
  {
    title: '<b>Tea</b> &amp; <i>biscuits</i>',
    url: 'https://example.com/tea',
    snippet: 'Best <strong>tea</strong>\n\n   in   town &lt;b&gt;',
  },
  { title: 'Script', url: 'javascript:alert(1)', snippet: 'dropped' },
  { title: 'Mail', url: 'mailto:someone@example.com', snippet: 'dropped' },
  { title: 'FTP', url: 'ftp://files.example.com/x', snippet: 'dropped' },
  { title: 'Long', url: 'http://example.org/long', snippet: 'word '.repeat(400) },
  { title: 'x'.repeat(500), url: 'https://example.net/', snippet: '' },
]

describe.each(Object.keys(providerCases) as SearchProviderName[])('%s', (kind) => {
  const { key, keyOf, countOf, keyAdvice } = providerCases[kind]
  const configOf = (server: SearchServer, apiKey = key): SearchConfig => ({
    provider: kind,
    apiKey,
    baseUrl: server.baseUrl,
  })

  it('maps the results to plain text, drops links that are not http(s), and cuts long text', async () => {
    const server = await serve(kind, { apiKey: key, behaviour: { type: 'success', results: messy } })
    const results = await webSearch(configOf(server), { query: 'tea', count: 10, signal: signal(), fetch })
    expect(results).toHaveLength(3)
    expect(results[0]).toEqual({
      title: 'Tea & biscuits',
      url: 'https://example.com/tea',
      snippet: 'Best tea in town <b>',
    })
    expect(results[1]!.url).toBe('http://example.org/long')
    expect(results[1]!.snippet.length).toBeLessThanOrEqual(1_000)
    expect(results[1]!.snippet.endsWith('…')).toBe(true)
    expect(results[2]!.title.length).toBeLessThanOrEqual(300)
  })

  it('asks for the count it was given and returns no more', async () => {
    const server = await serve(kind, { apiKey: key })
    const results = await webSearch(configOf(server), {
      query: 'search engines',
      count: 1,
      signal: signal(),
      fetch,
    })
    expect(results).toHaveLength(1)
    const request = server.requests[0]!
    if (kind !== 'searxng') expect(countOf(request)).toBe(1)
    const defaulted = await webSearch(configOf(server), { query: 'search engines', signal: signal(), fetch })
    if (kind !== 'searxng') expect(countOf(server.requests[1]!)).toBe(8)
    expect(defaulted.length).toBeGreaterThan(1)
  })

  it('sends the key where the provider reads it, and never in the URL', async () => {
    const server = await serve(kind, { apiKey: key })
    await webSearch(configOf(server), { query: 'privacy', signal: signal(), fetch })
    const request = server.requests[0]!
    expect(keyOf(request)).toBe(key)
    expect(request.rawUrl).not.toContain(key)
    expect(request.rawUrl).not.toContain(encodeURIComponent(key))
    expect(JSON.stringify(request.query)).not.toContain(key)
  })

  it('maps a refused key to search_unauthorized, not retryable, saying where to check it', async () => {
    const server = await serve(kind, { apiKey: key })
    const error = await failureOf(
      webSearch(configOf(server, 'wrong-key'), { query: 'q', signal: signal(), fetch }),
    )
    expect(error.code).toBe('search_unauthorized')
    expect(error.retryable).toBe(false)
    expect(error.status).toBe(401)
    expect(error.message).toMatch(keyAdvice)
    expect(error.message).not.toContain('wrong-key')
  })

  it('maps a rate limit to search_rate_limited with retryAfterMs from Retry-After', async () => {
    const server = await serve(kind, { behaviour: { type: 'rate_limited', retryAfter: '7' } })
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_rate_limited')
    expect(error.retryable).toBe(true)
    expect(error.retryAfterMs).toBe(7_000)
    expect(error.message).toContain('asks to wait 7 s')
  })

  it('maps a server error to search_unavailable, retryable', async () => {
    const server = await serve(kind, { behaviour: { type: 'server_error', status: 503 } })
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_unavailable')
    expect(error.retryable).toBe(true)
    expect(error.status).toBe(503)
    expect(error.message).toMatch(/answered 503 .*usually temporary/)
  })

  it('gives up on a slow answer with search_timeout', async () => {
    const server = await serve(kind, { behaviour: { type: 'slow', delayMs: 5_000 } })
    const started = Date.now()
    const error = await failureOf(
      webSearch(configOf(server), { query: 'q', signal: signal(), fetch, timeoutMs: 200 }),
    )
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(error.code).toBe('search_timeout')
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('did not answer within 0.2 s')
  })

  it("stops at once when the run's signal aborts, with its reason", async () => {
    const server = await serve(kind, { behaviour: { type: 'slow', delayMs: 5_000 } })
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    setTimeout(() => controller.abort(reason), 50)
    const started = Date.now()
    await expect(
      webSearch(configOf(server), { query: 'q', signal: controller.signal, fetch, timeoutMs: 10_000 }),
    ).rejects.toBe(reason)
    expect(Date.now() - started).toBeLessThan(2_000)
    await expect(webSearch(configOf(server), { query: 'q', signal: controller.signal, fetch })).rejects.toBe(
      reason,
    )
    expect(server.requests).toHaveLength(1)
  })

  it('maps an answer that is not JSON to search_answer_invalid', async () => {
    const server = await serve(kind, { behaviour: { type: 'garbage' } })
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_answer_invalid')
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(/not a JSON search answer\. The base URL should be/)
  })

  it('maps JSON in the wrong shape to search_answer_invalid', async () => {
    const server = await serve(kind, { behaviour: { type: 'raw', status: 200, body: { hits: [] } } })
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_answer_invalid')
    expect(error.message).toContain('no list of results')
  })

  it('maps a refused query to search_bad_request', async () => {
    const server = await serve(kind, { behaviour: { type: 'bad_request' } })
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_bad_request')
    expect(error.retryable).toBe(false)
  })

  it('maps a base URL without a search endpoint to search_not_configured', async () => {
    const server = await serve(kind)
    const config = { ...configOf(server), baseUrl: `${server.origin}/nothing-here` }
    const error = await failureOf(webSearch(config, { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_not_configured')
    expect(error.message).toContain(`${server.origin}/nothing-here`)
    expect(error.message).toContain('The base URL should be')
  })

  it('does not follow a redirect, so the key cannot travel', async () => {
    const elsewhere = await serve(kind)
    const server = await serve(kind, {
      behaviour: { type: 'raw', status: 307, body: '', headers: { location: `${elsewhere.baseUrl}/search` } },
    })
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_not_configured')
    expect(error.message).toContain(`redirect (307 to ${elsewhere.origin})`)
    expect(elsewhere.requests).toHaveLength(0)
  })

  it('checkSearchConfig passes with a good configuration and names what is wrong with a bad one', async () => {
    const server = await serve(kind, { apiKey: key })
    await expect(checkSearchConfig(configOf(server), { signal: signal(), fetch })).resolves.toBeUndefined()
    expect(server.requests).toHaveLength(1)
    const error = await failureOf(checkSearchConfig(configOf(server, 'bad-key'), { signal: signal(), fetch }))
    expect(error.code).toBe('search_unauthorized')
    expect(error.message).toMatch(keyAdvice)
  })

  it('reports a closed port as search_unavailable, naming the address', async () => {
    const server = await serve(kind)
    await server.close()
    const error = await failureOf(webSearch(configOf(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_unavailable')
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('connection refused')
    expect(error.message).toContain(server.origin)
  })
})

describe('brave', () => {
  const key = providerCases.brave.key
  const config = (server: SearchServer): SearchConfig => ({
    provider: 'brave',
    apiKey: key,
    baseUrl: server.baseUrl,
  })

  it('sends GET /web/search with q, count and Accept: application/json', async () => {
    const server = await serve('brave', { apiKey: key })
    await webSearch(config(server), { query: '  rust   language ', count: 5, signal: signal(), fetch })
    const request = server.requests[0]!
    expect(request.method).toBe('GET')
    expect(request.path).toBe('/res/v1/web/search')
    expect(request.query).toEqual({ q: 'rust language', count: '5' })
    expect(request.headers.accept).toBe('application/json')
  })

  it('strips the <strong> marks Brave puts in titles and descriptions', async () => {
    const server = await serve('brave', { apiKey: key })
    const results = await webSearch(config(server), { query: 'rust', signal: signal(), fetch })
    expect(results.map((result) => result.title)).toContain('The Rust Book')
    expect(results.map((result) => result.snippet)).toContain(
      'An introductory book about Rust & its ecosystem.',
    )
    expect(JSON.stringify(results)).not.toContain('<strong>')
  })

  it('returns no results for an answer without a web section', async () => {
    const server = await serve('brave', { apiKey: key, behaviour: { type: 'success', results: [] } })
    expect(await webSearch(config(server), { query: 'zxqv', signal: signal(), fetch })).toEqual([])
  })

  it('tells a used-up monthly quota (429, monthly window at 0) from a rate limit', async () => {
    const server = await serve('brave', { apiKey: key, behaviour: { type: 'quota' } })
    const error = await failureOf(webSearch(config(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_quota')
    expect(error.retryable).toBe(false)
    expect(error.retryAfterMs).toBeUndefined()
    expect(error.message).toContain('it renews in 16 days')
    expect(error.message).toContain('https://api-dashboard.search.brave.com')
  })

  it('takes the wait from X-RateLimit-Reset when there is no Retry-After', async () => {
    const server = await serve('brave', { apiKey: key, behaviour: { type: 'rate_limited' } })
    const error = await failureOf(webSearch(config(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_rate_limited')
    expect(error.retryAfterMs).toBe(1_000)
  })

  it('reads 422 SUBSCRIPTION_TOKEN_INVALID as a refused key', async () => {
    const server = await serve('brave', {
      behaviour: {
        type: 'raw',
        status: 422,
        body: {
          type: 'ErrorResponse',
          error: {
            status: 422,
            code: 'SUBSCRIPTION_TOKEN_INVALID',
            detail: 'The provided subscription token is invalid.',
          },
        },
      },
    })
    const error = await failureOf(webSearch(config(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_unauthorized')
    expect(error.message).toBe(
      'Brave refused the key (422: The provided subscription token is invalid): check it at https://api-dashboard.search.brave.com, then PUT /api/v1/tools/search again.',
    )
  })

  it('never quotes the key back, even when the provider echoes it', async () => {
    const server = await serve('brave', {
      behaviour: {
        type: 'raw',
        status: 401,
        body: { error: { code: 'X', detail: `token ${key} is unknown` } },
      },
    })
    const error = await failureOf(webSearch(config(server), { query: 'q', signal: signal(), fetch }))
    expect(error.message).not.toContain(key)
    expect(error.message).toContain('token *** is unknown')
  })

  it('needs a key: search_not_configured before any request', async () => {
    const server = await serve('brave')
    const error = await failureOf(
      webSearch({ provider: 'brave', baseUrl: server.baseUrl }, { query: 'q', signal: signal(), fetch }),
    )
    expect(error.code).toBe('search_not_configured')
    expect(error.message).toContain('No API key is set for Brave search')
    expect(server.requests).toHaveLength(0)
  })
})

describe('tavily', () => {
  const key = providerCases.tavily.key
  const config = (server: SearchServer): SearchConfig => ({
    provider: 'tavily',
    apiKey: key,
    baseUrl: server.baseUrl,
  })

  it('sends POST /search with JSON { query, max_results } and a Bearer key', async () => {
    const server = await serve('tavily', { apiKey: key })
    const results = await webSearch(config(server), { query: 'agents', count: 2, signal: signal(), fetch })
    expect(results).toHaveLength(2)
    const request = server.requests[0]!
    expect(request.method).toBe('POST')
    expect(request.path).toBe('/search')
    expect(request.headers['content-type']).toBe('application/json')
    expect(request.headers.authorization).toBe(`Bearer ${key}`)
    expect(request.body).toEqual({ query: 'agents', max_results: 2 })
  })

  it.each([
    [432, "plan's credit limit"],
    [433, 'pay-as-you-go limit'],
  ])('maps %i to search_quota', async (status, words) => {
    const server = await serve('tavily', { apiKey: key, behaviour: { type: 'quota', status } })
    const error = await failureOf(webSearch(config(server), { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_quota')
    expect(error.retryable).toBe(false)
    expect(error.status).toBe(status)
    expect(error.message).toContain(words)
    expect(error.message).toContain('https://app.tavily.com')
  })

  it('reads a Retry-After given as an HTTP date', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString()
    const server = await serve('tavily', { apiKey: key, behaviour: { type: 'rate_limited', retryAfter: at } })
    const error = await failureOf(webSearch(config(server), { query: 'q', signal: signal(), fetch }))
    expect(error.retryAfterMs).toBeGreaterThan(25_000)
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000)
  })
})

describe('searxng', () => {
  it('sends GET /search?q=…&format=json, without a key unless one is set', async () => {
    const server = await serve('searxng')
    const results = await webSearch(
      { provider: 'searxng', baseUrl: `${server.baseUrl}/` },
      { query: 'metasearch', count: 2, signal: signal(), fetch },
    )
    expect(results).toHaveLength(2)
    const request = server.requests[0]!
    expect(request.method).toBe('GET')
    expect(request.path).toBe('/search')
    expect(request.query).toEqual({ q: 'metasearch', format: 'json' })
    expect(request.headers.authorization).toBeUndefined()
    expect(results[1]!.snippet).toBe(
      'SearXNG is a free internet metasearch engine. Users are neither tracked nor profiled.',
    )
  })

  it('takes a base URL that already ends in /search', async () => {
    const server = await serve('searxng')
    await webSearch(
      { provider: 'searxng', baseUrl: `${server.baseUrl}/search` },
      { query: 'q', signal: signal(), fetch },
    )
    expect(server.requests[0]!.path).toBe('/search')
  })

  it('says to enable json in search.formats of settings.yml when the instance answers 403', async () => {
    const server = await serve('searxng', { behaviour: { type: 'json_disabled' } })
    const error = await failureOf(
      checkSearchConfig({ provider: 'searxng', baseUrl: server.baseUrl }, { signal: signal(), fetch }),
    )
    expect(error.code).toBe('search_not_configured')
    expect(error.retryable).toBe(false)
    expect(error.message).toContain('refused the JSON format (403)')
    expect(error.message).toContain('`json` to `search.formats` in its settings.yml')
  })

  it('says the same when an instance ignores format=json and answers HTML', async () => {
    const server = await serve('searxng', {
      behaviour: {
        type: 'raw',
        status: 200,
        body: '<html><body>results</body></html>',
        headers: { 'content-type': 'text/html' },
      },
    })
    const error = await failureOf(
      webSearch({ provider: 'searxng', baseUrl: server.baseUrl }, { query: 'q', signal: signal(), fetch }),
    )
    expect(error.code).toBe('search_answer_invalid')
    expect(error.message).toContain('with text/html, not a JSON search answer')
    expect(error.message).toContain("`json` must be in `search.formats` of the instance's settings.yml")
  })

  it('reports engines that all failed instead of an empty list', async () => {
    const server = await serve('searxng', {
      behaviour: {
        type: 'success',
        results: [],
        unresponsiveEngines: [
          ['google', 'CAPTCHA'],
          ['duckduckgo', 'timeout'],
        ],
      },
    })
    const error = await failureOf(
      webSearch({ provider: 'searxng', baseUrl: server.baseUrl }, { query: 'q', signal: signal(), fetch }),
    )
    expect(error.code).toBe('search_unavailable')
    expect(error.message).toContain('google (CAPTCHA), duckduckgo (timeout)')
  })

  it('needs a base URL: search_not_configured', async () => {
    const error = await failureOf(webSearch({ provider: 'searxng' }, { query: 'q', signal: signal(), fetch }))
    expect(error.code).toBe('search_not_configured')
    expect(error.message).toContain('"baseUrl": "https://searx.example.org"')
  })

  it('is refused by the egress guard at a private address the operator has not opened', async () => {
    const server = await serve('searxng')
    const guarded = egressFetch(createEgressPolicy([]))
    const error = await webSearch(
      { provider: 'searxng', baseUrl: server.baseUrl },
      { query: 'q', signal: signal(), fetch: guarded },
    ).catch((thrown: unknown) => thrown)
    expect(error).toBeInstanceOf(ToolError)
    expect((error as ToolError).code).toBe('egress_refused')
    expect((error as SearchError).retryable).toBe(false)
    expect((error as Error).message).toContain('OPENORCH_EGRESS_ALLOW')
    expect(server.requests).toHaveLength(0)
  })
})

describe('configuration and arguments', () => {
  const fine = { signal: signal(), fetch }

  it.each<[SearchConfig, RegExp]>([
    [
      { provider: 'bing' } as unknown as SearchConfig,
      /"bing" is not a search provider: choose brave, searxng, tavily/,
    ],
    [{ provider: 'searxng', baseUrl: 'ftp://searx.example.org' }, /is not an http\(s\) address/],
    [{ provider: 'searxng', baseUrl: 'not a url' }, /"not a url" is not a URL/],
    [{ provider: 'searxng', baseUrl: 'https://user:pw@searx.example.org' }, /carries a user name, password/],
    [
      { provider: 'tavily', apiKey: '   ' },
      /No API key is set for Tavily search: create one at https:\/\/app\.tavily\.com/,
    ],
  ])('refuses %j as search_not_configured', async (config, message) => {
    const error = await failureOf(webSearch(config, { ...fine, query: 'q' }))
    expect(error.code).toBe('search_not_configured')
    expect(error.message).toMatch(message)
  })

  it.each([
    ['an empty query', { query: '   ' }, /query is empty/],
    ['a query of 401 characters', { query: 'x'.repeat(401) }, /has 401 characters; at most 400/],
    ['count 0', { query: 'q', count: 0 }, /1 to 20 results; 0 were asked for/],
    ['count 21', { query: 'q', count: 21 }, /1 to 20 results; 21/],
    ['count 2.5', { query: 'q', count: 2.5 }, /1 to 20 results; 2.5/],
  ])('refuses %s as search_bad_request before any request', async (_, input, message) => {
    const server = await serve('brave')
    const error = await failureOf(
      webSearch({ provider: 'brave', apiKey: 'k', baseUrl: server.baseUrl }, { ...fine, ...input }),
    )
    expect(error.code).toBe('search_bad_request')
    expect(error.message).toMatch(message)
    expect(server.requests).toHaveLength(0)
  })
})
