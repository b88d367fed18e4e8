import { type Kysely, sql } from 'kysely'
import type { MigrationBackfill } from '../platform/db/migrator.ts'

// Rewrites of big tables on PostgreSQL without a long lock (decision 0041). A migration creates what
// keeps new writes right (functions, triggers) and a one-row cursor table, in the migrations'
// transaction; after it commits, `run` walks the table in key order, one short transaction per batch
// that moves the cursor with the rows it wrote, so a process killed mid-way resumes where the last
// batch committed. Indexes are then built CONCURRENTLY, the statistics gathered, the cursor table
// dropped: it exists exactly while work is left, so the end state is what one transaction made.

/** Rows per batch: ~0.3 s of run_search_vector() here, the longest a writer of one of them waits. */
export const backfillBatchSize = 500

export interface BatchedBackfill {
  /** The cursor table, created by the migration with one row (`after` = '') and dropped at the end. */
  cursorTable: string
  /** Rewrites the batch after `after` in the caller's transaction; returns the batch's last key, or null when done. */
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  batch(trx: Kysely<any>, after: string, limit: number): Promise<string | null>
  /** Built after the rows, CONCURRENTLY: name → what follows `ON` (`run_search USING gin (vector)`). */
  indexes: Record<string, string>
  /** ANALYZEd at the end, so the first query after the upgrade is planned with statistics. */
  analyze: string
}

/** The backfill of a migration (migrator.ts runs it after the migration commits). */
export function batchedBackfill(spec: BatchedBackfill): MigrationBackfill {
  return {
    async isPending(db) {
      const { rows } = await sql<{ table: string | null }>`
        SELECT to_regclass(${spec.cursorTable})::text AS table`.execute(db)
      return rows[0]?.table != null
    },
    async run(db) {
      for (;;) {
        const done = await withRetry(() =>
          db.transaction().execute(async (trx) => {
            // A writer holding one of the batch's rows: wait a little, then step back and retry,
            // rather than queue other writers behind this batch (lock queues are first come, first served).
            await sql`SET LOCAL lock_timeout = '1s'`.execute(trx)
            const cursor = await sql<{
              after: string
            }>`SELECT after FROM ${sql.table(spec.cursorTable)}`.execute(trx)
            const last = await spec.batch(trx, cursor.rows[0]?.after ?? '', backfillBatchSize)
            if (last === null) return true
            await sql`UPDATE ${sql.table(spec.cursorTable)} SET after = ${last}`.execute(trx)
            return false
          }),
        )
        if (done) break
      }
      for (const [name, definition] of Object.entries(spec.indexes))
        await withRetry(() => createIndexConcurrently(db, name, definition))
      await sql.raw(`ANALYZE ${spec.analyze}`).execute(db)
      await sql`DROP TABLE ${sql.table(spec.cursorTable)}`.execute(db)
    },
  }
}

/**
 * CREATE INDEX CONCURRENTLY: writes go on while it builds. A build that was killed leaves an invalid
 * index of that name; it is dropped and built again. A valid one is kept (killed after the build).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
async function createIndexConcurrently(db: Kysely<any>, name: string, definition: string): Promise<void> {
  const { rows } = await sql<{ valid: boolean }>`
    SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass(${name})`.execute(db)
  if (rows[0]?.valid) return
  if (rows[0]) await sql.raw(`DROP INDEX CONCURRENTLY ${name}`).execute(db)
  await sql.raw(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`).execute(db)
}

// lock_not_available (our lock_timeout) and deadlock_detected: the batch rolled back, nothing is lost.
const retryable = new Set(['55P03', '40P01'])

async function withRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt()
    } catch (error) {
      const code = (error as { code?: string }).code
      if (!code || !retryable.has(code) || tries >= 100) throw error
      await new Promise((resolve) => setTimeout(resolve, 50 * Math.min(tries, 20)))
    }
  }
}

/** Up to this many rows a migration rewrites in its own transaction: the lock lasts a moment. */
export const inlineRowLimit = 1000

/**
 * Whether `table` is small enough to rewrite inline, in the migrations' transaction, as before:
 * a new installation (and every test database) then builds its indexes at once, without a cursor
 * table and without CREATE INDEX CONCURRENTLY, which waits for every older transaction in the
 * database (all other test files' on a shared test server).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
export async function smallEnoughInline(db: Kysely<any>, table: string): Promise<boolean> {
  const { rows } = await sql<{ n: number | string }>`
    SELECT count(*) AS n FROM (SELECT 1 FROM ${sql.table(table)} LIMIT ${inlineRowLimit + 1}) AS sample`.execute(
    db,
  )
  return Number(rows[0]?.n ?? 0) <= inlineRowLimit
}
