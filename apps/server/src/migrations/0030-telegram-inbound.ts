import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Telegram inbound (issue 14): how each Telegram channel receives updates (off, polling with a lease
// held by one process of the cluster, or a webhook), the updates already handled (each once), the
// one-time link codes (only their HMAC), the chats linked to people, the chats refused once, the
// approval buttons' single-use tokens and the `/run` commands waiting for their run's result.
export function telegramInbound(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE telegram_inbound (
        channel_id text PRIMARY KEY,
        tenant_id text NOT NULL,
        mode text NOT NULL,
        webhook_url text,
        secret_version integer NOT NULL,
        last_update_id bigint,
        poll_owner text,
        poll_lease_until bigint,
        updated_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE INDEX telegram_inbound_mode_idx ON telegram_inbound (mode)`.execute(db)
      await sql`CREATE TABLE telegram_updates (
        channel_id text NOT NULL,
        update_id bigint NOT NULL,
        processed_at bigint NOT NULL,
        PRIMARY KEY (channel_id, update_id)
      )`.execute(db)
      await sql`CREATE INDEX telegram_updates_processed_idx ON telegram_updates (processed_at)`.execute(db)
      await sql`CREATE TABLE telegram_link_codes (
        code_hash text PRIMARY KEY,
        tenant_id text NOT NULL,
        channel_id text NOT NULL,
        user_id text NOT NULL,
        expires_at bigint NOT NULL,
        used_at bigint,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE TABLE telegram_links (
        channel_id text NOT NULL,
        chat_id text NOT NULL,
        tenant_id text NOT NULL,
        user_id text NOT NULL,
        linked_at bigint NOT NULL,
        PRIMARY KEY (channel_id, chat_id)
      )`.execute(db)
      await sql`CREATE TABLE telegram_strangers (
        channel_id text NOT NULL,
        chat_id text NOT NULL,
        refused_at bigint NOT NULL,
        wrong_codes integer NOT NULL,
        wrong_codes_since bigint,
        PRIMARY KEY (channel_id, chat_id)
      )`.execute(db)
      await sql`CREATE TABLE telegram_callbacks (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        channel_id text NOT NULL,
        approval_id text NOT NULL,
        decision text NOT NULL,
        expires_at bigint NOT NULL,
        used_at bigint,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE INDEX telegram_callbacks_expiry_idx ON telegram_callbacks (expires_at)`.execute(db)
      await sql`CREATE TABLE telegram_run_replies (
        run_id text PRIMARY KEY,
        tenant_id text NOT NULL,
        channel_id text NOT NULL,
        chat_id text NOT NULL,
        created_at bigint NOT NULL
      )`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      for (const table of [
        'telegram_run_replies',
        'telegram_callbacks',
        'telegram_strangers',
        'telegram_links',
        'telegram_link_codes',
        'telegram_updates',
        'telegram_inbound',
      ])
        await sql`DROP TABLE ${sql.table(table)}`.execute(db)
    },
  }
}
