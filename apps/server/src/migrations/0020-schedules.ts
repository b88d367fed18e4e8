import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// The scheduler becomes a domain of its own (issue 12, decision 0028): a table of schedules, each owned
// by a kind's domain, instead of the bots' columns. Every bot with a schedule gets its row, at the
// slot it was going to fire next, so an upgrade neither skips nor repeats a slot (the slot keys stay
// `schedule:<botId>:<slot>`).
export function schedules(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE schedules (
        owner_kind text NOT NULL,
        owner_id text NOT NULL,
        tenant_id text NOT NULL,
        spec text NOT NULL,
        timezone text NOT NULL,
        jitter_seconds integer NOT NULL,
        missed_policy text NOT NULL,
        overlap_policy text NOT NULL,
        next_slot_at bigint,
        next_fire_at bigint,
        updated_at bigint NOT NULL,
        PRIMARY KEY (owner_kind, owner_id)
      )`.execute(db)
      // The scheduler walks the schedules that fire by their next fire time.
      await sql`CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL`.execute(
        db,
      )
      await sql`INSERT INTO schedules (owner_kind, owner_id, tenant_id, spec, timezone, jitter_seconds,
          missed_policy, overlap_policy, next_slot_at, next_fire_at, updated_at)
        SELECT 'bot', id, tenant_id, schedule, timezone, jitter_seconds, missed_run_policy, overlap_policy,
          next_slot_at, next_fire_at, updated_at
        FROM bots WHERE schedule IS NOT NULL`.execute(db)
      await sql`DROP INDEX bots_due_idx`.execute(db)
      await sql`ALTER TABLE bots DROP COLUMN next_fire_at`.execute(db)
      await sql`ALTER TABLE bots DROP COLUMN next_slot_at`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE bots ADD COLUMN next_fire_at bigint`.execute(db)
      await sql`ALTER TABLE bots ADD COLUMN next_slot_at bigint`.execute(db)
      await sql`UPDATE bots SET
          next_fire_at = (SELECT s.next_fire_at FROM schedules s WHERE s.owner_kind = 'bot' AND s.owner_id = bots.id),
          next_slot_at = (SELECT s.next_slot_at FROM schedules s WHERE s.owner_kind = 'bot' AND s.owner_id = bots.id)`.execute(
        db,
      )
      await sql`CREATE INDEX bots_due_idx ON bots (next_fire_at) WHERE next_fire_at IS NOT NULL`.execute(db)
      await sql`DROP TABLE schedules`.execute(db)
    },
  }
}
