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
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP INDEX runs_lease_idx`.execute(db)
      await sql`CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running'`.execute(db)
    },
  }
}
