import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Triggers between bots (issue 15): what a bot starts when one of its runs completes.
export function botOnComplete(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE bots ADD COLUMN on_complete text NOT NULL DEFAULT '[]'`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE bots DROP COLUMN on_complete`.execute(db)
    },
  }
}
