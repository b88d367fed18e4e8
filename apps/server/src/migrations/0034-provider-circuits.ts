import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Resilient providers (issue 15, decision 0034): one circuit breaker per workspace and provider,
// shared by every process through the database, and the bots' fallback models.
export function providerCircuits(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE provider_circuits (
        tenant_id text NOT NULL,
        provider text NOT NULL,
        state text NOT NULL,
        failures integer NOT NULL,
        opened_at bigint,
        probe_until bigint,
        updated_at bigint NOT NULL,
        PRIMARY KEY (tenant_id, provider)
      )`.execute(db)
      await sql`ALTER TABLE bots ADD COLUMN fallbacks text NOT NULL DEFAULT '[]'`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE bots DROP COLUMN fallbacks`.execute(db)
      await sql`DROP TABLE provider_circuits`.execute(db)
    },
  }
}
