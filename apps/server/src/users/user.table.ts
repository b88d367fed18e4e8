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

export type UserRow = Selectable<UsersTable>
export type RefreshTokenRow = Selectable<RefreshTokensTable>
