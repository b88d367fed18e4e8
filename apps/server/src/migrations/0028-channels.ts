import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Channels (issue 14, decision 0032): where notifications go, and which bots notify where. A
// notification itself is a run of kind `notification` (its history is the runs table). Secret
// config fields live vault-encrypted in `secrets_encrypted`, shown only as hints.
export function channels(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE channels (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        type text NOT NULL,
        name text NOT NULL,
        config text NOT NULL,
        secrets_encrypted text,
        secret_hints text NOT NULL,
        status text NOT NULL,
        last_error text,
        last_delivered_at bigint,
        event_types text NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE UNIQUE INDEX channels_name_idx ON channels (tenant_id, name)`.execute(db)
      await sql`CREATE TABLE bot_channels (
        bot_id text NOT NULL,
        channel_id text NOT NULL,
        tenant_id text NOT NULL,
        rule text NOT NULL,
        format text NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (bot_id, channel_id)
      )`.execute(db)
      await sql`CREATE INDEX bot_channels_channel_idx ON bot_channels (channel_id)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE bot_channels`.execute(db)
      await sql`DROP TABLE channels`.execute(db)
    },
  }
}
