import type { Reply, SearchWire, StandInResult } from './wire.ts'

// SearXNG (https://docs.searxng.org/dev/search_api.html): GET or POST /search with q and format=json
// (no key; a proxy in front may want one, here Authorization: Bearer). No count parameter: it answers
// what its engines found. `format` missing: the HTML page. A format not in `search.formats` of
// settings.yml: Flask's 403 page. Its limiter: Flask's 429 page.

function flaskPage(status: number, title: string, text: string): Reply {
  return {
    status,
    body: `<!doctype html>\n<html lang=en>\n<title>${status} ${title}</title>\n<h1>${title}</h1>\n<p>${text}</p>\n`,
    headers: { 'content-type': 'text/html; charset=utf-8' },
  }
}

const defaultResults: StandInResult[] = [
  {
    title: 'SearXNG — a privacy-respecting metasearch engine',
    url: 'https://docs.searxng.org/',
    snippet:
      'SearXNG is a free internet metasearch engine which aggregates results from more than 70 search services.',
  },
  {
    title: 'searxng/searxng on GitHub',
    url: 'https://github.com/searxng/searxng',
    snippet: 'SearXNG is a free internet metasearch engine.   Users are neither tracked nor profiled.',
  },
  {
    title: 'Metasearch engine - Wikipedia',
    url: 'https://en.wikipedia.org/wiki/Metasearch_engine',
    snippet: 'A metasearch engine is an online information retrieval tool.',
  },
]

export const searxngWire: SearchWire = {
  basePath: '',
  defaultResults,
  isSearch: (request) =>
    (request.method === 'GET' || request.method === 'POST') && request.path === '/search',
  keyOf: (request) => {
    const match = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))
    return match ? match[1]! : null
  },
  parse(request) {
    if (request.query.format !== 'json') {
      return {
        status: 200,
        body: '<!DOCTYPE html><html><head><title>SearXNG</title></head><body><form id="search"></form></body></html>',
        headers: { 'content-type': 'text/html; charset=utf-8' },
      }
    }
    const query = request.query.q ?? ''
    if (query.trim() === '') return { status: 400, body: { error: 'search error' } }
    return { query, count: undefined }
  },
  success(asked, results, { unresponsiveEngines = [] }) {
    return {
      status: 200,
      body: {
        query: asked.query,
        number_of_results: 0,
        results: results.map((result, index) => {
          const url = new URL(result.url)
          return {
            url: result.url,
            title: result.title,
            content: result.snippet,
            publishedDate: null,
            thumbnail: '',
            engine: 'duckduckgo',
            template: 'default.html',
            parsed_url: [url.protocol.replace(':', ''), url.host, url.pathname, '', url.search.slice(1), ''],
            img_src: '',
            priority: '',
            engines: ['duckduckgo', 'brave'],
            positions: [index + 1],
            score: 2 / (index + 1),
            category: 'general',
          }
        }),
        answers: [],
        corrections: [],
        infoboxes: [],
        suggestions: [],
        unresponsive_engines: unresponsiveEngines,
      },
    }
  },
  error(kind, { retryAfter, status }) {
    switch (kind) {
      case 'json_disabled':
        return flaskPage(
          403,
          'Forbidden',
          'You don&#39;t have the permission to access the requested resource. It is either read-protected or not readable by the server.',
        )
      case 'unauthorized':
        // A reverse proxy in front of the instance, checking a key.
        return {
          status: 401,
          body: 'Unauthorized',
          headers: { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' },
        }
      // No plans or quotas on a self-hosted instance: its limiter is what refuses.
      case 'quota':
      case 'rate_limited': {
        const page = flaskPage(429, 'Too Many Requests', 'Too many requests.')
        return retryAfter === undefined
          ? page
          : { ...page, headers: { ...page.headers, 'retry-after': retryAfter } }
      }
      case 'bad_request':
        return { status: 400, body: { error: 'search error' } }
      default:
        return flaskPage(
          status ?? 500,
          'Internal Server Error',
          'The server encountered an internal error and was unable to complete your request.',
        )
    }
  },
  garbage: () => ({
    status: 200,
    body: '{"query": "x", "results": [{"url": "https://exa',
    headers: { 'content-type': 'application/json' },
  }),
}
