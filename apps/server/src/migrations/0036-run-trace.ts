import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Traces (issue 16, decision 0038): a run keeps the trace it belongs to. `trace_id` is shown in the
// Run JSON (`traceId`); `trace_parent` is the W3C traceparent of the run's span, made at enqueue, so
// each attempt — in another process, at another time — is its child. Both NULL while tracing is off.
// Nullable columns without a default: an instant catalogue change on both engines, no table rewrite.
export function runTrace(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE runs ADD COLUMN trace_id text`.execute(db)
      await sql`ALTER TABLE runs ADD COLUMN trace_parent text`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE runs DROP COLUMN trace_parent`.execute(db)
      await sql`ALTER TABLE runs DROP COLUMN trace_id`.execute(db)
    },
  }
}
