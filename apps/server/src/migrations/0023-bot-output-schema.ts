import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// A bot may have an output schema (issue 13): the JSON Schema its answers must match (JSON text; null:
// a free-text answer, as every existing bot has).
export function botOutputSchema(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE bots ADD COLUMN output_schema text`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE bots DROP COLUMN output_schema`.execute(db)
    },
  }
}
