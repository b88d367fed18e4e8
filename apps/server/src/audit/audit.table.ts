import type { Generated, Selectable } from 'kysely'

// One entry of the audit trail: who changed what, when, from where. Never updated or deleted.
export interface AuditLogTable {
  id: Generated<number>
  tenant_id: string
  at: number
  /** `api_key`, `user` or `system`. */
  actor_type: string
  actor_id: string | null
  actor_role: string | null
  /** `<METHOD> <route>` for API changes (`PATCH /bots/:id`), a dotted name for system changes. */
  action: string
  target_type: string | null
  target_id: string | null
  ip: string | null
  request_id: string | null
  status: number | null
  /** JSON object or null; never secrets. */
  details: string | null
  prev_hash: string
  hash: string
}

export type AuditRow = Selectable<AuditLogTable>

/** One row at most: the chain's start after pruning. */
export interface AuditAnchorTable {
  id: number
  pruned_through: number
  last_hash: string
  pruned_at: number
}
