import { type Kysely, sql } from 'kysely'
import type { Db, Tables } from '../database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { RunEventRow } from '../runs/run.table.ts'

/**
 * Reads the next events after the relay cursor `name`, hands them to `consume` and moves the cursor,
 * all in one transaction: a crash before the commit replays the batch (at-least-once), never skips it.
 * Only one relay in the cluster holds the cursor at a time; the others get `undefined` and back off.
 */
export async function consumeOutbox(
  database: Db,
  name: string,
  limit: number,
  consume: (events: RunEventRow[], trx: Kysely<Tables>) => Promise<void>,
): Promise<RunEventRow[] | undefined> {
  if (database.dialect === 'sqlite') {
    // One writer: ids are assigned and committed in order, so "after the last id" misses nothing.
    return writeTransaction(database, async (trx) => {
      const cursor = await trx
        .selectFrom('event_cursors')
        .select('last_id')
        .where('name', '=', name)
        .executeTakeFirst()
      const lastId = Number(cursor?.last_id ?? 0)
      const rows = await trx
        .selectFrom('run_events')
        .selectAll()
        .where('id', '>', lastId)
        .orderBy('id')
        .limit(limit)
        .execute()
      if (rows.length === 0) return rows
      await consume(rows, trx)
      await trx
        .updateTable('event_cursors')
        .set({ last_id: rows[rows.length - 1]!.id })
        .where('name', '=', name)
        .execute()
      return rows
    })
  }
  return database.db.transaction().execute(async (trx) => {
    // Taken before this transaction has an id of its own: every transaction below `xmin` has ended,
    // so no row with a smaller tx_id can still appear.
    const horizon = await sql<{
      xmin: string
    }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`.execute(trx)
    const cursor = await sql<{ last_id: number; last_tx: string }>`
      SELECT last_id, last_tx::text AS last_tx FROM event_cursors WHERE name = ${name} FOR UPDATE SKIP LOCKED`.execute(
      trx,
    )
    const position = cursor.rows[0]
    if (!position) return undefined
    const xmin = horizon.rows[0]!.xmin
    const { rows } = await sql<RunEventRow & { tx: string }>`
      SELECT id, tenant_id, run_id, type, payload, created_at, tx_id::text AS tx FROM run_events
      WHERE (tx_id, id) > (${position.last_tx}::xid8, ${position.last_id}) AND tx_id < ${xmin}::xid8
      ORDER BY tx_id, id LIMIT ${limit}`.execute(trx)
    if (rows.length === 0) return []
    await consume(rows, trx)
    const last = rows[rows.length - 1]!
    await sql`UPDATE event_cursors SET last_id = ${last.id}, last_tx = ${last.tx}::xid8 WHERE name = ${name}`.execute(
      trx,
    )
    return rows.map(({ tx: _tx, ...row }) => row)
  })
}

// Reads past the cursor and moves it, in one statement, for a relay without durable handlers (nothing
// to run inside the transaction). The horizon comes from the statement's snapshot, taken before the
// FOR UPDATE gives this transaction an id. `held` is false when another relay holds the cursor.
const advanceSql = (limit: number) => `
WITH horizon AS (
  SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin
), position AS (
  SELECT last_id, last_tx FROM event_cursors WHERE name = $1 FOR UPDATE SKIP LOCKED
), batch AS (
  -- LATERAL makes the cursor a bound of the index scan on (tx_id, id); as a plain join it would be
  -- a filter, and every read would walk the outbox from its start.
  SELECT e.* FROM position p CROSS JOIN horizon h CROSS JOIN LATERAL (
    SELECT id, tenant_id, run_id, type, payload, created_at, tx_id FROM run_events
    WHERE (tx_id, id) > (p.last_tx, p.last_id) AND tx_id < h.xmin
    ORDER BY tx_id, id LIMIT ${limit}
  ) e
), last AS (
  SELECT id, tx_id FROM batch ORDER BY tx_id DESC, id DESC LIMIT 1
), moved AS (
  UPDATE event_cursors c SET last_id = last.id, last_tx = last.tx_id FROM last WHERE c.name = $1
)
SELECT (SELECT count(*) FROM position)::int AS held, b.id, b.tenant_id, b.run_id, b.type, b.payload, b.created_at
FROM (SELECT 1) one LEFT JOIN batch b ON true ORDER BY b.tx_id, b.id`

/** consumeOutbox without handlers on PostgreSQL: one round trip instead of six. */
export async function advanceOutbox(
  database: Db,
  name: string,
  limit: number,
): Promise<RunEventRow[] | undefined> {
  if (database.dialect === 'sqlite') return consumeOutbox(database, name, limit, async () => {})
  const pool = database.pool!
  const { rows } = await pool.query<RunEventRow & { held: number }>({
    // The limit is part of the statement (see claimFastSql): its generic plan is then the right one.
    name: `openorch_outbox_advance_${limit}`,
    text: advanceSql(Math.max(1, Math.floor(limit))),
    values: [name],
  })
  if (!rows[0] || rows[0].held === 0) return undefined
  // `held` stays on the rows (not copied away row by row).
  return rows.filter((row) => row.id !== null)
}
