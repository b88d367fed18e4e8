import { type Kysely, sql } from 'kysely'
import type { Db, Tables } from '../database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { RunEventRow } from './run.table.ts'

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
      // No row: not "from the start" (that would hand the whole outbox over again and again).
      if (!cursor) return undefined
      const lastId = Number(cursor.last_id)
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

/**
 * Makes the cursor `name` if it is missing, at the current end of the outbox (a new consumer starts
 * there). True if it was missing.
 */
export async function ensureCursor(database: Db, name: string): Promise<boolean> {
  if (database.dialect === 'sqlite') {
    const result = await sql`INSERT INTO event_cursors (name, last_id)
      SELECT ${name}, coalesce(max(id), 0) FROM run_events WHERE true
      ON CONFLICT (name) DO NOTHING`.execute(database.db)
    return Number(result.numAffectedRows ?? 0) > 0
  }
  // Every transaction below the snapshot's xmin has ended: the end is "all of them, none after"
  // (the largest id a JavaScript number holds exactly: ids are read into numbers). Events of
  // transactions from xmin on that committed already are delivered: a few too many, never one lost.
  const result = await sql`INSERT INTO event_cursors (name, last_id, last_tx)
    SELECT ${name}, 9007199254740991,
      (pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text::xid8
    ON CONFLICT (name) DO NOTHING`.execute(database.db)
  return Number(result.numAffectedRows ?? 0) > 0
}

/** A consumer's failures in a row and its last error, for everyone to see (0 and null: healthy). */
export async function recordConsumerFailure(
  database: Db,
  name: string,
  failures: number,
  error: string | null,
): Promise<void> {
  await database.db
    .updateTable('event_cursors')
    .set({ failures, last_error: error })
    .where('name', '=', name)
    .execute()
}

/** The next event is no longer the one that failed: another process moved the cursor meanwhile. */
class CursorMoved extends Error {}

/**
 * Parks event `eventId`, the next one of consumer `name` (the one it keeps failing on), and moves
 * its cursor past it, in one transaction. Returns the event; undefined if another process holds the
 * cursor or has moved it (the next event is then another one, which this consumer never failed on).
 */
export async function parkNextEvent(
  database: Db,
  name: string,
  eventId: number,
  error: string,
  attempts: number,
  now: number,
): Promise<RunEventRow | undefined> {
  const rows = await consumeOutbox(database, name, 1, async (events, trx) => {
    const event = events[0]!
    if (Number(event.id) !== eventId) throw new CursorMoved()
    await trx
      .insertInto('event_dead_letters')
      .values({
        consumer: name,
        event_id: Number(event.id),
        tenant_id: event.tenant_id,
        run_id: event.run_id,
        type: event.type,
        payload: event.payload,
        event_created_at: Number(event.created_at),
        error: error.slice(0, 2000),
        attempts,
        parked_at: now,
        retry_requested_at: null,
      })
      .execute()
  }).catch((error) => {
    if (error instanceof CursorMoved) return undefined
    throw error
  })
  return rows?.[0]
}

export async function retryRequested(database: Db, consumer: string) {
  return database.db
    .selectFrom('event_dead_letters')
    .selectAll()
    .where('consumer', '=', consumer)
    .where('retry_requested_at', 'is not', null)
    .orderBy('id')
    .limit(100)
    .execute()
}

/**
 * Takes a dead letter whose retry was asked for, inside the transaction that handles it: false if
 * another process took it first (on PostgreSQL this waits for that one: it commits, or it fails and
 * clears the request).
 */
export async function takeDeadLetterIn(trx: Kysely<Tables>, id: number): Promise<boolean> {
  const result = await trx
    .deleteFrom('event_dead_letters')
    .where('id', '=', id)
    .where('retry_requested_at', 'is not', null)
    .executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

export async function retryFailed(database: Db, id: number, error: string, now: number): Promise<void> {
  await database.db
    .updateTable('event_dead_letters')
    .set((eb) => ({
      retry_requested_at: null,
      attempts: eb('attempts', '+', 1),
      error: error.slice(0, 2000),
      parked_at: now,
    }))
    .where('id', '=', id)
    .execute()
}

export async function listDeadLetters(
  database: Db,
  tenantId: string,
  page: { limit: number; before?: number | undefined },
) {
  let query = database.db
    .selectFrom('event_dead_letters')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('id', 'desc')
    .limit(page.limit)
  if (page.before !== undefined) query = query.where('id', '<', page.before)
  return query.execute()
}

export async function findDeadLetter(database: Db, tenantId: string, id: number) {
  return database.db
    .selectFrom('event_dead_letters')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
}

/** Asks for a parked event to be handled again; undefined if the workspace has no such dead letter. */
export async function requestDeadLetterRetry(database: Db, tenantId: string, id: number, now: number) {
  return database.db
    .updateTable('event_dead_letters')
    .set({ retry_requested_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
}

/** A domain's own events, appended inside its transaction (delivered to consumers after the commit). */
export interface AppendedEvent {
  tenantId: string
  runId: string
  type: string
  payload: Record<string, unknown>
  createdAt: number
}

export async function appendEventsIn(trx: Kysely<Tables>, events: AppendedEvent[]): Promise<void> {
  if (events.length === 0) return
  await trx
    .insertInto('run_events')
    .values(
      events.map((event) => ({
        tenant_id: event.tenantId,
        run_id: event.runId,
        type: event.type,
        payload: JSON.stringify(event.payload),
        created_at: event.createdAt,
      })),
    )
    .execute()
}
