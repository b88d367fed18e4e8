import type { Selectable } from 'kysely'

// Pipelines (migration 0033). Times are epoch milliseconds; JSON columns are text.

export interface PipelinesTable {
  id: string
  tenant_id: string
  name: string
  description: string
  emoji: string | null
  schedule: string | null
  timezone: string
  enabled: number
  missed_run_policy: string
  overlap_policy: string
  jitter_seconds: number
  /** The newest version's number: every edit of the definition adds one. */
  version: number
  created_at: number
  updated_at: number
}

/** One version of a pipeline's definition: JSON `{ steps, errorPolicy, maxRuntimeSeconds }`. */
export interface PipelineVersionsTable {
  pipeline_id: string
  version: number
  tenant_id: string
  definition: string
  created_at: number
}

/** A run of kind `pipeline`: the version it keeps to, its input, and when it last settled. */
export interface PipelineRunsTable {
  run_id: string
  tenant_id: string
  pipeline_id: string
  version: number
  input: string | null
  /**
   * The run's max_attempts when it last ended (completed or failed). A claim that sees a larger
   * value was retried by hand: the failed and skipped steps run again.
   */
  settled_max_attempts: number | null
  created_at: number
}

export interface PipelineRunStepsTable {
  pipeline_run_id: string
  step_key: string
  tenant_id: string
  status: string
  attempt: number
  /** The step's bot run (its latest attempt). */
  run_id: string | null
  approval_id: string | null
  skipped_reason: string | null
  started_at: number | null
  finished_at: number | null
}

export type PipelineRow = Selectable<PipelinesTable>
export type PipelineRunStepRow = Selectable<PipelineRunStepsTable>
