import type SqliteDatabase from 'better-sqlite3'
import type { Db } from '../database.ts'
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
import { type EventPayloadColumns, eventPayloadColumnList, eventPayloadOf } from './run-event.ts'

// SQLite has one writer: every write below runs in BEGIN IMMEDIATE, so a claim sees every
// committed claim of any other process on the same file. Statements are prepared once.
export function createSqliteQueue(database: Db): RunQueue {
  let statements: Statements | undefined
  const run = <T>(fn: (s: Statements) => T): Promise<T> =>
    database.withSqlite((sqlite) => {
      statements ??= prepare(sqlite)
      const s = statements
      s.begin.run()
      try {
        const result = fn(s)
        s.commit.run()
        return result
      } catch (error) {
        if (sqlite.inTransaction) s.rollback.run()
        throw error
      }
    })

  return {
    claim: (options: ClaimOptions) => run((s) => claimInTransaction(s, options)),

    heartbeat: (leases: Lease[], now: number, leaseMs: number) =>
      run((s) => {
        const refused = new Set<string>()
        for (const lease of leases) {
          if (s.extendLease.run(now + leaseMs, lease.id, lease.token).changes === 0) refused.add(lease.id)
        }
        return refused
      }),

    settle: (settlements: Settlement[], now: number) => run((s) => settleInTransaction(s, settlements, now)),

    settleAndClaim: (settlements: Settlement[], now: number, next: ClaimOptions) =>
      run((s) => ({
        accepted: settleInTransaction(s, settlements, now),
        claimed: claimInTransaction(s, next),
      })),

    // SQLite counts running runs per key at each claim: nothing is kept that could drift.
    repair: async () => 0,

    rescueExpired: (now: number, limit: number) =>
      run((s) => {
        const expired = s.expired.all(now, limit) as Array<{ id: string }>
        return expired.map(({ id }) => {
          const row = s.rescueOne.get({ now, id, ...leaseExpiredError }) as RunRow
          s.insertEvent.run(
            row.tenant_id,
            row.id,
            `run.${row.status}`,
            JSON.stringify(eventPayloadOf(row)),
            now,
          )
          return row
        })
      }),
  }
}

type Statements = ReturnType<typeof prepare>

// Uses runs_due_idx. Reads `limit` candidates; only when a busy concurrency key made us skip some does
// it read further (up to claimWindowExtra more), so runs behind a busy key still get a turn.
function claimInTransaction(s: Statements, options: ClaimOptions): RunRow[] {
  if (options.limit < 1 || options.kinds.length === 0) return []
  const kinds = JSON.stringify(options.kinds)
  const running = new Map<string, number>()
  const claimed: RunRow[] = []
  let offset = 0
  while (claimed.length < options.limit && offset <= claimWindowExtra) {
    const want = options.limit - claimed.length
    const candidates = (
      options.minPriority === undefined
        ? s.due.all(options.now, kinds, want, offset)
        : s.dueFrom.all(options.now, kinds, options.minPriority, want, offset)
    ) as Array<{
      id: string
      concurrency_key: string | null
      concurrency_limit: number
    }>
    let skipped = 0
    for (const candidate of candidates) {
      const key = candidate.concurrency_key
      if (key !== null) {
        const count = running.get(key) ?? (s.runningForKey.get(key) as { n: number }).n
        if (count >= candidate.concurrency_limit) {
          skipped++
          continue
        }
        running.set(key, count + 1)
      }
      claimed.push(
        s.claimOne.get(
          options.workerId,
          options.now + options.leaseMs,
          options.now,
          options.now,
          candidate.id,
        ) as RunRow,
      )
    }
    // Claimed rows left the pending set; only the skipped ones still sit in front of the next page.
    if (candidates.length < want || skipped === 0) break
    offset += skipped
  }
  return claimed
}

function settleInTransaction(s: Statements, settlements: Settlement[], now: number): boolean[] {
  return settlements.map((settlement) => {
    const row = s.settleOne.get({ ...settlementColumns(settlement, now), now }) as
      | EventPayloadColumns
      | undefined
    if (!row) return false
    s.insertEvent.run(row.tenant_id, row.id, `run.${row.status}`, JSON.stringify(eventPayloadOf(row)), now)
    return true
  })
}

function prepare(sqlite: SqliteDatabase.Database) {
  return {
    begin: sqlite.prepare('BEGIN IMMEDIATE'),
    commit: sqlite.prepare('COMMIT'),
    rollback: sqlite.prepare('ROLLBACK'),
    due: sqlite.prepare(
      `SELECT id, concurrency_key, concurrency_limit FROM runs
       WHERE status = 'pending' AND run_at <= ? AND kind IN (SELECT value FROM json_each(?))
       ORDER BY priority DESC, run_at, id LIMIT ? OFFSET ?`,
    ),
    // The same, from a priority up (the `degraded` operating mode).
    dueFrom: sqlite.prepare(
      `SELECT id, concurrency_key, concurrency_limit FROM runs
       WHERE status = 'pending' AND run_at <= ? AND kind IN (SELECT value FROM json_each(?)) AND priority >= ?
       ORDER BY priority DESC, run_at, id LIMIT ? OFFSET ?`,
    ),
    runningForKey: sqlite.prepare(
      `SELECT count(*) AS n FROM runs WHERE status = 'running' AND concurrency_key = ?`,
    ),
    claimOne: sqlite.prepare(
      `UPDATE runs SET status = 'running', attempt = attempt + 1, lease_token = lease_token + 1,
         lease_owner = ?, lease_expires_at = ?, started_at = ?, updated_at = ?, wait_reason = NULL
       WHERE id = ? RETURNING *`,
    ),
    insertEvent: sqlite.prepare(
      'INSERT INTO run_events (tenant_id, run_id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    extendLease: sqlite.prepare(
      `UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND status = 'running'`,
    ),
    settleOne: sqlite.prepare(
      `UPDATE runs SET status = @status, output = @output, result = @result, duration_ms = @duration_ms,
         error_code = @error_code, error_message = @error_message, error_retryable = @error_retryable,
         dead_lettered_at = @dead_lettered_at, wait_reason = @wait_reason, wait_until = @wait_until,
         correlation_key = @correlation_key, run_at = coalesce(@run_at, run_at),
         attempt = attempt - @refund, finished_at = @finished_at,
         lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
       WHERE id = @id AND lease_token = @token AND status = 'running'
       RETURNING ${eventPayloadColumnList}`,
    ),
    expired: sqlite.prepare(
      `SELECT id FROM runs WHERE status = 'running' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?`,
    ),
    // Bumping the token fences the lost worker out even before another worker claims the run.
    rescueOne: sqlite.prepare(
      `UPDATE runs SET
         status = CASE WHEN attempt < max_attempts THEN 'pending' ELSE 'failed' END,
         run_at = @now, lease_token = lease_token + 1, lease_owner = NULL, lease_expires_at = NULL,
         error_code = @code, error_message = @message, error_retryable = 1,
         dead_lettered_at = CASE WHEN attempt < max_attempts THEN NULL ELSE @now END,
         finished_at = CASE WHEN attempt < max_attempts THEN NULL ELSE @now END, updated_at = @now
       WHERE id = @id RETURNING *`,
    ),
  }
}
