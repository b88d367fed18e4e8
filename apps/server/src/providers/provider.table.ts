// Kysely row type of a configured LLM provider (one per tenant and provider name).
export interface ProvidersTable {
  tenant_id: string
  name: string
  /** AES-256-GCM ciphertext from platform/crypto; never returned or logged. */
  api_key_encrypted: string | null
  /** Masked key for people: `sk-…3456`. */
  key_hint: string | null
  base_url: string | null
  default_model: string | null
  /** JSON array of model ids seen at the last validation. */
  models: string
  status: string
  last_error_code: string | null
  last_checked_at: number | null
  created_at: number
  updated_at: number
}

/** A provider's circuit breaker in one workspace (migration 0034). Times are epoch milliseconds. */
export interface ProviderCircuitsTable {
  tenant_id: string
  provider: string
  /** `closed` (calls go out), `open` (none do), `half_open` (one probe call is out). */
  state: string
  /** Transient failures in a row. */
  failures: number
  opened_at: number | null
  /** Until when the probe of a half-open circuit holds it; past it another call may probe. */
  probe_until: number | null
  updated_at: number
}
