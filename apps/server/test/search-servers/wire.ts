import type { IncomingHttpHeaders } from 'node:http'

// What a fake search server needs to know about one provider's wire format. The generic server
// (search-server.ts) does the HTTP, the behaviours and the recording; a wire only shapes bytes.

export interface RecordedRequest {
  method: string
  /** Path without the query string: `/res/v1/web/search`. */
  path: string
  /** The path with its query string, as sent (to check that no key travels in the URL). */
  rawUrl: string
  query: Record<string, string>
  headers: IncomingHttpHeaders
  /** Parsed JSON when the body was JSON, the raw text otherwise, undefined when empty. */
  body: unknown
}

/** A result as a test gives it; each wire names the fields its provider's way (`description`, `content`). */
export interface StandInResult {
  title: string
  url: string
  snippet: string
}

export interface Reply {
  status: number
  /** A string is sent as it is; anything else as JSON. */
  body: unknown
  headers?: Record<string, string>
}

/** The search a request asks for, once it passed the wire's own checks. */
export interface SearchAsked {
  query: string
  /** Brave `count`, Tavily `max_results`; SearXNG has none. */
  count: number | undefined
}

export type ErrorKind =
  | 'unauthorized'
  | 'quota'
  | 'rate_limited'
  | 'server_error'
  | 'json_disabled'
  | 'bad_request'

export interface ErrorInput {
  /** Retry-After as sent (seconds or an HTTP date). */
  retryAfter?: string | undefined
  status?: number | undefined
}

export interface SearchWire {
  /** The path of the API root under the server's origin (`/res/v1` for Brave). */
  basePath: string
  /** Whether this request is a search of this wire at all (else the server answers 404). */
  isSearch(request: RecordedRequest): boolean
  /** The key the request carries, where the provider reads it; null when none. */
  keyOf(request: RecordedRequest): string | null
  /** The search asked for, or the provider's refusal of a malformed request. */
  parse(request: RecordedRequest): SearchAsked | Reply
  success(
    asked: SearchAsked,
    results: StandInResult[],
    extra: { unresponsiveEngines?: Array<[string, string]> },
  ): Reply
  error(kind: ErrorKind, input: ErrorInput): Reply
  /** What a broken upstream sends with a 200: a body that is not JSON. */
  garbage(): Reply
  defaultResults: StandInResult[]
}

export const isReply = (value: SearchAsked | Reply): value is Reply => 'status' in value
