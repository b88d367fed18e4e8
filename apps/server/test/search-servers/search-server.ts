import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SearchProviderName } from '../../src/tools/search/search.ts'
import { braveWire } from './brave.wire.ts'
import { searxngWire } from './searxng.wire.ts'
import { tavilyWire } from './tavily.wire.ts'
import { isReply, type RecordedRequest, type Reply, type SearchWire, type StandInResult } from './wire.ts'

// Local HTTP servers (127.0.0.1, port 0) that speak each web search provider's real wire format, for
// tests of anything that searches: results, the key where the provider reads it, and the failures that
// matter (bad key, quota, rate limit, outage, a SearXNG without JSON, a slow or broken answer).

/** What the server does with the next request(s). */
export type SearchBehaviour =
  /** Answers with `results` (default: the wire's own), cut to the count asked for where the provider does. */
  | {
      type: 'success'
      results?: StandInResult[]
      /** SearXNG: engines that did not answer, `[engine, reason]`. */
      unresponsiveEngines?: Array<[string, string]>
    }
  /** The provider's refusal of a bad key (SearXNG: a proxy's 401). */
  | { type: 'unauthorized' }
  /** Brave 429 with the monthly window used up; Tavily 432 (or `status: 433`); SearXNG its limiter's 429. */
  | { type: 'quota'; status?: number }
  /** 429 with `Retry-After: <retryAfter>` when given (Brave also X-RateLimit-Reset). */
  | { type: 'rate_limited'; retryAfter?: string }
  /** 500 (or `status`) with the provider's error body. */
  | { type: 'server_error'; status?: number }
  /** The provider's refusal of a malformed query (Brave 422, Tavily 400, SearXNG 400). */
  | { type: 'bad_request' }
  /** SearXNG without `json` in `search.formats`: Flask's 403 page. */
  | { type: 'json_disabled' }
  /** Waits `delayMs` before sending any header, then does `then` (default success). */
  | { type: 'slow'; delayMs: number; then?: SearchBehaviour }
  /** A 200 whose body is not JSON. */
  | { type: 'garbage' }
  /** Any status, body (a string as it is, else JSON) and headers. */
  | { type: 'raw'; status: number; body: unknown; headers?: Record<string, string> }
  /** One step per request, in order; the last step repeats. */
  | { type: 'script'; steps: SearchBehaviour[] }

export interface SearchServerOptions {
  /** The key the server accepts; any other is refused like the provider does. Brave and Tavily refuse a missing key even when unset. */
  apiKey?: string
  behaviour?: SearchBehaviour
}

export interface SearchServer {
  kind: SearchProviderName
  /** What the client's `baseUrl` is set to: the API root (`http://127.0.0.1:PORT/res/v1` for Brave), the instance root for SearXNG. */
  baseUrl: string
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** Every request received, in order. */
  requests: RecordedRequest[]
  /** The wire's default results, as a test gives results. */
  defaultResults: StandInResult[]
  setBehaviour(behaviour: SearchBehaviour): void
  close(): Promise<void>
}

export type { RecordedRequest, StandInResult } from './wire.ts'

const wires: Record<SearchProviderName, SearchWire> = {
  brave: braveWire,
  searxng: searxngWire,
  tavily: tavilyWire,
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

export async function startSearchServer(
  kind: SearchProviderName,
  options: SearchServerOptions = {},
): Promise<SearchServer> {
  const wire = wires[kind]
  const requests: RecordedRequest[] = []
  let behaviour: SearchBehaviour = options.behaviour ?? { type: 'success' }
  let scriptIndex = 0

  function nextStep(): SearchBehaviour {
    if (behaviour.type !== 'script') return behaviour
    const step = behaviour.steps[Math.min(scriptIndex, behaviour.steps.length - 1)] ?? { type: 'success' }
    scriptIndex++
    return step
  }

  const timers = new Set<NodeJS.Timeout>()

  function send(res: http.ServerResponse, reply: Reply) {
    if (res.destroyed) return
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body)
    const bytes = Buffer.from(text)
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': bytes.length,
      ...reply.headers,
    })
    res.end(bytes)
  }

  function act(step: SearchBehaviour, request: RecordedRequest, res: http.ServerResponse) {
    switch (step.type) {
      case 'success':
      case 'bad_request': {
        const asked = wire.parse(request)
        if (isReply(asked)) return send(res, asked)
        if (step.type === 'bad_request') return send(res, wire.error('bad_request', {}))
        return send(
          res,
          wire.success(asked, step.results ?? wire.defaultResults, {
            ...(step.unresponsiveEngines ? { unresponsiveEngines: step.unresponsiveEngines } : {}),
          }),
        )
      }
      case 'unauthorized':
      case 'json_disabled':
        return send(res, wire.error(step.type, {}))
      case 'quota':
      case 'server_error':
        return send(res, wire.error(step.type, { status: step.status }))
      case 'rate_limited':
        return send(res, wire.error('rate_limited', { retryAfter: step.retryAfter }))
      case 'garbage':
        return send(res, wire.garbage())
      case 'raw':
        return send(res, {
          status: step.status,
          body: step.body,
          ...(step.headers ? { headers: step.headers } : {}),
        })
      case 'slow': {
        const timer = setTimeout(() => {
          timers.delete(timer)
          act(step.then ?? { type: 'success' }, request, res)
        }, step.delayMs)
        timers.add(timer)
        res.once('close', () => {
          clearTimeout(timer)
          timers.delete(timer)
        })
        return
      }
      case 'script':
        return act(nextStep(), request, res)
    }
  }

  function handle(request: RecordedRequest, res: http.ServerResponse) {
    if (!wire.isSearch(request)) return send(res, { status: 404, body: { detail: 'Not Found' } })
    const key = wire.keyOf(request)
    const keyRequired = kind !== 'searxng' || options.apiKey !== undefined
    if (keyRequired && (key === null || (options.apiKey !== undefined && key !== options.apiKey)))
      return send(res, wire.error('unauthorized', {}))
    act(nextStep(), request, res)
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const rawUrl = req.url ?? '/'
      const url = new URL(rawUrl, 'http://localhost')
      const request: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        rawUrl,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: parseBody(Buffer.concat(chunks).toString('utf8')),
      }
      requests.push(request)
      handle(request, res)
    })
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let closing: Promise<void> | undefined

  return {
    kind,
    baseUrl: `${origin}${wire.basePath}`,
    origin,
    requests,
    defaultResults: wire.defaultResults,
    setBehaviour(next) {
      behaviour = next
      scriptIndex = 0
    },
    // Closing twice is fine: a test may close a server to stand for an outage, and afterEach again.
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer)
        server.closeAllConnections()
        server.close((error) => (error ? reject(error) : resolve()))
      })
      return closing
    },
  }
}
