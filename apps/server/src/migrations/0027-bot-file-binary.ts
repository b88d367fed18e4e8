import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// A bot's files may be binary (issue 13: browser_screenshot stores its PNG as a bot file). `encoding`
// says how `content` holds the bytes: `utf8` (the text itself, as every existing row) or `base64`;
// `content_type` is what the file is served as. `size` stays the real byte size, so the quotas count
// bytes, not their base64 spelling. One text column for both keeps the row the same on both engines.
export function botFileBinary(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE bot_files ADD COLUMN encoding text NOT NULL DEFAULT 'utf8'`.execute(db)
      await sql`ALTER TABLE bot_files ADD COLUMN content_type text NOT NULL DEFAULT 'text/plain; charset=utf-8'`.execute(
        db,
      )
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      // Binary files cannot be told from text without the column: they go with it.
      await sql`DELETE FROM bot_files WHERE encoding <> 'utf8'`.execute(db)
      await sql`ALTER TABLE bot_files DROP COLUMN content_type`.execute(db)
      await sql`ALTER TABLE bot_files DROP COLUMN encoding`.execute(db)
    },
  }
}
