import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Web Push (issue 14): the installation's VAPID key pair, made once at first need (the private key in
// the vault), and the browsers subscribed to it, each the `push` channel it was given. The endpoint is a
// capability URL kept with the channel's secrets; only its SHA-256 is here, to find the browser again.
export function push(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE push_vapid_keys (
        id text PRIMARY KEY,
        public_key text NOT NULL,
        private_key_encrypted text NOT NULL,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE TABLE push_subscriptions (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        owner_id text NOT NULL,
        channel_id text NOT NULL,
        endpoint_hash text NOT NULL,
        user_agent text NOT NULL,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE UNIQUE INDEX push_subscriptions_endpoint_idx ON push_subscriptions (tenant_id, endpoint_hash)`.execute(
        db,
      )
      await sql`CREATE INDEX push_subscriptions_hash_idx ON push_subscriptions (endpoint_hash)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE push_subscriptions`.execute(db)
      await sql`DROP TABLE push_vapid_keys`.execute(db)
    },
  }
}
