import type { IncomingHttpHeaders } from 'node:http'

// What a fake provider server needs to know about one provider's wire format. The generic server
// (provider-server.ts) does the HTTP, the behaviours and the recording; a Wire only shapes bytes.

export interface Usage {
  inputTokens: number
  outputTokens: number
}

export interface RecordedRequest {
  method: string
  /** Path without the query string: `/v1/chat/completions`. */
  path: string
  query: Record<string, string>
  headers: IncomingHttpHeaders
  /** Parsed JSON when the body was JSON, the raw text otherwise, undefined when empty. */
  body: unknown
}

export type Endpoint = 'models' | 'chat'

export interface Route {
  endpoint: Endpoint
  stream: boolean
  /** The model the request asked for (from the body or the path). */
  model: string
}

export interface ErrorReply {
  status: number
  body: unknown
  headers?: Record<string, string>
}

/** SSE frames of one streamed answer: `head`, then one frame per text delta, then `tail`. */
export interface StreamFrames {
  head: string[]
  deltas: string[]
  tail: string[]
}

/** One function call of an answer. */
export interface ToolCallAnswer {
  /** Undefined only where the provider sends none (Gemini). */
  id: string | undefined
  name: string
  /** The arguments as the model produced them (Anthropic's `input`, Gemini's `args`). */
  input: unknown
  /** The same as JSON text (OpenAI's, Mistral's and Ollama's `arguments`), and cut in pieces for streaming. */
  json: string
  jsonPieces: string[]
}

export interface AnswerInput {
  model: string
  /** The text in streamed pieces; empty: no text at all (a tool-call answer without leading text). */
  pieces: string[]
  /** null: the provider reports no usage. */
  usage: Usage | null
  request: RecordedRequest
  /** Present and non-empty: the answer ends with these function calls (finish reason "tool calls"). */
  toolCalls?: ToolCallAnswer[]
}

export type ErrorKind = 'unauthorized' | 'quota' | 'rate_limited' | 'server_error' | 'bad_request'

export interface ErrorInput {
  kind: ErrorKind
  /** For `server_error` (default 500). */
  status?: number
  /** Raw Retry-After value for `rate_limited`. */
  retryAfter?: string
  model: string
  /** For `unauthorized`: whether the request carried a key at all. */
  hasKey: boolean
}

export interface Wire {
  /** The API root a client is configured with, relative to the server: `/v1`, `/v1beta`, ``. */
  basePath: string
  /** The key the request presents, null when it presents none. */
  keyOf(request: RecordedRequest): string | null
  /** Which endpoint a request is for; null: not one this provider has (answered 404). */
  route(request: RecordedRequest): Route | null
  models(ids: string[]): unknown
  completion(input: AnswerInput): unknown
  stream(input: AnswerInput): StreamFrames
  error(input: ErrorInput): ErrorReply
  /** The id of the `n`th tool call (from 1) when the behaviour names none; undefined: the provider sends none. */
  toolCallId(n: number): string | undefined
  /** The default model list of the models endpoint. */
  defaultModels: string[]
}

export const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`
export const sseEvent = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

export function bearerOf(request: RecordedRequest): string | null {
  const header = request.headers.authorization
  const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header) : null
  return match ? match[1]!.trim() : null
}

/** Seconds a Retry-After value (seconds or an HTTP date) stands for. */
export function retryAfterSeconds(value: string): number {
  if (/^\d+$/.test(value)) return Number(value)
  return Math.max(0, Math.ceil((Date.parse(value) - Date.now()) / 1000))
}

export const retryAfterHeaders = (retryAfter: string | undefined): Record<string, string> =>
  retryAfter === undefined ? {} : { 'retry-after': retryAfter }
