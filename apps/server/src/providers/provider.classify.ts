import { APICallError, LoadAPIKeyError, RetryError } from 'ai'
import { egressRefusal } from '../platform/egress/egress.ts'
import { networkFailureReason } from '../platform/egress/network-reason.ts'
import { providerCatalog } from './provider.catalog.ts'
import { ProviderError, parseRetryAfter } from './provider.error.ts'
import type { ProviderErrorCode, ProviderName } from './provider.types.ts'
import { maxRetryAfterMs, plainText } from './upstream-guard.ts'

// Turns what a provider did — an HTTP answer, a network failure, an AI SDK error — into one
// ProviderError with a code and a sentence for people. Validation (PUT /providers/…) and
// generation share the rules; they differ only where a person's next step differs.

/** `validate`: a person is setting the provider up (a wrong base URL is the likely cause). `call`: a run. */
export type Phase = 'validate' | 'call'

export interface HttpAnswer {
  status: number
  headers: Headers | Record<string, string | undefined>
  body: string
  /** The URL that was called (for people: which base URL answered). */
  url: string
}

interface ErrorBody {
  message: string | undefined
  /** Machine-readable type/code/status strings the body carries (`insufficient_quota`, `RESOURCE_EXHAUSTED`, …). */
  markers: string[]
  /** Gemini's QuotaFailure quota ids. */
  quotaIds: string[]
  /** Gemini's RetryInfo.retryDelay (`26s`). */
  retryDelay: string | undefined
}

const asRecord = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/** Reads the error bodies of all five providers (and OpenAI-compatible servers) into one shape. */
function readErrorBody(value: unknown): ErrorBody {
  // Gemini's streaming endpoints wrap the error in an array.
  const root = asRecord(Array.isArray(value) ? value[0] : value) ?? {}
  const error = asRecord(root.error)
  const markers = [error?.type, error?.code, error?.status, root.type, root.code]
    .map((marker) => (typeof marker === 'number' ? undefined : asString(marker)))
    .filter((marker): marker is string => marker !== undefined)
  const quotaIds: string[] = []
  let retryDelay: string | undefined
  for (const detail of Array.isArray(error?.details) ? error.details : []) {
    const record = asRecord(detail)
    if (!record) continue
    const reason = asString(record.reason)
    if (reason) markers.push(reason)
    retryDelay ??= asString(record.retryDelay)
    for (const violation of Array.isArray(record.violations) ? record.violations : []) {
      const quotaId = asString(asRecord(violation)?.quotaId)
      if (quotaId) quotaIds.push(quotaId)
    }
  }
  const message =
    asString(error?.message) ?? asString(root.error) ?? asString(root.message) ?? asString(root.detail)
  return { message, markers, quotaIds, retryDelay }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function headerOf(headers: HttpAnswer['headers'], name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name)
  return key === undefined ? undefined : headers[key]
}

/** A provider's own words, short and on one line, for details people read. */
function quote(message: string | undefined): string {
  return message ? plainText(message, 300) : ''
}

const creditWords =
  /credit balance|insufficient[_ ](quota|funds|credit|balance)|payment required|out of credit|no credit|prepayment credits|credits are depleted/i

function retryAfterMsOf(answer: HttpAnswer, body: ErrorBody, now: number): number | undefined {
  const asked = askedWaitMs(answer, body, now)
  return asked === undefined ? undefined : Math.min(Math.max(asked, 0), maxRetryAfterMs)
}

function askedWaitMs(answer: HttpAnswer, body: ErrorBody, now: number): number | undefined {
  const ms = headerOf(answer.headers, 'retry-after-ms')
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms))
  const header = parseRetryAfter(headerOf(answer.headers, 'retry-after'), now)
  if (header !== undefined) return header
  // Gemini: google.rpc.RetryInfo { retryDelay: "26s" } instead of a header.
  const delay = body.retryDelay ? /^(\d+(?:\.\d+)?)s$/.exec(body.retryDelay) : null
  return delay ? Math.round(Number(delay[1]) * 1000) : undefined
}

function codeOf(provider: ProviderName, status: number, body: ErrorBody): ProviderErrorCode {
  const marked = (...names: string[]) => body.markers.some((marker) => names.includes(marker))
  if (status === 402 || marked('insufficient_quota', 'billing_not_active', 'billing_hard_limit_reached'))
    return 'provider_quota'
  if (provider === 'google' && (status === 429 || marked('RESOURCE_EXHAUSTED'))) {
    // Gemini says RESOURCE_EXHAUSTED for per-minute limits and for used-up daily quotas alike.
    // A per-day quota will not come back within a run's retries, so it counts as no credit.
    if (body.quotaIds.some((id) => /PerDay/i.test(id)) || creditWords.test(body.message ?? ''))
      return 'provider_quota'
    return 'provider_rate_limited'
  }
  if ([400, 403, 429].includes(status) && creditWords.test(body.message ?? '')) return 'provider_quota'
  if (status === 401 || status === 403) return 'provider_auth'
  if (marked('API_KEY_INVALID') || /API key (not valid|expired)/i.test(body.message ?? ''))
    return 'provider_auth'
  if (status === 429) return 'provider_rate_limited'
  if (status === 408 || status === 504) return 'provider_timeout'
  if (status >= 500) return 'provider_unavailable'
  return 'provider_bad_request'
}

function detailOf(
  provider: ProviderName,
  code: ProviderErrorCode,
  answer: HttpAnswer,
  body: ErrorBody,
  retryAfterMs: number | undefined,
  phase: Phase,
): string {
  const info = providerCatalog[provider]
  const { label } = info
  const status = answer.status
  const said = quote(body.message)
  const saying = said ? `: ${said}` : ''
  switch (code) {
    case 'provider_auth':
      return info.keysUrl
        ? `The key was refused by ${label} (${status}). Create a new key at ${info.keysUrl} and save it again.`
        : `The server at ${answer.url} refused the key (${status}). Check the key it expects and save it again.`
    case 'provider_quota':
      return info.billingUrl
        ? `${label} refused the call because the account has no credit or quota left (${status}${saying}). Add credit or raise the limit at ${info.billingUrl}, then try again.`
        : `The server at ${answer.url} refused the call for lack of credit (${status}${saying}).`
    case 'provider_rate_limited': {
      const wait = retryAfterMs !== undefined ? ` and asks to wait ${Math.ceil(retryAfterMs / 1000)} s` : ''
      return phase === 'validate'
        ? `${label} is rate-limiting this key (${status})${wait}. Try saving it again in a minute.`
        : `${label} is rate-limiting this key (${status})${wait}. The run is retried; if this keeps happening, run the bots less often or ask ${label} for a higher limit.`
    }
    case 'provider_timeout':
      return `${label} timed out (${status}). ${phase === 'validate' ? 'Try again in a minute.' : 'The run is retried.'}`
    case 'provider_unavailable': {
      const where = info.statusUrl ? ` See ${info.statusUrl} if it persists.` : ''
      return `${label} answered ${status}${saying || ' (a server error)'}. This is usually temporary${
        phase === 'validate' ? '; try again in a few minutes' : ' and the run is retried'
      }.${where}`
    }
    default:
      return phase === 'validate'
        ? `${label} refused the request (${status}${saying}). Check the base URL and the key.`
        : `${label} refused the request (${status}${saying}). Check the model name of the bot against the models the provider lists (GET /api/v1/providers).`
  }
}

/** A non-2xx answer of a provider as a ProviderError. */
export function classifyHttpAnswer(
  provider: ProviderName,
  answer: HttpAnswer,
  phase: Phase,
  now = Date.now(),
): ProviderError {
  const body = readErrorBody(parseJson(answer.body))
  let code = codeOf(provider, answer.status, body)
  if (
    phase === 'validate' &&
    code === 'provider_bad_request' &&
    (answer.status === 404 || answer.status === 405)
  ) {
    // Listing models is a plain GET: a 404 there means the base URL points at the wrong place.
    code = 'provider_unreachable'
    return new ProviderError(code, wrongBaseUrl(provider, answer.url, `it answered ${answer.status}`), {
      provider,
      status: answer.status,
    })
  }
  const retryAfterMs =
    code === 'provider_rate_limited' || code === 'provider_unavailable'
      ? retryAfterMsOf(answer, body, now)
      : undefined
  return new ProviderError(code, detailOf(provider, code, answer, body, retryAfterMs, phase), {
    provider,
    status: answer.status,
    retryAfterMs,
  })
}

export function wrongBaseUrl(provider: ProviderName, url: string, what: string): string {
  const info = providerCatalog[provider]
  const hint =
    provider === 'ollama'
      ? ' Is Ollama running (`ollama serve`) and listening there? The base URL is the server root, e.g. http://localhost:11434.'
      : ` Check the base URL: it is the API root with its version path, e.g. ${info.defaultBaseUrl}.`
  return `Could not use ${info.label} at ${url}: ${what}.${hint}`
}

/** A call that got no HTTP answer at all: refused, DNS, reset, TLS, a transport timeout. */
export function classifyNetworkError(
  provider: ProviderName,
  error: unknown,
  url: string,
  phase: Phase,
): ProviderError {
  const label = providerCatalog[provider].label
  const refused = egressRefusal(error)
  if (refused) {
    return new ProviderError('egress_refused', `${label} is not called at ${url}: ${refused.message}`, {
      provider,
      cause: error,
    })
  }
  const { reason, timedOut } = networkFailureReason(error)
  if (phase === 'validate') {
    return new ProviderError('provider_unreachable', wrongBaseUrl(provider, url, reason), {
      provider,
      cause: error,
    })
  }
  if (timedOut) {
    return new ProviderError(
      'provider_timeout',
      `${label} did not answer in time (${url}). The run is retried.`,
      {
        provider,
        cause: error,
      },
    )
  }
  return new ProviderError(
    'provider_unavailable',
    `Could not reach ${label} at ${url} (${reason}). The run is retried; if it persists, check the network and the provider's base URL.`,
    { provider, cause: error },
  )
}

/** An error of an AI SDK call (thrown, or an `error` part of a stream) as a ProviderError. */
export function providerErrorOf(provider: ProviderName, error: unknown, baseUrl: string): ProviderError {
  if (error instanceof ProviderError) return error
  if (RetryError.isInstance(error)) return providerErrorOf(provider, error.lastError, baseUrl)
  const label = providerCatalog[provider].label
  if (APICallError.isInstance(error)) {
    if (error.statusCode !== undefined) {
      return classifyHttpAnswer(
        provider,
        {
          status: error.statusCode,
          headers: error.responseHeaders ?? {},
          body: error.responseBody ?? '',
          url: error.url,
        },
        'call',
      )
    }
    return classifyNetworkError(provider, error.cause ?? error, error.url || baseUrl, 'call')
  }
  if (LoadAPIKeyError.isInstance(error)) {
    return new ProviderError(
      'provider_auth',
      `No key is saved for ${label}. Save one with PUT /api/v1/providers/${provider}.`,
      {
        provider,
        cause: error,
      },
    )
  }
  if (error instanceof Error) {
    if (error.name === 'TypeError' || (error as NodeJS.ErrnoException).code)
      return classifyNetworkError(provider, error, baseUrl, 'call')
    return new ProviderError(
      'provider_unavailable',
      `${label} sent an answer that could not be read (${quote(error.message)}). The run is retried.`,
      { provider, cause: error },
    )
  }
  // A provider may report a failure inside an open stream (Anthropic `event: error`, OpenAI `{ error }`):
  // the SDK passes that error object on as it is.
  const streamed = readErrorBody({ error })
  const rateLimited = streamed.markers.some((marker) => /rate_limit/i.test(marker))
  return new ProviderError(
    rateLimited ? 'provider_rate_limited' : 'provider_unavailable',
    `${label} reported ${rateLimited ? 'a rate limit' : 'an error'} during the answer (${
      quote(streamed.message) || 'no details'
    }). The run is retried.`,
    { provider, cause: error },
  )
}
