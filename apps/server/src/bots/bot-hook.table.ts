// An inbound webhook of a bot (migration 0029). The token is the credential: only its hash is kept.
export interface BotHooksTable {
  id: string
  tenant_id: string
  bot_id: string
  /** SHA-256 (hex) of the token. */
  token_hash: string
  /** The token masked, for people telling hooks apart. */
  token_hint: string
  expires_at: number | null
  revoked_at: number | null
  last_used_at: number | null
  created_at: number
}
