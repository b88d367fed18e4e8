// The shapes of the search tool set's clients: which provider, how it is reached, what comes back.
// Kept apart from search.ts so the provider modules can use them without importing the entry point.

export type SearchProviderName = 'brave' | 'searxng' | 'tavily'

/** A workspace's search configuration, as saved (the key lives in the vault). */
export interface SearchConfig {
  provider: SearchProviderName
  /** Required for brave and tavily; for searxng an optional key a proxy in front of the instance wants (sent as `Authorization: Bearer`). */
  apiKey?: string
  /** Default per provider (the API root); searxng requires it (the instance root, e.g. https://searx.example.org). */
  baseUrl?: string
}

export interface SearchResult {
  /** Plain text, at most 300 characters. */
  title: string
  /** An http(s) URL. */
  url: string
  /** Plain text (HTML tags stripped, whitespace collapsed), at most 1,000 characters. */
  snippet: string
}

export interface SearchOptions {
  query: string
  /** 1..20, default 8. */
  count?: number
  /** The run's signal: aborting it stops the search at once, with its reason. */
  signal: AbortSignal
  /** The egress-guarded fetch (egressFetch(policy)): a self-hosted SearXNG may be private only if the operator allows it. */
  fetch: typeof globalThis.fetch
  /** For the whole call, body included; default 15 s. */
  timeoutMs?: number
}

export interface CheckSearchOptions {
  signal: AbortSignal
  fetch: typeof globalThis.fetch
  /** Default 15 s. */
  timeoutMs?: number
}

/** A result as a provider sent it, before it is checked and cleaned. */
export interface RawResult {
  title: unknown
  url: unknown
  snippet: unknown
}
