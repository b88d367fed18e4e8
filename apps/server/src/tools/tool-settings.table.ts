// A workspace's settings of a tool set that needs setting up (migration 0024): the web search today.
export interface ToolSettingsTable {
  tenant_id: string
  /** The tool set: `search`. */
  name: string
  provider: string
  base_url: string | null
  /** AES-256-GCM ciphertext from platform/crypto; never returned or logged. */
  secret_encrypted: string | null
  /** The key masked for people. */
  key_hint: string | null
  updated_at: number
}
