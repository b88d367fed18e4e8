import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { anthropicWire } from './anthropic.wire.ts'
import { googleWire } from './google.wire.ts'
import { mistralWire } from './mistral.wire.ts'
import { ollamaWire } from './ollama.wire.ts'
import { openAiWire } from './openai.wire.ts'
import type { AnswerInput, ErrorKind, RecordedRequest, Route, ToolCallAnswer, Usage, Wire } from './wire.ts'

// Local HTTP servers (port 0) that speak each LLM provider's real wire format, for tests of anything
// that calls a provider: key checks, model lists, streamed and plain answers with usage, and the
// failures that matter (bad key, no credit, rate limit, outage, slow answer, a stream that stalls).

export type ProviderServerKind = 'openai' | 'anthropic' | 'google' | 'mistral' | 'ollama'

/** What the server does with the next request(s). Every endpoint (models and chat) follows it. */
export type ProviderBehaviour =
  /** Answers normally: the model list, or `text` (streamed in `chunks` pieces) with `usage`. */
  | {
      type: 'success'
      /** Default `Hello from <kind>.` */
      text?: string
      /** Number of streamed text deltas (default 3). */
      chunks?: number
      /** Default { inputTokens: 12, outputTokens: 5 }; null: the answer reports no usage. */
      usage?: Usage | null
      /** The model the answer names (default: the one asked for). */
      model?: string
    }
  /**
   * The model calls these functions (several in one step allowed), after `text` if given, and stops
   * with the provider's "tool calls" reason (OpenAI/Mistral/Ollama `tool_calls`, Anthropic `tool_use`,
   * Gemini STOP with functionCall parts). `arguments` is the JSON value of the call's arguments.
   * Ids default to the provider's style (`call_1`, `toolu_1`, Mistral `call00001`; Gemini sends none).
   * Script it with a text answer after it: `{ type: 'script', steps: [toolCalls, success] }`.
   */
  | {
      type: 'tool_calls'
      calls: Array<{ id?: string; name: string; arguments: unknown }>
      text?: string
      /** Default { inputTokens: 12, outputTokens: 5 }; null: the answer reports no usage. */
      usage?: Usage | null
    }
  /** The provider's refusal of a bad key (Gemini: 400 API_KEY_INVALID, as the real API does). */
  | { type: 'unauthorized' }
  /** The provider's "no credit" answer (OpenAI 429 insufficient_quota, Anthropic 400 credit balance, Gemini 429 per-day quota, Mistral 402). */
  | { type: 'quota' }
  /** 429 with `Retry-After: <retryAfter>` (seconds or an HTTP date); Gemini sends it as RetryInfo instead. */
  | { type: 'rate_limited'; retryAfter?: string }
  /** 500 (or `status`, e.g. 503, Anthropic's 529) with the provider's error body. */
  | { type: 'server_error'; status?: number }
  /** The provider's "unknown model" answer (400/404). */
  | { type: 'bad_request' }
  /** Waits `delayMs` before sending any header, then does `then` (default success). */
  | { type: 'slow'; delayMs: number; then?: ProviderBehaviour }
  /** A streamed answer that sends its head and `afterChunks` deltas (default 1), then stalls until the client goes away. A plain request stalls before its headers. */
  | { type: 'hang'; afterChunks?: number; text?: string }
  /** Any status, body and headers. */
  | { type: 'raw'; status: number; body: unknown; headers?: Record<string, string> }
  /** One step per request, in order; the last step repeats (e.g. [500, success] for retry tests). */
  | { type: 'script'; steps: ProviderBehaviour[] }

export interface ProviderServerOptions {
  /** The key the server accepts; any other (or none) is refused like the real provider does. Unset: no key check (Ollama's default). */
  apiKey?: string
  /** Model ids of the models endpoint (a per-provider default otherwise). */
  models?: string[]
  behaviour?: ProviderBehaviour
  /** Pause between streamed frames, so deltas arrive one by one (default 5 ms). */
  chunkDelayMs?: number
}

export interface ProviderServer {
  kind: ProviderServerKind
  /** The API root a client is configured with, version path included: `http://127.0.0.1:PORT/v1`. */
  baseUrl: string
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** Every request received, in order. */
  requests: RecordedRequest[]
  setBehaviour(behaviour: ProviderBehaviour): void
  close(): Promise<void>
}

export type { RecordedRequest, ToolCallAnswer, Usage } from './wire.ts'

const wires: Record<ProviderServerKind, Wire> = {
  openai: openAiWire,
  anthropic: anthropicWire,
  google: googleWire,
  mistral: mistralWire,
  ollama: ollamaWire,
}

export const defaultUsage: Usage = { inputTokens: 12, outputTokens: 5 }

/** Splits `text` into `count` non-empty pieces of about the same length. */
function piecesOf(text: string, count: number): string[] {
  const n = Math.max(1, Math.min(count, text.length))
  const size = Math.ceil(text.length / n)
  const pieces: string[] = []
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size))
  return pieces.length > 0 ? pieces : ['']
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

export async function startProviderServer(
  kind: ProviderServerKind,
  options: ProviderServerOptions = {},
): Promise<ProviderServer> {
  const wire = wires[kind]
  const models = options.models ?? wire.defaultModels
  const chunkDelayMs = options.chunkDelayMs ?? 5
  const requests: RecordedRequest[] = []
  let behaviour: ProviderBehaviour = options.behaviour ?? { type: 'success' }
  let scriptIndex = 0

  function nextStep(): ProviderBehaviour {
    if (behaviour.type !== 'script') return behaviour
    const steps = behaviour.steps
    const step = steps[Math.min(scriptIndex, steps.length - 1)] ?? { type: 'success' }
    scriptIndex++
    return step
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost')
      const request: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: parseBody(Buffer.concat(chunks).toString('utf8')),
      }
      requests.push(request)
      handle(request, res)
    })
  })

  // Timers of slow and streamed answers; a client that goes away cancels its own. One close listener
  // per answer, not one per streamed frame (a long stream would pass Node's listener warning).
  const pending = new WeakMap<http.ServerResponse, NodeJS.Timeout>()
  function later(res: http.ServerResponse, ms: number, fn: () => void): void {
    if (!pending.has(res)) res.once('close', () => clearTimeout(pending.get(res)))
    pending.set(res, setTimeout(fn, ms))
  }

  function sendJson(
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    const bytes = Buffer.from(JSON.stringify(body))
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers })
    res.end(bytes)
  }

  function sendError(
    res: http.ServerResponse,
    request: RecordedRequest,
    route: Route,
    kind: ErrorKind,
    extra = {},
  ) {
    const reply = wire.error({ kind, model: route.model, hasKey: wire.keyOf(request) !== null, ...extra })
    sendJson(res, reply.status, reply.body, reply.headers)
  }

  /** Writes frames one after another, `chunkDelayMs` apart; `stallAfter` frames: stop and wait. */
  function writeFrames(res: http.ServerResponse, frames: string[], stallAfter = frames.length) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    let index = 0
    const next = () => {
      if (res.destroyed) return
      if (index >= frames.length) {
        res.end()
        return
      }
      if (index >= stallAfter) return // hang: nothing more until the client aborts
      res.write(frames[index++])
      later(res, chunkDelayMs, next)
    }
    next()
  }

  function sendAnswer(res: http.ServerResponse, route: Route, answer: AnswerInput) {
    if (!route.stream) return sendJson(res, 200, wire.completion(answer))
    const frames = wire.stream(answer)
    writeFrames(res, [...frames.head, ...frames.deltas, ...frames.tail])
  }

  function act(step: ProviderBehaviour, request: RecordedRequest, route: Route, res: http.ServerResponse) {
    switch (step.type) {
      case 'success': {
        if (route.endpoint === 'models') return sendJson(res, 200, wire.models(models))
        const answer = {
          model: step.model ?? route.model,
          pieces: piecesOf(step.text ?? `Hello from ${kind}.`, step.chunks ?? 3),
          usage: step.usage === undefined ? defaultUsage : step.usage,
          request,
        }
        return sendAnswer(res, route, answer)
      }
      case 'tool_calls': {
        if (route.endpoint === 'models') return sendJson(res, 200, wire.models(models))
        const toolCalls = step.calls.map((call, index): ToolCallAnswer => {
          const json = JSON.stringify(call.arguments ?? {})
          return {
            id: call.id ?? wire.toolCallId(index + 1),
            name: call.name,
            input: call.arguments ?? {},
            json,
            jsonPieces: piecesOf(json, 3),
          }
        })
        return sendAnswer(res, route, {
          model: route.model,
          pieces: step.text ? piecesOf(step.text, 3) : [],
          usage: step.usage === undefined ? defaultUsage : step.usage,
          request,
          toolCalls,
        })
      }
      case 'unauthorized':
      case 'quota':
      case 'bad_request':
        return sendError(res, request, route, step.type)
      case 'rate_limited':
        return sendError(res, request, route, 'rate_limited', { retryAfter: step.retryAfter })
      case 'server_error':
        return sendError(res, request, route, 'server_error', { status: step.status })
      case 'raw':
        return sendJson(res, step.status, step.body, step.headers)
      case 'slow':
        return later(res, step.delayMs, () => act(step.then ?? { type: 'success' }, request, route, res))
      case 'hang': {
        if (!route.stream) return // no headers, no body: the client waits until it gives up
        const frames = wire.stream({
          model: route.model,
          pieces: piecesOf(step.text ?? `Hello from ${kind}, and then nothing more.`, 4),
          usage: defaultUsage,
          request,
        })
        const stallAfter = frames.head.length + Math.min(step.afterChunks ?? 1, frames.deltas.length)
        return writeFrames(res, [...frames.head, ...frames.deltas, ...frames.tail], stallAfter)
      }
      case 'script':
        return act(nextStep(), request, route, res)
    }
  }

  function handle(request: RecordedRequest, res: http.ServerResponse) {
    const route = wire.route(request)
    if (!route) return sendJson(res, 404, { error: `no route ${request.method} ${request.path}` })
    if (options.apiKey !== undefined && wire.keyOf(request) !== options.apiKey)
      return sendError(res, request, route, 'unauthorized')
    act(nextStep(), request, route, res)
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    kind,
    baseUrl: `${origin}${wire.basePath}`,
    origin,
    requests,
    setBehaviour(next) {
      behaviour = next
      scriptIndex = 0
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
    },
  }
}
