import type { RunRow } from './run.table.ts'
import type { RunError } from './run.types.ts'

// The queue's hot path, implemented once per dialect (queue.sqlite.ts, queue.postgres.ts).
// Everything above this line is the same code on both engines.

export interface Lease {
  id: string
  token: number
}

/** A domain's result of a completed run (JSON), stored and returned as it is: the kernel never reads it. */
export type CompletionResult = Record<string, unknown>

/** How a worker ends its hold on a run. Each is fenced: refused unless `token` still holds the lease. */
export type Settlement = Lease &
  (
    | { outcome: 'completed'; output: unknown; result?: CompletionResult; durationMs: number }
    | { outcome: 'failed' | 'timeout'; error: RunError; durationMs: number; deadLetter: boolean }
    | { outcome: 'retry'; error: RunError; runAt: number; durationMs: number }
    | { outcome: 'waiting'; reason: string; until?: number | null; correlationKey?: string | null }
    /** Give the run back untouched (shutdown): pending again, the attempt not counted. */
    | { outcome: 'released' }
  )

export interface ClaimOptions {
  workerId: string
  /** Only runs of these kinds (the executors this process has). */
  kinds: readonly string[]
  limit: number
  now: number
  leaseMs: number
  /** Only runs of at least this priority (the `degraded` operating mode); unset: every priority. */
  minPriority?: number
}

export interface RunQueue {
  /**
   * Leases up to `limit` due runs: priority, then FIFO; per-key concurrency respected.
   * A claim writes no outbox event: `running` is announced live only (decision 0004).
   */
  claim(options: ClaimOptions): Promise<RunRow[]>
  /** Extends leases; returns the ids whose lease is no longer held (fenced out). */
  heartbeat(leases: Lease[], now: number, leaseMs: number): Promise<Set<string>>
  /** Applies settlements with their outbox events in one transaction; returns which were accepted. */
  settle(settlements: Settlement[], now: number): Promise<boolean[]>
  /**
   * Settles, then claims the next runs for the freed slots. SQLite does both in one transaction (one
   * commit per run for a busy worker); PostgreSQL in two statements, because one transaction doing
   * both can deadlock with another doing the same (decision 0002).
   */
  settleAndClaim(
    settlements: Settlement[],
    now: number,
    next: ClaimOptions,
  ): Promise<{ accepted: boolean[]; claimed: RunRow[] }>
  /** Takes back runs whose lease expired: pending again if attempts remain, else failed `lease_expired`. */
  rescueExpired(now: number, limit: number): Promise<RunRow[]>
  /**
   * Checks the bookkeeping a claim relies on and mends it (PostgreSQL's per-key running counts);
   * returns how many entries were wrong. A safety net: every path keeps them right itself.
   */
  repair(): Promise<number>
}

export const claimWindowExtra = 100

export const leaseExpiredError = {
  code: 'lease_expired',
  message: 'The worker running this run stopped heart-beating (process died or froze); its lease expired.',
}

/** The columns a settlement writes; the same on both dialects. */
export interface SettlementColumns {
  id: string
  token: number
  status: string
  output: string | null
  result: string | null
  duration_ms: number | null
  error_code: string | null
  error_message: string | null
  error_retryable: number | null
  dead_lettered_at: number | null
  wait_reason: string | null
  wait_until: number | null
  correlation_key: string | null
  run_at: number | null
  refund: number
  finished_at: number | null
}

export function settlementColumns(s: Settlement, now: number): SettlementColumns {
  const base: SettlementColumns = {
    id: s.id,
    token: s.token,
    status: 'pending',
    output: null,
    result: null,
    duration_ms: null,
    error_code: null,
    error_message: null,
    error_retryable: null,
    dead_lettered_at: null,
    wait_reason: null,
    wait_until: null,
    correlation_key: null,
    run_at: null,
    refund: 0,
    finished_at: null,
  }
  switch (s.outcome) {
    case 'completed':
      return {
        ...base,
        status: 'completed',
        output: s.output === undefined || s.output === null ? null : JSON.stringify(s.output),
        result: s.result === undefined || s.result === null ? null : JSON.stringify(s.result),
        duration_ms: s.durationMs,
        finished_at: now,
      }
    case 'failed':
    case 'timeout':
      return {
        ...base,
        status: s.outcome,
        duration_ms: s.durationMs,
        ...errorColumns(s.error),
        dead_lettered_at: s.deadLetter ? now : null,
        finished_at: now,
      }
    case 'retry':
      return {
        ...base,
        status: 'pending',
        duration_ms: s.durationMs,
        ...errorColumns(s.error),
        run_at: s.runAt,
      }
    case 'waiting':
      return {
        ...base,
        status: 'waiting',
        wait_reason: s.reason,
        wait_until: s.until ?? null,
        correlation_key: s.correlationKey ?? null,
      }
    case 'released':
      return { ...base, status: 'pending', run_at: now, refund: 1 }
  }
}

function errorColumns(error: RunError) {
  return { error_code: error.code, error_message: error.message, error_retryable: error.retryable ? 1 : 0 }
}
