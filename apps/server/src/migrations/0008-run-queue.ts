import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// PostgreSQL: the queue's hot state moves to a narrow table of its own (decision 0013).
//
// Every claim and settlement was a non-HOT update of the 36-column `runs` row, because `status`,
// `run_at` and `lease_expires_at` are in the due, lease and running-key indexes: each update added
// an entry to every index of `runs` (~26 WAL records per run). `run_queue` holds one narrow row per
// pending or running run and carries those three indexes; `runs` keeps only indexes on columns the
// hot path never changes, so its updates are HOT (no index entries, pruned on the page) and a
// finished run's queue row is simply deleted.
//
// SQLite updates only the indexes whose columns change (no HOT, no dead index entries), so the wide
// row costs it little and a second table would add writes: on SQLite this migration changes nothing.
export function runQueue(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      if (dialect !== 'postgres') return
      // Row present ⇔ the run is pending or running; `lease_expires_at` NULL ⇔ pending.
      // `lease_token` mirrors runs.lease_token: fencing is checked here, on the row every writer locks first.
      await sql`CREATE TABLE run_queue (
        id text PRIMARY KEY,
        priority integer NOT NULL,
        run_at bigint NOT NULL,
        lease_token bigint NOT NULL,
        lease_expires_at bigint,
        concurrency_key text,
        concurrency_limit integer NOT NULL
      )`.execute(db)
      // Existing queued and running runs come along (an upgrade, not only a fresh database). A running
      // run without a lease expiry (never written by this code) is given an expired one: rescued at once.
      await sql`INSERT INTO run_queue (id, priority, run_at, lease_token, lease_expires_at, concurrency_key, concurrency_limit)
        SELECT id, priority, run_at, lease_token,
          CASE WHEN status = 'running' THEN coalesce(lease_expires_at, 0) END, concurrency_key, concurrency_limit
        FROM runs WHERE status IN ('pending', 'running')`.execute(db)
      // Only columns a claim, heartbeat and settlement never change are indexed here, so a claim and a
      // heartbeat are HOT updates of the queue row too (no index entry), and a settlement deletes it.
      // The claim walks this index (due runs by priority, then FIFO) and skips the few running rows at
      // its head; `lease_expires_at` is deliberately not indexed (decision 0013).
      await sql`CREATE INDEX run_queue_due_idx ON run_queue (priority DESC, run_at, id)`.execute(db)
      // Per-key concurrency counts running runs of a key (filtering the leased ones).
      await sql`CREATE INDEX run_queue_key_idx ON run_queue (concurrency_key) WHERE concurrency_key IS NOT NULL`.execute(
        db,
      )
      await sql`ALTER TABLE run_queue SET (fillfactor = 50)`.execute(db)
      await sql`DROP INDEX runs_due_idx`.execute(db)
      await sql`DROP INDEX runs_lease_idx`.execute(db)
      await sql`DROP INDEX runs_running_key_idx`.execute(db)
      // Room on each page for the two new versions a run's claim and settlement write, so they stay
      // HOT (same page) even when an old snapshot elsewhere in the database keeps the page from being
      // pruned in time (measured: at 50, half the runs had one non-HOT update on a busy server).
      // Applies to pages written from now on.
      await sql`ALTER TABLE runs SET (fillfactor = 35)`.execute(db)
      // The relay and listings on PostgreSQL read the outbox in (tx_id, id) order (run_events_tx_idx);
      // nothing walks (tenant_id, id) here, and it cost an index entry per event. SQLite keeps it.
      await sql`DROP INDEX run_events_tenant_idx`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      if (dialect !== 'postgres') return
      await sql`CREATE INDEX run_events_tenant_idx ON run_events (tenant_id, id)`.execute(db)
      await sql`ALTER TABLE runs RESET (fillfactor)`.execute(db)
      // runs.lease_expires_at is not moved by heartbeats on this schema: take the live value back.
      await sql`UPDATE runs r SET lease_expires_at = q.lease_expires_at FROM run_queue q
        WHERE r.id = q.id AND q.lease_expires_at IS NOT NULL`.execute(db)
      await sql`CREATE INDEX runs_due_idx ON runs (priority DESC, run_at, id) WHERE status = 'pending'`.execute(
        db,
      )
      await sql`CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE lease_expires_at IS NOT NULL`.execute(
        db,
      )
      await sql`CREATE INDEX runs_running_key_idx ON runs (concurrency_key) WHERE status = 'running' AND concurrency_key IS NOT NULL`.execute(
        db,
      )
      await sql`DROP TABLE run_queue`.execute(db)
    },
  }
}
