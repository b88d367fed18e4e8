import { providerCatalog } from './provider.catalog.ts'
import { ProviderError } from './provider.error.ts'
import type { ProviderName } from './provider.types.ts'

export type FetchFunction = typeof globalThis.fetch

// A provider's answer is input from outside like any request (OWASP API10, unsafe consumption of
// APIs): a misconfigured base URL, a hostile proxy or a broken server must not be able to take the
// key elsewhere, fill memory or the database, stall a run for years, or write escape codes into
// what a person reads. Every provider call goes through here.

/** More than any real answer (a long completion is well under 1 MB); enough to stop a flood. */
export const maxAnswerBytes = 16 * 1024 * 1024
/** A provider asking to wait longer than this is not waited for longer: the run's retries decide. */
export const maxRetryAfterMs = 60 * 60_000
const maxModels = 2_000
const maxModelIdLength = 200

/**
 * fetch that never follows a redirect (the key header would travel with it: `x-api-key` and
 * `x-goog-api-key` are not dropped across origins the way `Authorization` is) and that errors once an
 * answer grows past `maxBytes`.
 */
export function guardedFetch(
  provider: ProviderName,
  base: FetchFunction = globalThis.fetch,
  maxBytes = maxAnswerBytes,
): FetchFunction {
  const label = providerCatalog[provider].label
  return async (input, init) => {
    const response = await base(input, { ...init, redirect: 'manual' })
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {})
      const location = response.headers.get('location')
      throw new ProviderError(
        'provider_bad_answer',
        `${label} answered with a redirect${location ? ` to ${originOf(location)}` : ''}. Provider calls do not follow redirects, so the key cannot travel to another address: set the provider's base URL to the final address.`,
        { provider, status: response.status },
      )
    }
    const contentLength = Number(response.headers.get('content-length') ?? 0)
    if (contentLength > maxBytes) {
      await response.body?.cancel().catch(() => {})
      throw tooLarge(label, provider, maxBytes)
    }
    if (!response.body) return response
    let seen = 0
    const limited = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength
          if (seen > maxBytes) controller.error(tooLarge(label, provider, maxBytes))
          else controller.enqueue(chunk)
        },
      }),
    )
    return new Response(limited, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}

/** Far beyond any model's output limit (~128k tokens ≈ 500k characters); past it the answer is refused. */
export const maxAnswerChars = 1_000_000

export function answerTooLong(label: string, provider: ProviderName): ProviderError {
  return new ProviderError(
    'provider_bad_answer',
    `${label} sent more than ${maxAnswerChars.toLocaleString('en')} characters of text in one answer; it was cut off. No model writes that much in one answer: check the provider's base URL.`,
    { provider },
  )
}

function tooLarge(label: string, provider: ProviderName, maxBytes: number): ProviderError {
  return new ProviderError(
    'provider_bad_answer',
    `${label} sent more than ${Math.round(maxBytes / 1024 / 1024)} MB in one answer; it was cut off. Check the provider's base URL: no model answer is that large.`,
    { provider },
  )
}

function originOf(location: string): string {
  try {
    return new URL(location).origin
  } catch {
    return 'another address'
  }
}

/** Text from outside for a person to read: no control characters (terminal escapes), one line, capped. */
export function plainText(value: string, maxLength: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const line = value.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ')
  const trimmed = line.replace(/\s+/g, ' ').trim()
  return trimmed.length > maxLength ? `${trimmed.slice(0, maxLength - 1)}…` : trimmed
}

/** Model ids from a model list: strings of sane length without control characters, at most 2,000. */
export function cleanModelIds(ids: readonly string[]): string[] {
  const clean = ids.filter(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
    (id) => id.length > 0 && id.length <= maxModelIdLength && !/[\u0000-\u001f\u007f-\u009f]/.test(id),
  )
  return [...new Set(clean)].sort().slice(0, maxModels)
}

/** A token count as reported: a non-negative safe integer, or 0 when it is anything else. */
export function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < 1e12 ? value : 0
}
