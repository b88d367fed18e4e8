import type { Selectable } from 'kysely'

export interface UsersTable {
  id: string
  tenant_id: string
  email: string
  /** scrypt, self-describing: `scrypt$N$r$p$salt$hash`. */
  password_hash: string
  role: string
  tokens_valid_after: number
  disabled_at: number | null
  created_at: number
  updated_at: number
}

export interface RefreshTokensTable {
  id: string
  tenant_id: string
  user_id: string
  /** Every rotation of one sign-in shares a family: reuse of a spent token revokes the whole family. */
  family_id: string
  token_hash: string
  expires_at: number
  used_at: number | null
  revoked_at: number | null
  created_at: number
}

/**
 * One sign-in and every refresh of it (decision 0017). Revoked as a whole: on sign-out, when a spent
 * refresh token comes back, on "sign out everywhere"; an access token of a revoked family is refused.
 */
export interface SessionFamiliesTable {
  family_id: string
  tenant_id: string
  user_id: string
  created_at: number
  revoked_at: number | null
}

/**
 * Failed sign-ins within the current window of one (e-mail, client address) pair or of one client
 * address (system-wide, tenant_id '*'; decision 0017).
 */
export interface LoginFailuresTable {
  /** sha256 of `email\naddress` (the lower-cased e-mail) or of `address\n` + the address. */
  key_hash: string
  tenant_id: string
  failures: number
  first_failed_at: number
  /** 0 while not locked. */
  locked_until: number
}

export type UserRow = Selectable<UsersTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>
