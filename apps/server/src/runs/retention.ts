import { type Kysely, type SelectQueryBuilder, sql } from 'kysely'
import type { Db, Tables } from '../database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'

// Retention: finished runs older than the retention period are deleted with their log lines, in
// batches. The kernel knows no domain: each domain says which runs it still needs, however old (the
// bots keep each bot's newest run and its newest completed run, its memory: bots/bot.retention.ts).
// Outbox events past every cursor and older than the period go too. Idempotent, so every scheduler
// process may run it.

const finished = ['completed', 'failed', 'cancelled', 'timeout']

export interface PruneResult {
  runs: number
  events: number
  /** Parked events (event_dead_letters) older than the horizon, retried or not. */
  deadLetters: number
}

/**
 * A domain's runs that retention must keep however old: a query of their ids (null ids are ignored),
 * run inside the pruning transaction.
 */
export type RetentionKeeper = (
  trx: Kysely<Tables>,
) =>
  | SelectQueryBuilder<Tables, 'runs', { id: string | null }>
  | SelectQueryBuilder<Tables, never, { id: string | null }>

/** Deletes at most `batch` runs finished before `before` (and their log lines); returns how many. */
export async function pruneRunsOnce(
  database: Db,
  before: number,
  batch: number,
  keepers: readonly RetentionKeeper[] = [],
): Promise<number> {
  return writeTransaction(database, async (trx) => {
    let query = trx
      .selectFrom('runs')
      .select(['tenant_id', 'id'])
      .where('finished_at', '<', before)
      .where('status', 'in', finished)
    for (const keeper of keepers) {
      const kept = keeper(trx).as('k')
      query = query.where((eb) =>
        eb('id', 'not in', eb.selectFrom(kept).select('k.id').where('k.id', 'is not', null)),
      )
    }
    const victims = await query.limit(batch).execute()
    if (victims.length === 0) return 0
    const byTenant = new Map<string, string[]>()
    for (const v of victims) byTenant.set(v.tenant_id, [...(byTenant.get(v.tenant_id) ?? []), v.id])
    for (const [tenantId, ids] of byTenant) {
      await trx.deleteFrom('run_logs').where('tenant_id', '=', tenantId).where('run_id', 'in', ids).execute()
      await trx.deleteFrom('runs').where('tenant_id', '=', tenantId).where('id', 'in', ids).execute()
    }
    return victims.length
  })
}

/**
 * Deletes outbox events older than `before` that every relay has passed. On PostgreSQL the relay's
 * order is (transaction, id), so "passed" compares that pair, not the id alone (decision 0004).
 */
export async function pruneEventsOnce(database: Db, before: number, batch: number): Promise<number> {
  if (database.dialect === 'postgres') {
    const result = await sql`
      DELETE FROM run_events WHERE id IN (
        SELECT e.id FROM run_events e
        WHERE e.created_at < ${before}
          AND NOT EXISTS (SELECT 1 FROM event_cursors c WHERE (e.tx_id, e.id) > (c.last_tx, c.last_id))
        ORDER BY e.id LIMIT ${batch})
      RETURNING id`.execute(database.db)
    return result.rows.length
  }
  return writeTransaction(database, async (trx) => {
    const cursor = await trx
      .selectFrom('event_cursors')
      .select((eb) => eb.fn.min('last_id').as('id'))
      .executeTakeFirst()
    const passed = Number(cursor?.id ?? 0)
    const ids = await trx
      .selectFrom('run_events')
      .select('id')
      .where('id', '<=', passed)
      .where('created_at', '<', before)
      .orderBy('id')
      .limit(batch)
      .execute()
    if (ids.length === 0) return 0
    await trx
      .deleteFrom('run_events')
      .where(
        'id',
        'in',
        ids.map((r) => r.id),
      )
      .execute()
    return ids.length
  })
}

export async function pruneExpired(
  database: Db,
  before: number,
  keepers: readonly RetentionKeeper[],
  batch = 1000,
): Promise<PruneResult> {
  const result = { runs: 0, events: 0, deadLetters: 0 }
  for (;;) {
    const n = await pruneRunsOnce(database, before, batch, keepers)
    result.runs += n
    if (n < batch) break
  }
  for (;;) {
    const n = await pruneEventsOnce(database, before, batch)
    result.events += n
    if (n < batch) break
  }
  // A dead letter nobody retried within the runs' retention is history too: its run may be gone.
  const parked = await database.db
    .deleteFrom('event_dead_letters')
    .where('parked_at', '<', before)
    .executeTakeFirst()
  result.deadLetters = Number(parked.numDeletedRows)
  return result
}
