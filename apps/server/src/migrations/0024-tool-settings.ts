import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// A workspace's settings of a tool set that needs setting up (issue 13): today the web search provider
// (`search`), with its key encrypted by the vault like a provider's (never returned, rotated by
// `openorch secrets rotate`).
export function toolSettings(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE tool_settings (
        tenant_id text NOT NULL,
        name text NOT NULL,
        provider text NOT NULL,
        base_url text,
        secret_encrypted text,
        key_hint text,
        updated_at bigint NOT NULL,
        PRIMARY KEY (tenant_id, name)
      )`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE tool_settings`.execute(db)
    },
  }
}
