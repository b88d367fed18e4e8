import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Quiet hours (issue 14): per channel (`channels.quiet_hours`) and per workspace
// (`notification_settings`, with the system events that are urgent enough to ignore them). What
// arrives in a quiet window waits in `held_notifications` for the one digest sent when it ends.
export function quietHours(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE channels ADD COLUMN quiet_hours text`.execute(db)
      await sql`CREATE TABLE notification_settings (
        tenant_id text PRIMARY KEY,
        quiet_hours text,
        urgent_events text NOT NULL,
        updated_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE TABLE held_notifications (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        channel_id text NOT NULL,
        window_end bigint NOT NULL,
        input text NOT NULL,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE INDEX held_notifications_window_idx ON held_notifications (channel_id, window_end, id)`.execute(
        db,
      )
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE held_notifications`.execute(db)
      await sql`DROP TABLE notification_settings`.execute(db)
      await sql`ALTER TABLE channels DROP COLUMN quiet_hours`.execute(db)
    },
  }
}
