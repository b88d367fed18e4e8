import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Operations (issue 16, decision 0040): the cluster's operating mode (one row), the processes that
// share the database with their roles and last heartbeat, and a bot's priority, which the `degraded`
// mode compares with its level.
export function operatingMode(dialect: DialectName) {
  const bigint = dialect === 'postgres' ? sql`bigint` : sql`integer`
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE system_mode (
        id integer PRIMARY KEY CHECK (id = 1),
        mode text NOT NULL,
        min_priority integer,
        reason text,
        changed_by_type text NOT NULL,
        changed_by_id text,
        changed_at ${bigint} NOT NULL
      )`.execute(db)
      await sql`CREATE TABLE cluster_processes (
        id text PRIMARY KEY,
        hostname text NOT NULL,
        pid integer NOT NULL,
        roles text NOT NULL,
        version text NOT NULL,
        started_at ${bigint} NOT NULL,
        seen_at ${bigint} NOT NULL
      )`.execute(db)
      await sql`ALTER TABLE bots ADD COLUMN priority integer NOT NULL DEFAULT 0`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE bots DROP COLUMN priority`.execute(db)
      await sql`DROP TABLE cluster_processes`.execute(db)
      await sql`DROP TABLE system_mode`.execute(db)
    },
  }
}
