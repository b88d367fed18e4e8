import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Indexes of the run queue's hot path, reshaped after profiling the engine benchmark (docs/benchmarks.md).
export function queuePerformance(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      // The rescuer's index was partial on `status = 'running'`, the very condition every fenced
      // settlement and heartbeat carries. PostgreSQL's generic plan for those statements then ANDed a
      // bitmap of the whole lease index (every run that ever ran and was not vacuumed yet) with the
      // primary key: a settlement cost a scan of the index, growing with the queue. Every transition
      // out of `running` clears `lease_expires_at`, so `lease_expires_at IS NOT NULL` names the same
      // rows, and no statement but the rescuer's (`lease_expires_at < $now` implies it) can use it.
      await sql`DROP INDEX runs_lease_idx`.execute(db)
      await sql`CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE lease_expires_at IS NOT NULL`.execute(
        db,
      )
      // A non-HOT update (every claim and settlement) adds an entry to each index the new row belongs
      // to. Runs without a bot (pipeline steps, agent tasks, API runs) are never listed by bot, so they
      // stay out of the by-bot index; `bot_id = ?` implies the predicate on both engines.
      await sql`DROP INDEX runs_tenant_bot_idx`.execute(db)
      await sql`CREATE INDEX runs_tenant_bot_idx ON runs (tenant_id, bot_id, id) WHERE bot_id IS NOT NULL`.execute(
        db,
      )
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP INDEX runs_tenant_bot_idx`.execute(db)
      await sql`CREATE INDEX runs_tenant_bot_idx ON runs (tenant_id, bot_id, id)`.execute(db)
      await sql`DROP INDEX runs_lease_idx`.execute(db)
      await sql`CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running'`.execute(db)
    },
  }
}
