import type pg from 'pg'
import type { Db } from '../database.ts'
import { settlementParameterColumns } from './queue.functions.postgres.ts'
import {
  type ClaimOptions,
  claimWindowExtra,
  type Lease,
  leaseExpiredError,
  type RunQueue,
  type Settlement,
  settlementColumns,
} from './queue.ts'
import type { RunRow } from './run.table.ts'
import { insertEventsFromSql } from './run-event.ts'

// The hot state lives in `run_queue` (migration 0008, decision 0013): one narrow row per pending or
// running run. Neither `runs` nor `run_queue` has an index on a column a claim, heartbeat or
// completion changes, so those are HOT updates (no index entries) and a finished run's queue row is
// deleted. Every statement locks the `run_queue` row before the `runs` row (the queue CTE runs first:
// the runs UPDATE reads its output), so two of them never wait on each other in opposite orders.
// Fencing is checked on `run_queue.lease_token`, mirrored to `runs`.
//
// Concurrency keys (migration 0017, decision 0024): `run_keys` counts each key's running runs. A claim
// walks the due runs in order, locking each with SKIP LOCKED as it reads it and passing over those
// whose key is busy (by the count its snapshot sees), until it has `limit`; only then does it lock the
// key rows of what it holds (SKIP LOCKED again), re-read their counts from those newest row versions,
// keep at most `limit - running` runs per key and bump the counts, all in its one statement. Locking
// only what it holds keeps concurrent claims out of each other's way (locking every key of the window
// made each claim take them all and the others come back empty). Every path that ends a lease lowers
// the count in the statement that ends it (settle, rescue, cancel), locking key rows in key order, so
// two of them cannot deadlock; claims never wait on a lock at all.

// Claims up to `limit` due runs of the worker's kinds ($4) for worker $2 in one round trip. Walks
// run_queue_due_idx, skipping the running rows (at most the cluster's running runs) that sit among the
// due ones, and at most claimWindowExtra rows more than it needs, so runs behind a busy key get a turn
// without a claim walking a long line of them. The lock sits inside the window's subquery, so only rows
// actually read are locked. `picked` says how many it held: fewer taken means another claim had their
// key for the moment, or two of them shared a key (the caller tries again), not that the queue ran dry. Every UPDATE names its rows with
// `id = ANY(…)`: joined to a CTE instead, a prepared statement's generic plan hash-joins against a
// sequential scan of the whole runs table.
// Parameters: $1 now, $2 worker id, $3 lease expiry, $4 kinds. The limit is written into the
// statement, one prepared statement per limit: with `LIMIT $n` PostgreSQL cannot trust a generic plan
// and re-plans the statement on every call, which costs more than running it.
// With `fromPriority` ($5) only runs of at least that priority (the `degraded` operating mode).
export const claimSql = (limit: number, fromPriority = false) => `
WITH locked AS MATERIALIZED (
  SELECT c.id, c.concurrency_key, c.concurrency_limit, c.priority, c.run_at FROM (
    SELECT id, concurrency_key, concurrency_limit, priority, run_at FROM run_queue
    WHERE lease_expires_at IS NULL AND run_at <= $1 AND kind = ANY($4::text[])${fromPriority ? ' AND priority >= $5' : ''}
    ORDER BY priority DESC, run_at, id
    LIMIT ${limit + claimWindowExtra}
    FOR UPDATE SKIP LOCKED
  ) c
  WHERE c.concurrency_key IS NULL
    OR coalesce((SELECT k.running FROM run_keys k WHERE k.key = c.concurrency_key), 0) < c.concurrency_limit
  LIMIT ${limit}
), keys AS MATERIALIZED (
  SELECT key, running FROM run_keys
  WHERE key = ANY(ARRAY(SELECT DISTINCT concurrency_key FROM locked WHERE concurrency_key IS NOT NULL))
  ORDER BY key
  FOR UPDATE SKIP LOCKED
), chosen AS MATERIALIZED (
  SELECT id, concurrency_key FROM (
    SELECT l.id, l.concurrency_key,
      l.concurrency_key IS NULL OR row_number() OVER (PARTITION BY l.concurrency_key
        ORDER BY l.priority DESC, l.run_at, l.id) <= l.concurrency_limit - k.running AS fits
    FROM locked l LEFT JOIN keys k ON k.key = l.concurrency_key
    WHERE l.concurrency_key IS NULL OR k.key IS NOT NULL
  ) ranked
  WHERE fits
), taken AS (
  UPDATE run_keys k SET running = k.running + c.n
  FROM (SELECT concurrency_key, count(*)::int AS n FROM chosen WHERE concurrency_key IS NOT NULL
    GROUP BY concurrency_key) c
  WHERE k.key = c.concurrency_key
), q AS (
  UPDATE run_queue q SET lease_token = q.lease_token + 1, lease_expires_at = $3
  WHERE q.id = ANY(ARRAY(SELECT id FROM chosen))
  RETURNING q.id, q.lease_token
), claimed AS (
  UPDATE runs r SET status = 'running', attempt = r.attempt + 1, lease_token = q.lease_token,
    lease_owner = $2, lease_expires_at = $3, started_at = $1, updated_at = $1, wait_reason = NULL
  FROM q WHERE r.id = ANY(ARRAY(SELECT id FROM q)) AND r.id = q.id
  RETURNING r.*
)
SELECT (SELECT count(*) FROM locked)::int AS picked, claimed.*
FROM (SELECT 1) one LEFT JOIN claimed ON true
ORDER BY claimed.priority DESC, claimed.run_at, claimed.id`

/**
 * Lowers the running count of the keys of the runs in `source` (a CTE of runs rows that just left
 * `running`). Key rows are locked in key order first, so two such statements cannot deadlock.
 */
const releaseKeysCtes = (source: string) => `
released_n AS (
  SELECT concurrency_key AS key, count(*)::int AS n FROM ${source} WHERE concurrency_key IS NOT NULL
  GROUP BY concurrency_key
), released_locked AS MATERIALIZED (
  SELECT key FROM run_keys WHERE key = ANY(ARRAY(SELECT key FROM released_n)) ORDER BY key FOR UPDATE
), released AS (
  UPDATE run_keys k SET running = greatest(0, k.running - r.n)
  FROM released_n r WHERE k.key = ANY(ARRAY(SELECT key FROM released_locked)) AND k.key = r.key
)`

// Only the queue row's lease moves (runs.lease_expires_at keeps the claim's value until settlement).
const heartbeatSql = `
UPDATE run_queue q SET lease_expires_at = $3
FROM unnest($1::text[], $2::bigint[]) AS v(id, token)
WHERE q.id = ANY($1::text[]) AND q.id = v.id AND q.lease_token = v.token AND q.lease_expires_at IS NOT NULL
RETURNING q.id`

// Fenced: a settlement whose token no longer holds the lease changes nothing and is reported refused.
// A run leaving the queue (completed, failed, timeout, waiting) has its queue row deleted; one going
// back to pending (retry, released) has it updated. The settlements come as one JSON array:
// `json_to_recordset` is estimated at the same row count whether or not PostgreSQL sees the value,
// so the generic plan costs what a custom one does and is kept (with 18 `unnest` arrays, a custom
// plan knew the exact count, always looked cheaper, and the statement was re-planned on every call).
// Rows are named by `id = ANY(ARRAY(SELECT id FROM …))`, never by a join alone, so no plan can
// hash-join against a scan of all runs.
const settleCtes = `
v AS MATERIALIZED (
  SELECT * FROM json_to_recordset($1::json)
  AS v(id text, token bigint, status text, output text, result text, duration_ms int, error_code text, error_message text,
    error_retryable int, dead_lettered_at bigint, wait_reason text, wait_until bigint,
    correlation_key text, run_at bigint, refund int, finished_at bigint)
), qd AS (
  DELETE FROM run_queue q USING v
  WHERE q.id = ANY(ARRAY(SELECT id FROM v WHERE status <> 'pending')) AND q.id = v.id
    AND q.lease_token = v.token AND q.lease_expires_at IS NOT NULL
  RETURNING q.id
), qu AS (
  UPDATE run_queue q SET lease_expires_at = NULL, run_at = coalesce(v.run_at, q.run_at)
  FROM v WHERE q.id = ANY(ARRAY(SELECT id FROM v WHERE status = 'pending')) AND q.id = v.id
    AND q.lease_token = v.token AND q.lease_expires_at IS NOT NULL
  RETURNING q.id
), u AS (
  UPDATE runs r SET status = v.status, output = v.output, result = v.result, duration_ms = v.duration_ms,
    error_code = v.error_code, error_message = v.error_message, error_retryable = v.error_retryable,
    dead_lettered_at = v.dead_lettered_at, wait_reason = v.wait_reason, wait_until = v.wait_until,
    correlation_key = v.correlation_key, run_at = coalesce(v.run_at, r.run_at),
    attempt = r.attempt - v.refund, finished_at = v.finished_at,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
  FROM v WHERE r.id = ANY(ARRAY(SELECT id FROM qd UNION ALL SELECT id FROM qu)) AND r.id = v.id
    AND r.lease_token = v.token AND r.status = 'running'
  RETURNING r.*
), events AS (
  ${insertEventsFromSql('u', '$2')}
), ${releaseKeysCtes('u')}`

const settleSql = `WITH ${settleCtes} SELECT id FROM u`

// Takes back runs whose lease expired. Reads run_queue without an index (it holds only queued and
// running runs, and an index on the lease would make every claim a non-HOT update); bumping the token
// fences the lost worker out. A run with attempts left is pending again (its queue row stays, without a lease); the
// others fail and leave the queue.
const rescueSql = `
WITH expired AS (
  SELECT id FROM run_queue WHERE lease_expires_at < $1
  ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
), u AS (
  UPDATE runs r SET
    status = CASE WHEN r.attempt < r.max_attempts THEN 'pending' ELSE 'failed' END,
    run_at = $1, lease_token = r.lease_token + 1, lease_owner = NULL, lease_expires_at = NULL,
    error_code = $3, error_message = $4, error_retryable = 1,
    dead_lettered_at = CASE WHEN r.attempt < r.max_attempts THEN NULL ELSE $1 END,
    finished_at = CASE WHEN r.attempt < r.max_attempts THEN NULL ELSE $1 END, updated_at = $1
  WHERE r.id = ANY(ARRAY(SELECT id FROM expired))
  RETURNING r.*
), qu AS (
  UPDATE run_queue q SET lease_expires_at = NULL, run_at = $1, lease_token = u.lease_token
  FROM u WHERE q.id = ANY(ARRAY(SELECT id FROM u WHERE status = 'pending')) AND q.id = u.id
), qd AS (
  DELETE FROM run_queue q WHERE q.id = ANY(ARRAY(SELECT id FROM expired))
    AND q.id <> ALL(ARRAY(SELECT id FROM u WHERE status = 'pending'))
), events AS (
  ${insertEventsFromSql('u', '$1')}
), ${releaseKeysCtes('u')}
SELECT * FROM u`

function settlementParams(settlements: Settlement[], now: number): unknown[] {
  return [JSON.stringify(settlements.map((s) => settlementColumns(s, now))), now]
}

const claimOneSql = 'SELECT * FROM run_claim_one($1, $2, $3, $4) WHERE id IS NOT NULL'

const settleAndClaimSql = `SELECT run_settle_and_claim(${Array.from(
  { length: settlementParameterColumns.length + 4 },
  (_, i) => `$${i + 1}`,
).join(', ')}) AS result`

/** How often a claim cut short by another claim's locks tries again before giving up for now. */
const maxContendedRetries = 3

export function createPostgresQueue(database: Db): RunQueue {
  const pool = database.pool as pg.Pool

  const queue: RunQueue = {
    async claim(options) {
      if (options.kinds.length === 0) return []
      const fromPriority = options.minPriority !== undefined
      if (Math.floor(options.limit) === 1 && !fromPriority) {
        // One run (a one-by-one worker's every claim): the function, one round trip of index lookups.
        const { rows } = await pool.query<RunRow>({
          name: 'openorch_claim_one',
          text: claimOneSql,
          values: [options.now, options.workerId, options.now + options.leaseMs, options.kinds],
        })
        return rows
      }
      // Limits are rounded down to powers of two (at most ten prepared claim statements per
      // connection); a larger claim is made of a few of them.
      const claimed: RunRow[] = []
      let remaining = Math.max(0, Math.floor(options.limit))
      let contended = 0
      while (remaining > 0) {
        const limit = 2 ** Math.floor(Math.log2(remaining))
        const values = [options.now, options.workerId, options.now + options.leaseMs, options.kinds]
        const { rows } = await pool.query<RunRow & { picked: number }>(
          fromPriority
            ? {
                name: `openorch_claim_from_${limit}`,
                text: claimSql(limit, true),
                values: [...values, options.minPriority],
              }
            : { name: `openorch_claim_${limit}`, text: claimSql(limit), values },
        )
        const picked = rows[0]?.picked ?? 0
        // `picked` stays on the rows: copying every row without it cost more than carrying it.
        const got: RunRow[] = rows[0]?.id === null ? [] : rows
        claimed.push(...got)
        remaining -= got.length
        if (got.length < picked && contended < maxContendedRetries) {
          // Another claim held some of what we picked for the moment its statement ran: try again
          // shortly, when it has committed and its runs no longer look free.
          contended++
          await new Promise((resolve) => setTimeout(resolve, 1 + contended))
          continue
        }
        if (got.length < limit) break
      }
      return claimed
    },

    async heartbeat(leases: Lease[], now: number, leaseMs: number) {
      const { rows } = await pool.query<{ id: string }>({
        name: 'openorch_heartbeat',
        text: heartbeatSql,
        values: [leases.map((l) => l.id), leases.map((l) => l.token), now + leaseMs],
      })
      const held = new Set(rows.map((row) => row.id))
      return new Set(leases.filter((l) => !held.has(l.id)).map((l) => l.id))
    },

    async settle(settlements: Settlement[], now: number) {
      const { rows } = await pool.query<{ id: string }>({
        name: 'openorch_settle',
        text: settleSql,
        values: settlementParams(settlements, now),
      })
      const accepted = new Set(rows.map((row) => row.id))
      return settlements.map((s) => accepted.has(s.id))
    },

    // One settlement and a free slot, a busy one-by-one worker's every step: one call of
    // run_settle_and_claim (queue.functions.postgres.ts), one round trip and one commit. Otherwise two
    // statements, deliberately not one: settling and claiming in one statement deadlocked under load
    // (its data-modifying CTEs run interleaved, so a claim could lock a stale row while the settlement
    // still waited, decision 0002). Apart, a claim never waits on anything.
    async settleAndClaim(settlements: Settlement[], now: number, next: ClaimOptions) {
      // The function claims any priority: in the `degraded` mode the claim is the plain statement's.
      if (
        settlements.length !== 1 ||
        next.limit < 1 ||
        next.kinds.length === 0 ||
        next.minPriority !== undefined
      ) {
        const accepted = await queue.settle(settlements, now)
        const claimed = next.limit >= 1 ? await queue.claim(next) : []
        return { accepted, claimed }
      }
      const columns = settlementColumns(settlements[0]!, now)
      const { rows } = await pool.query<{ result: { settled: boolean; run: RunRow | null } }>({
        name: 'openorch_settle_and_claim',
        text: settleAndClaimSql,
        values: [
          ...settlementParameterColumns.map((column) => columns[column]),
          now,
          next.workerId,
          next.now + next.leaseMs,
          next.kinds,
        ],
      })
      const { settled, run } = rows[0]!.result
      const claimed = run ? [run] : []
      if (run && next.limit > 1) claimed.push(...(await queue.claim({ ...next, limit: next.limit - 1 })))
      return { accepted: [settled], claimed }
    },

    async repair() {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        // A keyed queued run without its key row could never be claimed.
        await client.query(`INSERT INTO run_keys (key) SELECT DISTINCT concurrency_key FROM run_queue
          WHERE concurrency_key IS NOT NULL ON CONFLICT DO NOTHING`)
        // An over-count would hold a key shut for good. With the key rows locked (claims skip them, a
        // settlement waits), a fresh statement sees every committed lease of those keys; a settlement
        // still in flight is counted and lowers the count after us.
        const { rows: locked } = await client.query<{ key: string }>(
          'SELECT key FROM run_keys WHERE running > 0 ORDER BY key FOR UPDATE SKIP LOCKED',
        )
        let mended = 0
        if (locked.length > 0) {
          const { rowCount } = await client.query(
            `UPDATE run_keys k SET running = c.n FROM (
               SELECT key, (SELECT count(*) FROM run_queue q
                 WHERE q.concurrency_key = k2.key AND q.lease_expires_at IS NOT NULL)::int AS n
               FROM run_keys k2 WHERE k2.key = ANY($1::text[])
             ) c WHERE k.key = c.key AND k.running <> c.n`,
            [locked.map((row) => row.key)],
          )
          mended = rowCount ?? 0
        }
        await client.query('COMMIT')
        return mended
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw error
      } finally {
        client.release()
      }
    },

    async rescueExpired(now: number, limit: number) {
      const { rows } = await pool.query<RunRow>(rescueSql, [
        now,
        limit,
        leaseExpiredError.code,
        leaseExpiredError.message,
      ])
      return rows
    },
  }
  return queue
}
