import type { RawResult } from './search.types.ts'
import { SearchError } from './search-error.ts'
import {
  asRecord,
  commonFailure,
  type FailedAnswer,
  rateLimited,
  retryAfterOf,
  type SearchProviderSpec,
  saveAgain,
} from './search-provider.ts'

// SearXNG, self-hosted metasearch: GET {instance}/search?q=…&format=json, no key (a proxy in front
// may want one: sent as Authorization: Bearer). Answers { results: [{ title, url, content }],
// unresponsive_engines: [[engine, reason]] }, as many results as its engines found (no count
// parameter: the list is cut here). An instance answers 403 when `json` is not in `search.formats` of
// its settings.yml, and 429 when its limiter (bot detection) blocks the caller.

function searxngFailure(answer: FailedAnswer): SearchError {
  const options = { provider: 'searxng' as const, status: answer.status }
  if (answer.status === 403) {
    const key = answer.apiKey
      ? ' If the instance sits behind a proxy that checks a key, check that key as well.'
      : ''
    return new SearchError(
      'search_not_configured',
      `The SearXNG instance at ${answer.where} refused the JSON format (403): enable it by adding \`json\` to \`search.formats\` in its settings.yml (formats: [html, json]) and restart it, ${saveAgain}.${key}`,
      options,
    )
  }
  if (answer.status === 401) {
    return new SearchError(
      'search_unauthorized',
      `The SearXNG instance at ${answer.where} asks for credentials (401): if a proxy in front of it takes a key, set it as apiKey (sent as Authorization: Bearer), ${saveAgain}.`,
      options,
    )
  }
  if (answer.status === 429) {
    return rateLimited(
      searxng,
      answer,
      retryAfterOf(answer.headers),
      "if the instance is yours, turn off `server.limiter` in its settings.yml, or list this server's address under `pass_ip` in its limiter.toml",
    )
  }
  return commonFailure(searxng, answer)
}

/** `[["google", "CAPTCHA"], ["brave", "timeout"]]` → `google (CAPTCHA), brave (timeout)`. */
function unresponsiveEngines(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined
  const names = value.slice(0, 10).map((entry) => {
    const [engine, reason] = Array.isArray(entry) ? entry : [entry]
    const name = String(engine).slice(0, 40)
    return typeof reason === 'string' && reason !== '' ? `${name} (${reason.slice(0, 60)})` : name
  })
  return names.join(', ')
}

export const searxng: SearchProviderSpec = {
  name: 'searxng',
  label: 'SearXNG',
  defaultBaseUrl: undefined,
  needsKey: false,
  dashboardUrl: undefined,
  baseUrlHint: 'the instance root, e.g. https://searx.example.org',
  notJsonAdvice: ", and `json` must be in `search.formats` of the instance's settings.yml",
  request({ baseUrl, apiKey, query }) {
    // The instance root is what people copy; a pasted …/search is taken as it is.
    const url = new URL(/\/search$/.test(baseUrl) ? baseUrl : `${baseUrl}/search`)
    url.searchParams.set('q', query)
    url.searchParams.set('format', 'json')
    const headers: Record<string, string> = { accept: 'application/json' }
    if (apiKey) headers.authorization = `Bearer ${apiKey}`
    return { url, init: { method: 'GET', headers } }
  },
  results(json, { where }) {
    const root = asRecord(json)
    if (!root || !Array.isArray(root.results)) return undefined
    const results = root.results.flatMap((item): RawResult[] => {
      const result = asRecord(item)
      return result ? [{ title: result.title, url: result.url, snippet: result.content }] : []
    })
    // Nothing found because every engine failed is an outage, not an answer: say which and why.
    const engines = unresponsiveEngines(root.unresponsive_engines)
    if (results.length === 0 && engines) {
      throw new SearchError(
        'search_unavailable',
        `The SearXNG instance at ${where} found nothing because its engines did not answer: ${engines}. Try again later, or enable other engines in its settings.yml.`,
        { provider: 'searxng', status: 200 },
      )
    }
    return results
  },
  failure: searxngFailure,
}
