import type { Generated, Selectable } from 'kysely'

// Kysely row types of the runs kernel (snake_case, as stored).
export interface RunsTable {
  id: string
  tenant_id: string
  kind: string
  /** What the run is about, in its kind's domain (a bot's id for `bot` runs); the kernel never reads it. */
  subject_id: string | null
  parent_run_id: string | null
  status: string
  trigger: string
  input: string | null
  output: string | null
  /** The domain's result (JSON: a bot's tokens, cost, output hash, …); the kernel never reads it. */
  result: string | null
  priority: number
  run_at: number
  attempt: number
  max_attempts: number
  retry_base_ms: number
  timeout_ms: number | null
  lease_token: number
  lease_owner: string | null
  lease_expires_at: number | null
  concurrency_key: string | null
  concurrency_limit: number
  idempotency_key: string | null
  error_code: string | null
  error_message: string | null
  error_retryable: number | null
  dead_lettered_at: number | null
  wait_reason: string | null
  /** Names the current parking (resume by key); NULL unless waiting. */
  correlation_key: string | null
  /** The parking's deadline (epoch ms): past it the run times out. */
  wait_until: number | null
  duration_ms: number | null
  /** The trace the run belongs to (sampled), shown as `traceId`; NULL while tracing is off (migration 0036). */
  trace_id: string | null
  /** The W3C traceparent of the run's span, the parent of each attempt's span. */
  trace_parent: string | null
  created_at: number
  started_at: number | null
  finished_at: number | null
  updated_at: number
}

export interface RunEventsTable {
  id: Generated<number>
  tenant_id: string
  run_id: string
  type: string
  payload: string
  created_at: number
}

export interface EventCursorsTable {
  name: string
  tenant_id: Generated<string>
  last_id: Generated<number>
  failures: Generated<number>
  last_error: string | null
}

/** An event a consumer could not handle, parked so it goes on (migration 0018). */
export interface EventDeadLettersTable {
  id: Generated<number>
  consumer: string
  event_id: number
  tenant_id: string
  run_id: string
  type: string
  payload: string
  event_created_at: number
  error: string
  attempts: number
  parked_at: number
  retry_requested_at: number | null
}

/** PostgreSQL only: running runs per concurrency key (migration 0017). */
export interface RunKeysTable {
  key: string
  running: Generated<number>
}

/** Live worker processes and the run kinds each serves (JSON array), seen at each heartbeat. */
export interface RunWorkersTable {
  id: string
  kinds: string
  seen_at: number
}

export type RunEventRow = Selectable<RunEventsTable>

export type RunRow = RunsTable
