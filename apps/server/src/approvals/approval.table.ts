import type { Selectable } from 'kysely'

// An approval (migration 0025). `parking` until its run's parking has committed (then `pending`),
// then `approved`, `rejected` or `expired`. Times are epoch milliseconds.
export interface ApprovalsTable {
  id: string
  tenant_id: string
  run_id: string
  /** The kind of run that asks (`bot`), and whose run it is: the bot's id and name then. */
  subject_kind: string
  subject_id: string | null
  subject_name: string | null
  /** The run parks under this key; deciding resumes exactly this parking. */
  correlation_key: string
  status: ApprovalStatus
  tool_set: string
  tool: string
  tool_call_id: string
  /** JSON: the arguments as people see them (secret-looking fields redacted). */
  arguments: string | null
  reason: string | null
  /** JSON: what the requester resumes from (a bot's conversation); never shown. */
  state: string
  requested_at: number
  expires_at: number | null
  decided_at: number | null
  decided_by_type: string | null
  decided_by_id: string | null
  comment: string | null
  /** Set before an approved call runs, its result after: the call runs at most once. */
  execution_started_at: number | null
  execution_result: string | null
}

export type ApprovalStatus = 'parking' | 'pending' | 'approved' | 'rejected' | 'expired'

export type ApprovalRow = Selectable<ApprovalsTable>
