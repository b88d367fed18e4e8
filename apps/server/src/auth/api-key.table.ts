export interface ApiKeysTable {
  id: string
  tenant_id: string
  name: string
  prefix: string
  key_hash: string
  role: string
  created_at: number
  last_used_at: number | null
  expires_at: number | null
  revoked_at: number | null
  /** The user a personal key belongs to; null for a service key of the workspace. */
  user_id: string | null
  /**
   * A service key's creator (a user id): its keys are revoked when that user is disabled or removed,
   * and act with at most that user's current role. Null for personal keys and for keys made at
   * bootstrap, from the CLI or before migration 0013.
   */
  created_by: string | null
}
