import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// A bot's notes and the files its tools write live in the database (issue 13), so every process of a
// PostgreSQL cluster sees the same ones and no shared disk is needed. `space` keeps them apart: notes
// are part of every run's context, files only what the bot reads when it needs them. The notes that
// were files under <data>/bots/<id>/ are imported at start-up (bots/bot-notes.import.ts).
export function botFiles(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE bot_files (
        bot_id text NOT NULL,
        space text NOT NULL,
        name text NOT NULL,
        tenant_id text NOT NULL,
        content text NOT NULL,
        size integer NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (bot_id, space, name)
      )`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE bot_files`.execute(db)
    },
  }
}
