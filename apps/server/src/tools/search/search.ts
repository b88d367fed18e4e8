import { egressRefusal } from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import { brave } from './brave.search.ts'
import type {
  CheckSearchOptions,
  SearchConfig,
  SearchOptions,
  SearchProviderName,
  SearchResult,
} from './search.types.ts'
import { SearchError } from './search-error.ts'
import { type FailedAnswer, type SearchProviderSpec, saveAgain } from './search-provider.ts'
import { cleanResults } from './search-text.ts'
import { searxng } from './searxng.search.ts'
import { tavily } from './tavily.search.ts'

// The search tool set's clients: one web search against the workspace's provider (Brave, SearXNG or
// Tavily), through the fetch it is given (the egress guard), under one timeout for the whole call,
// stopped at once by the run's signal. Redirects are not followed (the key would travel with them),
// answers are capped, and every failure is a SearchError with a code and a sentence saying what to do.

export type {
  CheckSearchOptions,
  SearchConfig,
  SearchOptions,
  SearchProviderName,
  SearchResult,
} from './search.types.ts'
export { isRetryableSearchCode, SearchError, type SearchErrorCode } from './search-error.ts'

const providers: Record<SearchProviderName, SearchProviderSpec> = { brave, searxng, tavily }

export const searchProviderNames = Object.keys(providers) as SearchProviderName[]
export const defaultSearchCount = 8
export const maxSearchCount = 20
/** Brave takes at most 400 characters (and 50 words); the others are held to the same. */
export const maxQueryChars = 400
export const defaultSearchTimeoutMs = 15_000
/** Far more than 20 results take (a Brave answer with every section is ~100 kB): past it, the answer is refused. */
const maxAnswerBytes = 4 * 1024 * 1024
/** What checkSearchConfig searches for: any query proves the key and the address. */
const probeQuery = 'open source'

/** Searches the web with `config`'s provider; at most `count` results, cleaned (plain text, http(s) only). */
export async function webSearch(config: SearchConfig, options: SearchOptions): Promise<SearchResult[]> {
  options.signal.throwIfAborted()
  const resolved = resolveConfig(config)
  const query = checkedQuery(options.query)
  const count = checkedCount(options.count)
  return search(resolved, query, count, options)
}

/** A real call with the config (used before saving it): throws a SearchError naming what is wrong. */
export async function checkSearchConfig(config: SearchConfig, options: CheckSearchOptions): Promise<void> {
  options.signal.throwIfAborted()
  await search(resolveConfig(config), probeQuery, 1, options)
}

interface ResolvedConfig {
  spec: SearchProviderSpec
  baseUrl: string
  apiKey: string | undefined
}

function notConfigured(message: string, provider?: SearchProviderName): SearchError {
  return new SearchError('search_not_configured', message, { provider })
}

function resolveConfig(config: SearchConfig): ResolvedConfig {
  const name = config?.provider
  const spec = typeof name === 'string' && Object.hasOwn(providers, name) ? providers[name] : undefined
  if (!spec) {
    throw notConfigured(
      `${name === undefined ? 'No search provider is set' : `"${String(name)}" is not a search provider`}: choose ${searchProviderNames.join(', ')} and PUT /api/v1/tools/search.`,
    )
  }
  const apiKey =
    typeof config.apiKey === 'string' && config.apiKey.trim() !== '' ? config.apiKey.trim() : undefined
  if (spec.needsKey && !apiKey) {
    throw notConfigured(
      `No API key is set for ${spec.label} search: create one at ${spec.dashboardUrl} and PUT /api/v1/tools/search with { "provider": "${spec.name}", "apiKey": "…" }.`,
      spec.name,
    )
  }
  const given =
    typeof config.baseUrl === 'string' && config.baseUrl.trim() !== '' ? config.baseUrl.trim() : undefined
  const text = given ?? spec.defaultBaseUrl
  if (text === undefined) {
    throw notConfigured(
      `${spec.label} needs the address of the instance: PUT /api/v1/tools/search with { "provider": "${spec.name}", "baseUrl": "https://searx.example.org" }.`,
      spec.name,
    )
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw notConfigured(
      `"${text}" is not a URL. The base URL should be ${spec.baseUrlHint}: fix it, ${saveAgain}.`,
      spec.name,
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw notConfigured(
      `The base URL ${url.href} is not an http(s) address. It should be ${spec.baseUrlHint}: fix it, ${saveAgain}.`,
      spec.name,
    )
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw notConfigured(
      `The base URL of ${spec.label} carries a user name, password, query or fragment, which is not sent. It should be ${spec.baseUrlHint}${spec.needsKey ? '' : ', with a key, if one is needed, as apiKey'}: fix it, ${saveAgain}.`,
      spec.name,
    )
  }
  return { spec, baseUrl: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, apiKey }
}

function checkedQuery(query: unknown): string {
  const text = typeof query === 'string' ? query.replace(/\s+/g, ' ').trim() : ''
  if (text === '') {
    throw new SearchError('search_bad_request', 'The search query is empty: give the words to search for.')
  }
  if (text.length > maxQueryChars) {
    throw new SearchError(
      'search_bad_request',
      `The search query has ${text.length} characters; at most ${maxQueryChars} are taken: shorten it to the words that matter.`,
    )
  }
  return text
}

function checkedCount(count: unknown): number {
  if (count === undefined) return defaultSearchCount
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > maxSearchCount) {
    throw new SearchError(
      'search_bad_request',
      `A search returns 1 to ${maxSearchCount} results; ${JSON.stringify(count)} were asked for.`,
    )
  }
  return count
}

async function search(
  { spec, baseUrl, apiKey }: ResolvedConfig,
  query: string,
  count: number,
  options: CheckSearchOptions,
): Promise<SearchResult[]> {
  const timeoutMs = options.timeoutMs ?? defaultSearchTimeoutMs
  const { url, init } = spec.request({ baseUrl, apiKey, query, count })
  const where = `${url.origin}${url.pathname}`
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new Error('search timeout'))
  }, timeoutMs)
  const onAbort = () => controller.abort(options.signal.reason)
  options.signal.addEventListener('abort', onAbort, { once: true })
  try {
    const response = await options.fetch(url, { ...init, redirect: 'manual', signal: controller.signal })
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => {})
      throw redirected(spec, where, response)
    }
    const text = await readCapped(response, spec, where)
    const json = parseJson(text)
    if (!response.ok) {
      const answer: FailedAnswer = {
        status: response.status,
        headers: response.headers,
        text,
        json,
        where,
        apiKey,
      }
      throw spec.failure(answer)
    }
    if (json === undefined) throw notJson(spec, where, response)
    const raw = spec.results(json, { where })
    if (raw === undefined) {
      throw new SearchError(
        'search_answer_invalid',
        `${spec.label} answered ${where} with JSON that is not a ${spec.label} search answer (no list of results). The base URL should be ${spec.baseUrlHint}.`,
        { provider: spec.name, status: response.status },
      )
    }
    return cleanResults(raw, count)
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason
    if (timedOut) {
      throw new SearchError(
        'search_timeout',
        `${spec.label} did not answer within ${Math.round(timeoutMs / 100) / 10} s (${where}). Try again in a minute; if it keeps happening, check that the service at the base URL is healthy.`,
        { provider: spec.name, cause: error },
      )
    }
    if (error instanceof SearchError) throw error
    throw networkFailure(spec, where, error)
  } finally {
    clearTimeout(timer)
    options.signal.removeEventListener('abort', onAbort)
  }
}

function redirected(spec: SearchProviderSpec, where: string, response: Response): SearchError {
  const location = response.headers.get('location')
  let target = ''
  try {
    if (location) target = ` to ${new URL(location, where).origin}`
  } catch {}
  return new SearchError(
    'search_not_configured',
    `${spec.label} answered ${where} with a redirect (${response.status}${target}). Searches do not follow redirects, so a key cannot travel to another address: set the base URL to the final address (it should be ${spec.baseUrlHint}), ${saveAgain}.`,
    { provider: spec.name, status: response.status },
  )
}

function notJson(spec: SearchProviderSpec, where: string, response: Response): SearchError {
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  const what =
    mediaType === ''
      ? 'content without a Content-Type'
      : mediaType === 'application/json'
        ? 'broken JSON'
        : mediaType
  return new SearchError(
    'search_answer_invalid',
    `${spec.label} answered ${where} with ${what}, not a JSON search answer. The base URL should be ${spec.baseUrlHint}${spec.notJsonAdvice ?? ''}.`,
    { provider: spec.name, status: response.status },
  )
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

async function readCapped(response: Response, spec: SearchProviderSpec, where: string): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxAnswerBytes) {
      await reader.cancel().catch(() => {})
      throw new SearchError(
        'search_answer_invalid',
        `${spec.label} sent more than ${maxAnswerBytes / 1024 / 1024} MB from ${where}; no search answer is that large. The base URL should be ${spec.baseUrlHint}.`,
        { provider: spec.name, status: response.status },
      )
    }
    chunks.push(value)
  }
  return new TextDecoder().decode(Buffer.concat(chunks, size))
}

function networkFailure(spec: SearchProviderSpec, where: string, error: unknown): SearchError {
  const refused = egressRefusal(error)
  if (refused) {
    return new SearchError('egress_refused', `${spec.label} is not called at ${where}: ${refused.message}`, {
      provider: spec.name,
      cause: error,
    })
  }
  return new SearchError(
    'search_unavailable',
    `Could not reach ${spec.label} at ${where} (${networkFailureReason(error).reason}). Check that the service is up and that the base URL is ${spec.baseUrlHint}, or try again later.`,
    { provider: spec.name, cause: error },
  )
}
