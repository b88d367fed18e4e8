import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Inbound webhooks of bots (issue 14): `POST /api/v1/hooks/{token}` starts a run of the hook's bot.
// The token is the credential: only its SHA-256 is kept, with a hint for people.
export function botHooks(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE bot_hooks (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        bot_id text NOT NULL,
        token_hash text NOT NULL,
        token_hint text NOT NULL,
        expires_at bigint,
        revoked_at bigint,
        last_used_at bigint,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE UNIQUE INDEX bot_hooks_token_idx ON bot_hooks (token_hash)`.execute(db)
      await sql`CREATE INDEX bot_hooks_bot_idx ON bot_hooks (tenant_id, bot_id)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE bot_hooks`.execute(db)
    },
  }
}
