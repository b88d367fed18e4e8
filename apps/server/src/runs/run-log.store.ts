import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { RunLogRow } from './run-log.table.ts'

// A run's own log, for people: what its executor did, attempt by attempt (GET /api/v1/runs/{id}/log).
type Q = Kysely<Tables>

export type RunLogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface RunLogEntry {
  tenantId: string
  runId: string
  attempt: number
  level: RunLogLevel
  message: string
  data?: Record<string, unknown> | null
  at: number
}

export async function appendRunLog(db: Q, entry: RunLogEntry): Promise<void> {
  await appendRunLogs(db, [entry])
}

/** Several lines in one statement (an executor writes what it gathered at its milestones). */
export async function appendRunLogs(db: Q, entries: RunLogEntry[]): Promise<void> {
  if (entries.length === 0) return
  await db
    .insertInto('run_logs')
    .values(
      entries.map((entry) => ({
        tenant_id: entry.tenantId,
        run_id: entry.runId,
        attempt: entry.attempt,
        level: entry.level,
        message: entry.message,
        data: entry.data ? JSON.stringify(entry.data) : null,
        created_at: entry.at,
      })),
    )
    .execute()
}

/** At most `limit` lines, oldest first. */
export async function listRunLog(db: Q, tenantId: string, runId: string, limit = 1000): Promise<RunLogRow[]> {
  return db
    .selectFrom('run_logs')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('run_id', '=', runId)
    .orderBy('id')
    .limit(limit)
    .execute()
}
