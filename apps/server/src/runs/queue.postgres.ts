import type pg from 'pg'
import type { Db } from '../database.ts'
import {
  type ClaimOptions,
  claimWindowExtra,
  type Lease,
  leaseExpiredError,
  type RunQueue,
  type Settlement,
  type SettlementColumns,
  settlementColumns,
} from './queue.ts'
import type { RunRow } from './run.table.ts'

// The event payload of a changed row, built in the same statement that changes it (outbox).
const eventPayloadSql = `json_build_object('runId', id, 'tenantId', tenant_id, 'kind', kind, 'botId', bot_id,
  'status', status, 'attempt', attempt, 'error', CASE WHEN error_code IS NULL THEN NULL
  ELSE json_build_object('code', error_code, 'message', error_message) END)::text`

const insertEventsFrom = (source: string, now: string) =>
  `INSERT INTO run_events (tenant_id, run_id, type, payload, created_at)
   SELECT tenant_id, id, 'run.' || status, ${eventPayloadSql}, ${now} FROM ${source}`

// The hot state lives in `run_queue` (migration 0008, decision 0013): one narrow row per pending or
// running run. Neither `runs` nor `run_queue` has an index on a column a claim, heartbeat or
// completion changes, so those are HOT updates (no index entries) and a finished run's queue row is
// deleted. Every statement locks the `run_queue` row before the
// `runs` row (the queue CTE runs first: the runs UPDATE reads its output), so two of them never wait
// on each other in opposite orders. Fencing is checked on `run_queue.lease_token`, mirrored to `runs`.

// Claims up to `limit` due runs for worker $2 in one round trip. Walks run_queue_due_idx, skipping
// the running rows (at most the cluster's running runs) that sit among the due ones.
// Every UPDATE names its rows with `id = ANY(…)`: joined to a CTE or unnest instead, a prepared
// statement's generic plan hash-joins against a sequential scan of the whole runs table.
// SKIP LOCKED lets many workers claim at once without waiting on each other.
// When a run with a concurrency key is among the due runs this claims nothing and says so (`keyed`):
// the caller then takes the slow path, which counts running runs per key under an advisory lock.
// Parameters: $1 now, $2 worker id, $3 lease expiry. The limit is written into the statement, one
// prepared statement per limit: with `LIMIT $n` PostgreSQL cannot trust a generic plan and re-plans
// the statement on every call, which costs more than running it.
const claimFastSql = (limit: number) => `
WITH due AS (
  SELECT id, concurrency_key FROM run_queue
  WHERE lease_expires_at IS NULL AND run_at <= $1
  ORDER BY priority DESC, run_at, id
  LIMIT ${limit}
  FOR UPDATE SKIP LOCKED
), gate AS (
  SELECT coalesce(bool_or(concurrency_key IS NOT NULL), false) AS keyed FROM due
), q AS (
  UPDATE run_queue q SET lease_token = q.lease_token + 1, lease_expires_at = $3
  FROM gate WHERE q.id = ANY(ARRAY(SELECT id FROM due)) AND NOT gate.keyed
  RETURNING q.id, q.lease_token
), claimed AS (
  UPDATE runs r SET status = 'running', attempt = r.attempt + 1, lease_token = q.lease_token,
    lease_owner = $2, lease_expires_at = $3, started_at = $1, updated_at = $1, wait_reason = NULL
  FROM q WHERE r.id = ANY(ARRAY(SELECT id FROM q)) AND r.id = q.id
  RETURNING r.*
)
SELECT gate.keyed, claimed.* FROM gate LEFT JOIN claimed ON true`

const dueWindowSql = `
SELECT id, concurrency_key, concurrency_limit FROM run_queue
WHERE lease_expires_at IS NULL AND run_at <= $1
ORDER BY priority DESC, run_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED`

// Same lock order (by hash) in every transaction, so claimers of overlapping keys cannot deadlock.
const lockKeysSql = `
SELECT count(pg_advisory_xact_lock(h)) FROM (
  SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1
) s`

// Uses run_queue_key_idx.
const runningPerKeySql = `
SELECT concurrency_key AS key, count(*)::int AS n FROM run_queue
WHERE lease_expires_at IS NOT NULL AND concurrency_key = ANY($1::text[]) GROUP BY concurrency_key`

const claimByIdsSql = `
WITH q AS (
  UPDATE run_queue q SET lease_token = q.lease_token + 1, lease_expires_at = $3
  WHERE q.id = ANY($1::text[]) AND q.lease_expires_at IS NULL
  RETURNING q.id, q.lease_token
), claimed AS (
  UPDATE runs r SET status = 'running', attempt = r.attempt + 1, lease_token = q.lease_token,
    lease_owner = $2, lease_expires_at = $3, started_at = $4, updated_at = $4, wait_reason = NULL
  FROM q WHERE r.id = ANY(ARRAY(SELECT id FROM q)) AND r.id = q.id
  RETURNING r.*
)
SELECT * FROM claimed ORDER BY priority DESC, run_at, id`

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
  AS v(id text, token bigint, status text, output text, output_hash text, is_new int, tokens_in int,
    tokens_out int, cost_usd float8, duration_ms int, error_code text, error_message text,
    error_retryable int, dead_lettered_at bigint, wait_reason text, run_at bigint, refund int,
    finished_at bigint)
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
  UPDATE runs r SET status = v.status, output = v.output, output_hash = v.output_hash, is_new = v.is_new,
    tokens_in = v.tokens_in, tokens_out = v.tokens_out, cost_usd = v.cost_usd, duration_ms = v.duration_ms,
    error_code = v.error_code, error_message = v.error_message, error_retryable = v.error_retryable,
    dead_lettered_at = v.dead_lettered_at, wait_reason = v.wait_reason, run_at = coalesce(v.run_at, r.run_at),
    attempt = r.attempt - v.refund, finished_at = v.finished_at,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
  FROM v WHERE r.id = ANY(ARRAY(SELECT id FROM qd UNION ALL SELECT id FROM qu)) AND r.id = v.id
    AND r.lease_token = v.token AND r.status = 'running'
  RETURNING r.*
), events AS (
  ${insertEventsFrom('u', '$2')}
)`

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
  ${insertEventsFrom('u', '$1')}
)
SELECT * FROM u`

// The settlement's columns in the order of run_settle_and_claim's parameters, then now, worker id and
// lease expiry.
const settlementColumnOrder = [
  'id',
  'token',
  'status',
  'output',
  'output_hash',
  'is_new',
  'tokens_in',
  'tokens_out',
  'cost_usd',
  'duration_ms',
  'error_code',
  'error_message',
  'error_retryable',
  'dead_lettered_at',
  'wait_reason',
  'run_at',
  'refund',
  'finished_at',
] as const satisfies ReadonlyArray<keyof SettlementColumns>

const settleAndClaimSql = `SELECT run_settle_and_claim(${Array.from({ length: settlementColumnOrder.length + 3 }, (_, i) => `$${i + 1}`).join(', ')}) AS result`

function settlementParams(settlements: Settlement[], now: number): unknown[] {
  return [JSON.stringify(settlements.map((s) => settlementColumns(s, now))), now]
}

export function createPostgresQueue(database: Db): RunQueue {
  const pool = database.pool as pg.Pool

  async function claimSlow(options: ClaimOptions): Promise<RunRow[]> {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const { rows: candidates } = await client.query<{
        id: string
        concurrency_key: string | null
        concurrency_limit: number
      }>(dueWindowSql, [options.now, options.limit + claimWindowExtra])
      const keys = [
        ...new Set(candidates.flatMap((c) => (c.concurrency_key === null ? [] : [c.concurrency_key]))),
      ]
      const running = new Map<string, number>()
      if (keys.length > 0) {
        await client.query(lockKeysSql, [keys])
        const { rows } = await client.query<{ key: string; n: number }>(runningPerKeySql, [keys])
        for (const row of rows) running.set(row.key, row.n)
      }
      const chosen: string[] = []
      for (const candidate of candidates) {
        if (chosen.length >= options.limit) break
        const key = candidate.concurrency_key
        if (key !== null) {
          const count = running.get(key) ?? 0
          if (count >= candidate.concurrency_limit) continue
          running.set(key, count + 1)
        }
        chosen.push(candidate.id)
      }
      const claimed =
        chosen.length === 0
          ? []
          : (
              await client.query<RunRow>(claimByIdsSql, [
                chosen,
                options.workerId,
                options.now + options.leaseMs,
                options.now,
              ])
            ).rows
      await client.query('COMMIT')
      return claimed
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    } finally {
      client.release()
    }
  }

  const queue: RunQueue = {
    async claim(options) {
      // Limits are rounded down to powers of two (at most ten prepared claim statements per
      // connection); a larger claim is made of a few of them.
      const claimed: RunRow[] = []
      let remaining = Math.max(0, Math.floor(options.limit))
      while (remaining > 0) {
        const limit = 2 ** Math.floor(Math.log2(remaining))
        const { rows } = await pool.query<RunRow & { keyed: boolean }>({
          name: `openorch_claim_fast_${limit}`,
          text: claimFastSql(limit),
          values: [options.now, options.workerId, options.now + options.leaseMs],
        })
        if (rows[0]?.keyed) return [...claimed, ...(await claimSlow({ ...options, limit: remaining }))]
        // `keyed` stays on the rows: copying every row without it cost more than carrying it.
        const got: RunRow[] = rows.filter((row) => row.id !== null)
        claimed.push(...got)
        if (got.length < limit) break
        remaining -= got.length
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

    // One settlement and one free slot, a busy one-by-one worker's every step: one call of
    // run_settle_and_claim (migration 0010, decision 0014), one round trip and one commit. Otherwise
    // two statements, deliberately not one: settling and claiming in one statement deadlocked under
    // load (its data-modifying CTEs run interleaved, so a claim could lock a stale row while the
    // settlement still waited, decision 0002). Apart, a claim may wait on a settle, never the reverse.
    async settleAndClaim(settlements: Settlement[], now: number, next: ClaimOptions) {
      if (settlements.length !== 1 || next.limit < 1) {
        const accepted = await queue.settle(settlements, now)
        const claimed = next.limit >= 1 ? await queue.claim(next) : []
        return { accepted, claimed }
      }
      const columns = settlementColumns(settlements[0]!, now)
      const { rows } = await pool.query<{ result: { settled: boolean; keyed: boolean; run: RunRow | null } }>(
        {
          name: 'openorch_settle_and_claim',
          text: settleAndClaimSql,
          values: [
            ...settlementColumnOrder.map((column) => columns[column]),
            now,
            next.workerId,
            next.now + next.leaseMs,
          ],
        },
      )
      const { settled, keyed, run } = rows[0]!.result
      const claimed = keyed ? await claimSlow(next) : run ? [run] : []
      if (!keyed && run && next.limit > 1)
        claimed.push(...(await queue.claim({ ...next, limit: next.limit - 1 })))
      return { accepted: [settled], claimed }
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
