import type { Generated, Selectable } from 'kysely'

// Tokens and cost of one provider call (one per run attempt).
export interface UsageRecordsTable {
  id: Generated<number>
  tenant_id: string
  run_id: string
  attempt: number
  /** The model call within the attempt (0 first; a run with tools makes several). */
  call: Generated<number>
  bot_id: string | null
  provider: string
  model: string
  tokens_in: number
  tokens_out: number
  cost_usd: number | null
  created_at: number
}

export type UsageRecordRow = Selectable<UsageRecordsTable>
