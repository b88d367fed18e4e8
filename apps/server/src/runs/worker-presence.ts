import { sql } from 'kysely'
import type { Db } from '../database.ts'

// Which worker processes are alive and which run kinds each serves (table `run_workers`, migration
// 0017). A run of a kind no live process serves is not failed: it waits, and this says so (a warning
// naming the kind and the `openorch_runs_unserved` gauge) until a process that serves it starts.

/** A process not seen for this long is gone. */
export const presenceTimeoutMs = 30_000
/** How long a due run may wait before its kind counts as unserved (a busy worker is not "none"). */
export const unservedAfterMs = 30_000

export async function announceWorker(database: Db, id: string, kinds: readonly string[], now: number) {
  await database.db
    .insertInto('run_workers')
    .values({ id, kinds: JSON.stringify(kinds), seen_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ kinds: JSON.stringify(kinds), seen_at: now }))
    .execute()
  // Rows of processes that died without saying goodbye.
  await database.db
    .deleteFrom('run_workers')
    .where('seen_at', '<', now - 10 * presenceTimeoutMs)
    .execute()
}

export async function forgetWorker(database: Db, id: string): Promise<void> {
  await database.db.deleteFrom('run_workers').where('id', '=', id).execute()
}

/** Kinds with runs due for a while that no live worker serves, with how many runs wait. */
export async function unservedKinds(database: Db, now: number): Promise<Map<string, number>> {
  const dueBefore = now - unservedAfterMs
  const waiting =
    database.dialect === 'postgres'
      ? (
          await sql<{ kind: string; n: string }>`
            SELECT kind, count(*) AS n FROM run_queue
            WHERE lease_expires_at IS NULL AND run_at <= ${dueBefore} GROUP BY kind`.execute(database.db)
        ).rows
      : await database.db
          .selectFrom('runs')
          .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
          .where('status', '=', 'pending')
          .where('run_at', '<=', dueBefore)
          .groupBy('kind')
          .execute()
  const unserved = new Map<string, number>()
  if (waiting.length === 0) return unserved
  const workers = await database.db
    .selectFrom('run_workers')
    .select('kinds')
    .where('seen_at', '>=', now - presenceTimeoutMs)
    .execute()
  const served = new Set(workers.flatMap((w) => JSON.parse(w.kinds) as string[]))
  for (const row of waiting) if (!served.has(row.kind)) unserved.set(row.kind, Number(row.n))
  return unserved
}
