import type pg from 'pg'
import type { Db } from '../database.ts'
import type { RunRow } from './run.table.ts'
import { insertEventsFromSql } from './run-event.ts'

// Inserts new runs (without idempotency keys), their queue rows (run_queue, decision 0013), their
// `run.pending` outbox events and the worker wake-up in one statement: one round trip instead of a
// five-statement transaction. A concurrency key gets its `run_keys` row (migration 0017). The NOTIFY
// is part of the statement's transaction, so it is delivered at
// commit (identical payloads collapse).
const insertRunsSql = `
WITH input AS (
  SELECT * FROM json_populate_recordset(NULL::runs, $1::json)
), ins AS (
  INSERT INTO runs SELECT * FROM input RETURNING *
), queued AS (
  INSERT INTO run_queue (id, kind, priority, run_at, lease_token, concurrency_key, concurrency_limit)
  SELECT id, kind, priority, run_at, lease_token, concurrency_key, concurrency_limit FROM ins WHERE status = 'pending'
), keys AS (
  INSERT INTO run_keys (key) SELECT DISTINCT concurrency_key FROM ins WHERE concurrency_key IS NOT NULL
  ON CONFLICT DO NOTHING
), events AS (
  ${insertEventsFromSql('ins', '$2')}
)
SELECT ins.*, pg_notify($3, '') IS NULL AS woke FROM ins`

export async function insertRunsWithoutKeys(
  database: Db,
  rows: RunRow[],
  now: number,
  wakeChannel: string,
): Promise<RunRow[]> {
  const pool = database.pool as pg.Pool
  const { rows: inserted } = await pool.query<RunRow & { woke: boolean }>({
    name: 'openorch_insert_runs',
    text: insertRunsSql,
    values: [JSON.stringify(rows), now, wakeChannel],
  })
  // RETURNING promises no order: give the rows back in the order they were asked for.
  const byId = new Map(inserted.map(({ woke: _woke, ...row }) => [row.id, row as RunRow]))
  return rows.map((row) => byId.get(row.id) ?? row)
}
