import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'
import { queueFunctionsSql } from '../runs/queue.functions.postgres.ts'

// The kernel's seams (issue 12, decision 0024):
// - claims by kind: PostgreSQL's queue row carries the run's kind, so a worker claims only what it
//   has executors for (SQLite filters `runs.kind` directly);
// - keyed claims without locks: `run_keys` counts the running runs of each concurrency key. A claim
//   locks the key rows it needs with SKIP LOCKED and bumps them in the same statement; a settlement
//   lowers them. This replaces the advisory-lock slow path that every bot run (key `bot:<id>`) took;
// - parking: `correlation_key` names the current parking (resume by key, fenced: a later parking has
//   another key), `wait_until` its deadline; a parent waits for its children by `parent_run_id`;
// - `run_workers`: which process serves which kinds, so a run of a kind nobody serves is reported.
//
// The new `runs` indexes are on columns the hot path leaves unchanged (NULL stays NULL for runs that
// never park), so claims and settlements stay HOT updates on PostgreSQL (decision 0013).
export function runKindsAndParking(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE runs ADD COLUMN correlation_key text`.execute(db)
      await sql`ALTER TABLE runs ADD COLUMN wait_until bigint`.execute(db)
      await sql`CREATE UNIQUE INDEX runs_correlation_idx ON runs (tenant_id, correlation_key) WHERE correlation_key IS NOT NULL`.execute(
        db,
      )
      await sql`CREATE INDEX runs_parent_idx ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL`.execute(
        db,
      )
      // The parked runs (few): the deadline and children sweeps walk this.
      await sql`CREATE INDEX runs_parked_idx ON runs (wait_until) WHERE wait_reason IS NOT NULL`.execute(db)
      await sql`CREATE TABLE run_workers (
        id text PRIMARY KEY,
        kinds text NOT NULL,
        seen_at bigint NOT NULL
      )`.execute(db)
      if (dialect !== 'postgres') return
      await sql`ALTER TABLE run_queue ADD COLUMN kind text`.execute(db)
      await sql`UPDATE run_queue q SET kind = r.kind FROM runs r WHERE r.id = q.id`.execute(db)
      await sql`ALTER TABLE run_queue ALTER COLUMN kind SET NOT NULL`.execute(db)
      // fillfactor: a key row is updated twice per keyed run; free room on its page keeps that HOT.
      await sql`CREATE TABLE run_keys (
        key text PRIMARY KEY,
        running integer NOT NULL DEFAULT 0
      ) WITH (fillfactor = 50)`.execute(db)
      await sql`INSERT INTO run_keys (key, running)
        SELECT concurrency_key, count(*) FILTER (WHERE lease_expires_at IS NOT NULL)
        FROM run_queue WHERE concurrency_key IS NOT NULL GROUP BY concurrency_key`.execute(db)
      // One-run claims and settle-and-claim take keyed runs and filter kinds now (run_keys); rebuilt
      // from the queue's own definitions (queue.functions.postgres.ts).
      await sql`DROP FUNCTION IF EXISTS run_settle_and_claim`.execute(db)
      for (const statement of queueFunctionsSql()) await sql.raw(statement).execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE run_workers`.execute(db)
      await sql`DROP INDEX runs_parked_idx`.execute(db)
      await sql`DROP INDEX runs_parent_idx`.execute(db)
      await sql`DROP INDEX runs_correlation_idx`.execute(db)
      await sql`ALTER TABLE runs DROP COLUMN wait_until`.execute(db)
      await sql`ALTER TABLE runs DROP COLUMN correlation_key`.execute(db)
      if (dialect !== 'postgres') return
      await sql`DROP FUNCTION run_settle_and_claim`.execute(db)
      await sql`DROP FUNCTION run_claim_one`.execute(db)
      await sql`DROP TABLE run_keys`.execute(db)
      await sql`ALTER TABLE run_queue DROP COLUMN kind`.execute(db)
    },
  }
}
