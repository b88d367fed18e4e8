import { parseJson } from '../platform/json.ts'
import type { RunRow } from './run.table.ts'
import type { ClaimedRun, Run, RunError, RunStatus, RunTrigger } from './run.types.ts'

export { parseJson }

export function toJsonText(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value)
}

// The API shows an error only on runs that ended badly; a pending retry keeps its last error for the log.
const endedBadly = new Set(['failed', 'timeout', 'cancelled'])

function errorOf(row: RunRow): RunError | null {
  if (row.error_code === null || !endedBadly.has(row.status)) return null
  return { code: row.error_code, message: row.error_message ?? '', retryable: row.error_retryable === 1 }
}

export function toRun(row: RunRow): Run {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind,
    subjectId: row.subject_id,
    parentRunId: row.parent_run_id,
    status: row.status as RunStatus,
    trigger: row.trigger as RunTrigger,
    input: parseJson(row.input),
    output: parseJson(row.output),
    result: parseJson(row.result),
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    durationMs: row.duration_ms,
    error: errorOf(row),
    waitReason: row.wait_reason,
    correlationKey: row.correlation_key ?? null,
    waitUntil: row.wait_until === null || row.wait_until === undefined ? null : Number(row.wait_until),
    concurrencyKey: row.concurrency_key,
    deadLettered: row.dead_lettered_at !== null,
    traceId: row.trace_id ?? null,
    traceParent: row.trace_parent ?? null,
    runAt: Number(row.run_at),
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  }
}

export function toClaimedRun(row: RunRow): ClaimedRun {
  return {
    ...toRun(row),
    leaseToken: Number(row.lease_token),
    timeoutMs: row.timeout_ms,
    retryBaseMs: row.retry_base_ms,
  }
}
