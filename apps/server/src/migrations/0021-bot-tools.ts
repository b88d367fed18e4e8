import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Bots get tools (issue 13): the tool sets each bot may use (a JSON array of names, empty for every
// existing bot: nothing changes for them) and how many rounds of tool calls a run may make. A run
// with tools calls its model several times: each call is a usage record of its own (`call`, 0 for
// the first), still written once however often the attempt is replayed.
export function botTools(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE bots ADD COLUMN tools text NOT NULL DEFAULT '[]'`.execute(db)
      await sql`ALTER TABLE bots ADD COLUMN max_tool_iterations integer NOT NULL DEFAULT 10`.execute(db)
      await sql`ALTER TABLE usage_records ADD COLUMN call integer NOT NULL DEFAULT 0`.execute(db)
      await sql`DROP INDEX usage_records_run_idx`.execute(db)
      await sql`CREATE UNIQUE INDEX usage_records_run_idx ON usage_records (run_id, attempt, call)`.execute(
        db,
      )
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP INDEX usage_records_run_idx`.execute(db)
      await sql`DELETE FROM usage_records WHERE call > 0`.execute(db)
      await sql`CREATE UNIQUE INDEX usage_records_run_idx ON usage_records (run_id, attempt)`.execute(db)
      await sql`ALTER TABLE usage_records DROP COLUMN call`.execute(db)
      await sql`ALTER TABLE bots DROP COLUMN max_tool_iterations`.execute(db)
      await sql`ALTER TABLE bots DROP COLUMN tools`.execute(db)
    },
  }
}
