import type { RunRow } from './run.table.ts'
import type { RunEventPayload } from './run.types.ts'

// The payload of a run's state-change event, defined once. The JavaScript builder (SQLite, writes made
// by the service) and the PostgreSQL expression (set-based queue statements) both come from this list,
// so the engines cannot drift apart (the conformance test compares them).
const payloadColumns = [
  ['runId', 'id'],
  ['tenantId', 'tenant_id'],
  ['kind', 'kind'],
  ['subjectId', 'subject_id'],
  ['parentRunId', 'parent_run_id'],
  ['status', 'status'],
  ['attempt', 'attempt'],
] as const satisfies ReadonlyArray<readonly [string, keyof RunRow]>

/** The columns an event payload is built from. */
export type EventPayloadColumns = Pick<
  RunRow,
  (typeof payloadColumns)[number][1] | 'error_code' | 'error_message'
>

/** The column list a statement must return for `eventPayloadOf`. */
export const eventPayloadColumnList = [
  ...payloadColumns.map(([, column]) => column),
  'error_code',
  'error_message',
].join(', ')

export function eventPayloadOf(row: EventPayloadColumns): RunEventPayload {
  const payload: Record<string, unknown> = {}
  for (const [name, column] of payloadColumns) payload[name] = row[column]
  payload.error = row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' }
  return payload as unknown as RunEventPayload
}

/** PostgreSQL: the same payload as JSON text, built from the row alias `a` inside a statement. */
export function eventPayloadSql(a: string): string {
  const fields = payloadColumns.map(([name, column]) => `'${name}', ${a}.${column}`).join(', ')
  return `json_build_object(${fields}, 'error', CASE WHEN ${a}.error_code IS NULL THEN NULL
    ELSE json_build_object('code', ${a}.error_code, 'message', coalesce(${a}.error_message, '')) END)::text`
}

/** PostgreSQL: inserts the `run.<status>` event of every row of `source` (a CTE returning runs rows). */
export function insertEventsFromSql(source: string, now: string, type?: string): string {
  return `INSERT INTO run_events (tenant_id, run_id, type, payload, created_at)
   SELECT s.tenant_id, s.id, ${type ? `'${type}'` : `'run.' || s.status`}, ${eventPayloadSql('s')}, ${now} FROM ${source} s`
}
