import type { Generated, Selectable } from 'kysely'

// One line of a run's log (GET /api/v1/runs/{id}/log).
export interface RunLogsTable {
  id: Generated<number>
  tenant_id: string
  run_id: string
  attempt: number
  level: string
  message: string
  /** JSON object or null. */
  data: string | null
  created_at: number
}

export type RunLogRow = Selectable<RunLogsTable>
