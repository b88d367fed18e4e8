// A workspace's approval policy for built-in tools (migration 0025).
export interface ToolPoliciesTable {
  tenant_id: string
  /** JSON array of function names whose calls wait for a person. */
  require_approval: string
  /** An approval undecided this long expires (counts as rejected); null: it waits. */
  expires_after_seconds: number | null
  updated_at: number
}
