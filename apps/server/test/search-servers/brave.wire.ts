import { randomUUID } from 'node:crypto'
import type { Reply, SearchWire, StandInResult } from './wire.ts'

// Brave Search API, web search (https://api-dashboard.search.brave.com/app/documentation/web-search):
// GET /res/v1/web/search?q=…&count=… (count 1..20, default 20), key in X-Subscription-Token.
// Every answer carries X-RateLimit-{Limit,Policy,Remaining,Reset}: one value per window, per second
// first, then per month. Errors: { type: 'ErrorResponse', error: { id, status, code, detail, meta }, time }.

const perSecond = 1
const perMonth = 2000
const monthResetS = 1_419_704

function limitHeaders(
  remainingSecond: number,
  remainingMonth: number,
  resetSecond = 1,
): Record<string, string> {
  return {
    'x-ratelimit-limit': `${perSecond}, ${perMonth}`,
    'x-ratelimit-policy': `${perSecond};w=1, ${perMonth};w=2592000`,
    'x-ratelimit-remaining': `${remainingSecond}, ${remainingMonth}`,
    'x-ratelimit-reset': `${resetSecond}, ${monthResetS}`,
  }
}

function errorReply(
  status: number,
  code: string,
  detail: string,
  meta: Record<string, unknown>,
  headers: Record<string, string> = {},
): Reply {
  return {
    status,
    body: {
      type: 'ErrorResponse',
      error: { id: randomUUID(), status, code, detail, meta },
      time: Math.floor(Date.now() / 1000),
    },
    headers,
  }
}

function hostOf(url: string): { scheme: string; netloc: string; hostname: string; path: string } {
  try {
    const parsed = new URL(url)
    return {
      scheme: parsed.protocol.replace(':', ''),
      netloc: parsed.host,
      hostname: parsed.hostname,
      path: parsed.pathname === '/' ? '' : `› ${parsed.pathname.split('/').filter(Boolean).join(' › ')}`,
    }
  } catch {
    return { scheme: '', netloc: '', hostname: '', path: '' }
  }
}

const defaultResults: StandInResult[] = [
  {
    title: 'Rust Programming Language',
    url: 'https://www.rust-lang.org/',
    snippet: 'A language empowering everyone to build reliable and efficient <strong>software</strong>.',
  },
  {
    title: 'The <strong>Rust</strong> Book',
    url: 'https://doc.rust-lang.org/book/',
    snippet: 'An introductory book about <strong>Rust</strong> &amp; its ecosystem.',
  },
  {
    title: 'Rust (programming language) - Wikipedia',
    url: 'https://en.wikipedia.org/wiki/Rust_(programming_language)',
    snippet: '<strong>Rust</strong> is a general-purpose programming language emphasizing performance.',
  },
]

export const braveWire: SearchWire = {
  basePath: '/res/v1',
  defaultResults,
  isSearch: (request) => request.method === 'GET' && request.path === '/res/v1/web/search',
  keyOf: (request) => {
    const key = request.headers['x-subscription-token']
    return typeof key === 'string' && key !== '' ? key : null
  },
  parse(request) {
    const query = request.query.q ?? ''
    const countText = request.query.count
    const count = countText === undefined ? 20 : Number(countText)
    const problems: Array<Record<string, unknown>> = []
    if (query.length < 1)
      problems.push({
        type: 'string_too_short',
        loc: ['query', 'q'],
        msg: 'String should have at least 1 character',
      })
    if (query.length > 400)
      problems.push({
        type: 'string_too_long',
        loc: ['query', 'q'],
        msg: 'String should have at most 400 characters',
      })
    if (!Number.isInteger(count) || count < 1 || count > 20)
      problems.push({
        type: 'less_than_equal',
        loc: ['query', 'count'],
        msg: 'Input should be less than or equal to 20',
      })
    if (problems.length > 0)
      return errorReply(422, 'VALIDATION', 'Unable to validate request parameter(s)', { errors: problems })
    return { query, count }
  },
  success(asked, results) {
    const picked = results.slice(0, asked.count ?? 20)
    const body: Record<string, unknown> = {
      type: 'search',
      query: {
        original: asked.query,
        show_strict_warning: false,
        is_navigational: false,
        more_results_available: true,
      },
      mixed: {
        type: 'mixed',
        main: picked.map((_, index) => ({ type: 'web', index, all: false })),
        top: [],
        side: [],
      },
    }
    // A query without web results has no `web` section at all.
    if (picked.length > 0) {
      body.web = {
        type: 'search',
        results: picked.map((result) => {
          const host = hostOf(result.url)
          return {
            title: result.title,
            url: result.url,
            is_source_local: false,
            is_source_both: false,
            description: result.snippet,
            profile: { name: host.hostname, url: result.url, long_name: host.hostname, img: '' },
            language: 'en',
            family_friendly: true,
            type: 'search_result',
            subtype: 'generic',
            is_live: false,
            meta_url: { ...host, favicon: '' },
          }
        }),
        family_friendly: true,
      }
    }
    return { status: 200, body, headers: limitHeaders(0, perMonth - 1) }
  },
  error(kind, { retryAfter, status }) {
    switch (kind) {
      case 'unauthorized':
        return errorReply(401, 'SUBSCRIPTION_TOKEN_INVALID', 'The provided subscription token is invalid.', {
          component: 'authentication',
        })
      case 'quota':
        return errorReply(
          429,
          'QUOTA_LIMITED',
          'Request quota limit exceeded for plan.',
          { plan: 'Free', quota_limit: perMonth, quota_current: perMonth, component: 'rate_limiter' },
          limitHeaders(1, 0),
        )
      case 'rate_limited': {
        const seconds = retryAfter !== undefined && /^\d+$/.test(retryAfter) ? Number(retryAfter) : 1
        return errorReply(
          429,
          'RATE_LIMITED',
          'Request rate limit exceeded for plan.',
          { plan: 'Free', rate_limit: perSecond, rate_current: perSecond + 1, component: 'rate_limiter' },
          {
            ...limitHeaders(0, 1500, seconds),
            ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
          },
        )
      }
      case 'bad_request':
        return errorReply(422, 'VALIDATION', 'Unable to validate request parameter(s)', {
          errors: [{ type: 'value_error', loc: ['query', 'q'], msg: 'Value error, query is not valid' }],
        })
      default:
        return errorReply(status ?? 500, 'INTERNAL_ERROR', 'An unexpected error occurred.', {})
    }
  },
  garbage: () => ({
    status: 200,
    body: '<html><body><h1>502 Bad Gateway</h1></body></html>',
    headers: { 'content-type': 'application/json' },
  }),
}
