import { loadBuffer } from 'cheerio'
import {
  type EgressPolicy,
  egressFetch,
  egressRefusal,
  type FetchFunction,
} from '../../platform/egress/egress.ts'
import { ToolError } from '../tool-error.ts'
import { reducePage } from './html-text.ts'

// The web tools' one way out: every request and every redirect hop goes through the egress guard
// (checked after DNS resolution, connected to the checked address), redirects are followed by hand so
// each target is checked again, and the body is read with a byte cap under an overall timeout.

export interface WebToolContext {
  /** The installation's egress policy (OPENORCH_EGRESS_ALLOW). */
  egress: EgressPolicy
  /** The run's abort signal: cancel/timeout abort the fetch at once. */
  signal: AbortSignal
}

export interface HttpFetchInput {
  url: string
  method?: 'GET' | 'POST'
  body?: string
  headers?: Record<string, string>
}

export interface HttpFetchResult {
  /** The final URL, after redirects. */
  url: string
  status: number
  /** The media type, without parameters (`text/html`). */
  contentType: string
  /** HTML only. */
  title?: string
  /** HTML reduced to readable text; JSON pretty-printed; plain text as is. */
  text: string
  /** HTML only: absolute http(s) URLs, distinct, at most 200. */
  links?: Array<{ text: string; url: string }>
  /** JSON only, when the whole body was read and parsed (not when `truncated`). */
  json?: unknown
  /** The body was cut at `maxBytes`, or the text at `maxTextChars`. */
  truncated: boolean
  /** Body bytes read (decompressed), at most `maxBytes`. */
  bytes: number
}

export interface FetchLimits {
  /** Body bytes read at most; default 2 MiB. */
  maxBytes?: number
  /** For the whole fetch, redirects and body included; default 15 s. */
  timeoutMs?: number
  /** Characters of `text` returned at most; default 100,000. */
  maxTextChars?: number
}

export const defaultFetchLimits = { maxBytes: 2 * 1024 * 1024, timeoutMs: 15_000, maxTextChars: 100_000 }

const userAgent = 'openOrchestrator/0.1 (+tools)'
const maxRedirects = 5
const maxLinks = 200

/** Fetches `input.url` through the egress guard and returns its content in a form a model reads. */
export async function httpFetch(
  input: HttpFetchInput,
  context: WebToolContext,
  limits: FetchLimits = {},
): Promise<HttpFetchResult> {
  const maxTextChars = limits.maxTextChars ?? defaultFetchLimits.maxTextChars
  const response = await fetchGuarded(input, context, { ...limits, accept: ['html', 'json', 'text'] })
  const head = { url: response.url.href, status: response.status, contentType: response.mediaType }
  if (response.kind === 'html') {
    const page = reducePage(loadHtml(response), response.url, maxLinks)
    const text = cut(page.text, maxTextChars)
    return {
      ...head,
      ...(page.title === undefined ? {} : { title: page.title }),
      text: text.text,
      links: page.links,
      truncated: response.truncated || text.truncated,
      bytes: response.bytes,
    }
  }
  const raw = decodeText(response.body, response.charset)
  if (response.kind === 'json' && !response.truncated) {
    const json = parseJson(raw)
    if (json.ok) {
      const text = cut(JSON.stringify(json.value, null, 2) ?? '', maxTextChars)
      return {
        ...head,
        text: text.text,
        ...(text.truncated ? {} : { json: json.value }),
        truncated: text.truncated,
        bytes: response.bytes,
      }
    }
  }
  // Plain text, or JSON that was cut or does not parse: the model reads it as it came.
  const text = cut(raw, maxTextChars)
  return { ...head, text: text.text, truncated: response.truncated || text.truncated, bytes: response.bytes }
}

export type ContentKind = 'html' | 'json' | 'text'

/** A response read through the guard: where it ended up, what it is, and its (capped) body. */
export interface GuardedResponse {
  url: URL
  status: number
  mediaType: string
  charset: string | undefined
  kind: ContentKind
  body: Buffer
  bytes: number
  truncated: boolean
}

export interface GuardedFetchOptions {
  maxBytes?: number
  timeoutMs?: number
  /** The kinds of content the caller reads; any other is refused before its body is read. */
  accept: readonly ContentKind[]
}

/**
 * The web tools' shared fetch: http(s) only, through the egress guard, redirects followed by hand
 * (each target checked again), body read up to `maxBytes` under one timeout for the whole call.
 * Throws a ToolError, or the run signal's reason when the run is aborted.
 */
export async function fetchGuarded(
  input: HttpFetchInput,
  context: WebToolContext,
  options: GuardedFetchOptions,
): Promise<GuardedResponse> {
  const maxBytes = options.maxBytes ?? defaultFetchLimits.maxBytes
  const timeoutMs = options.timeoutMs ?? defaultFetchLimits.timeoutMs
  const request = checkedRequest(input)
  context.signal.throwIfAborted()

  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new Error('timeout'))
  }, timeoutMs)
  const onAbort = () => controller.abort(context.signal.reason)
  context.signal.addEventListener('abort', onAbort, { once: true })
  try {
    const response = await followRedirects(request, fetchFor(context.egress), controller.signal)
    const contentType = response.response.headers.get('content-type') ?? ''
    const mediaType = contentType.split(';')[0]!.trim().toLowerCase()
    const kind = contentKindOf(mediaType, options.accept)
    if (!kind) {
      await response.response.body?.cancel().catch(() => {})
      throw contentTypeRefused(response.url, mediaType, options.accept)
    }
    const { body, truncated } = await readCapped(response.response.body, maxBytes)
    // No Content-Type is read as text only if it looks like text.
    if (mediaType === '' && body.includes(0))
      throw contentTypeRefused(response.url, mediaType, options.accept)
    return {
      url: response.url,
      status: response.response.status,
      mediaType: mediaType || 'text/plain',
      charset: /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1],
      kind,
      body,
      bytes: body.byteLength,
      truncated,
    }
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason
    if (timedOut) {
      throw new ToolError(
        'fetch_timeout',
        `${input.url} did not answer in full within ${timeoutMs / 1000} s. The site may be slow or down: try again later, or fetch a smaller page.`,
      )
    }
    throw asToolError(error, input.url)
  } finally {
    clearTimeout(timer)
    context.signal.removeEventListener('abort', onAbort)
  }
}

interface CheckedRequest {
  url: URL
  method: 'GET' | 'POST'
  body: string | undefined
  headers: Headers
}

/** Hop-by-hop headers, and those the fetch sets itself. */
const droppedHeaders = new Set([
  'connection',
  'content-length',
  'host',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
])

function checkedRequest(input: HttpFetchInput): CheckedRequest {
  const url = parseHttpUrl(input.url)
  const method = input.method ?? 'GET'
  if (method !== 'GET' && method !== 'POST') {
    throw new ToolError('request_invalid', `The method ${String(method)} is not supported: use GET or POST.`)
  }
  if (method === 'GET' && input.body !== undefined) {
    throw new ToolError(
      'request_invalid',
      'A GET request cannot carry a body: send it with POST, or leave it out.',
    )
  }
  const headers = new Headers()
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    if (droppedHeaders.has(name.trim().toLowerCase())) continue
    try {
      headers.set(name, value)
    } catch {
      throw new ToolError(
        'request_invalid',
        `The header "${name}" is not a valid HTTP header: fix or drop it.`,
      )
    }
  }
  headers.set('user-agent', userAgent)
  if (!headers.has('accept')) headers.set('accept', 'text/html, application/json;q=0.9, text/*;q=0.8')
  return { url, method, body: input.body, headers }
}

/** An http(s) URL without credentials in it, or url_invalid saying what to give instead. */
export function parseHttpUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    throw new ToolError(
      'url_invalid',
      `"${text}" is not a URL: give a full address such as https://example.com/.`,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ToolError(
      'url_invalid',
      `${url.protocol.slice(0, -1)} URLs are not used (${text}): only http and https addresses are.`,
    )
  }
  if (url.username !== '' || url.password !== '') {
    throw new ToolError(
      'url_invalid',
      `${url.host} is given with a user name or password in the URL, which is not sent: put credentials in an Authorization header instead.`,
    )
  }
  return url
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])
// Sent to the origin the caller named; not handed on to another one a redirect points at.
const credentialHeaders = ['authorization', 'cookie']

async function followRedirects(
  request: CheckedRequest,
  fetch: FetchFunction,
  signal: AbortSignal,
): Promise<{ url: URL; response: Response }> {
  let { url, method, body } = request
  const headers = new Headers(request.headers)
  for (let redirects = 0; ; redirects++) {
    const response = await fetch(url, { method, body, headers, redirect: 'manual', signal })
    const location = redirectStatuses.has(response.status) ? response.headers.get('location') : null
    if (location === null) return { url, response }
    await response.body?.cancel().catch(() => {})
    if (redirects === maxRedirects) {
      throw new ToolError(
        'too_many_redirects',
        `${request.url.href} redirected more than ${maxRedirects} times (the last hop pointed to ${location}), so it was given up. Fetch the final address directly if you know it.`,
      )
    }
    const next = redirectTarget(location, url)
    if (next.origin !== url.origin) for (const name of credentialHeaders) headers.delete(name)
    if (response.status === 303 ? method !== 'GET' : response.status <= 302 && method === 'POST') {
      method = 'GET'
      body = undefined
      headers.delete('content-type')
    }
    url = next
  }
}

function redirectTarget(location: string, from: URL): URL {
  let url: URL
  try {
    url = new URL(location, from)
  } catch {
    throw new ToolError('redirect_invalid', `${from.href} redirected to "${location}", which is not a URL.`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ToolError(
      'redirect_invalid',
      `${from.href} redirected to ${url.href}; only http and https addresses are followed.`,
    )
  }
  return url
}

// One guarded fetch (and its connection pools) per policy, not one per call.
const fetches = new WeakMap<EgressPolicy, FetchFunction>()
function fetchFor(policy: EgressPolicy): FetchFunction {
  let fetch = fetches.get(policy)
  if (!fetch) {
    fetch = egressFetch(policy)
    fetches.set(policy, fetch)
  }
  return fetch
}

function contentKindOf(mediaType: string, accept: readonly ContentKind[]): ContentKind | undefined {
  const kind: ContentKind | undefined =
    mediaType === 'text/html' || mediaType === 'application/xhtml+xml'
      ? 'html'
      : mediaType === 'application/json' || mediaType.endsWith('+json')
        ? 'json'
        : mediaType === '' || mediaType.startsWith('text/')
          ? 'text'
          : undefined
  return kind && accept.includes(kind) ? kind : undefined
}

const kindNames: Record<ContentKind, string> = { html: 'HTML', json: 'JSON', text: 'text' }

function contentTypeRefused(url: URL, mediaType: string, accept: readonly ContentKind[]): ToolError {
  const names = accept.map((kind) => kindNames[kind])
  const readable =
    names.length === 1 ? `${names[0]} only` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`
  const what = mediaType === '' ? 'content without a Content-Type that is not text' : `${mediaType} content`
  return new ToolError(
    'content_type_refused',
    `${url.href} answered with ${what}, which is not read: this tool reads ${readable}.`,
  )
}

async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<{ body: Buffer; truncated: boolean }> {
  if (!stream) return { body: Buffer.alloc(0), truncated: false }
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let truncated = false
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size))
      size = maxBytes
      truncated = true
      break
    }
    chunks.push(value)
    size += value.byteLength
  }
  if (truncated) await reader.cancel().catch(() => {})
  else reader.releaseLock()
  return { body: Buffer.concat(chunks, size), truncated }
}

function asToolError(error: unknown, url: string): ToolError {
  if (error instanceof ToolError) return error
  const refused = egressRefusal(error)
  if (refused) return new ToolError('egress_refused', refused.message, { cause: error })
  return new ToolError(
    'fetch_failed',
    `${url} could not be fetched (${networkReason(error)}). Check the address, or try again later.`,
    { cause: error },
  )
}

/** The innermost reason in a "fetch failed" chain: ENOTFOUND, ECONNREFUSED, a TLS message. */
function networkReason(error: unknown): string {
  let reason = error instanceof Error ? error.message : String(error)
  let current: unknown = error
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    reason =
      typeof code === 'string' && !current.message.includes(code)
        ? `${code}: ${current.message}`
        : current.message
    current = current.cause
  }
  return reason
}

export function loadHtml(response: GuardedResponse) {
  return loadBuffer(response.body, {
    encoding: response.charset === undefined ? {} : { transportLayerEncodingLabel: response.charset },
  })
}

function decodeText(body: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body)
  } catch {
    return new TextDecoder('utf-8').decode(body)
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

/** `text` cut at `max` characters, never between the halves of a surrogate pair. */
function cut(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false }
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max
  return { text: text.slice(0, end), truncated: true }
}
