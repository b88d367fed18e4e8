import { sql } from 'kysely'
import type { Db } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import { insertRunsWithoutKeys } from './enqueue.postgres.ts'
import { insertRunsWithoutKeysSqlite } from './enqueue.sqlite.ts'
import { toJsonText, toRun } from './run.mapper.ts'
import {
  countPendingRuns,
  dequeueQueueRow,
  enqueueQueueRows,
  findRun,
  insertEvents,
  insertRunRows,
  listRuns,
  type RunListFilter,
  transitionRun,
} from './run.store.ts'
import type { RunRow } from './run.table.ts'
import type { EnqueueRequest, EnqueueResult, Run } from './run.types.ts'

export interface RunServiceDeps {
  database: Db
  bus: Bus
  clock: Clock
  log: Logger
  backpressure: { warnPending: number; dropPending: number }
  /** Called after a commit that made runs due (wakes this process's worker at once). */
  onRunsDue?: () => void
  /** Called when a run's state was changed outside its worker (cancel), to abort it where it runs. */
  onCancelled?: (run: Run) => void
  onDropped?: (request: EnqueueRequest, reason: string) => void
}

export type RunService = ReturnType<typeof createRunService>

export function createRunService(deps: RunServiceDeps) {
  const { database, clock, log } = deps
  let warned = false

  function newRow(request: EnqueueRequest, now: number): RunRow {
    if (!request.kind) throw new AppError('run_kind_required', 'A run needs a kind.', 400)
    return {
      id: newId(),
      tenant_id: request.tenantId,
      kind: request.kind,
      bot_id: request.botId ?? null,
      parent_run_id: request.parentRunId ?? null,
      status: 'pending',
      trigger: request.trigger,
      input: toJsonText(request.input),
      output: null,
      output_hash: null,
      is_new: null,
      priority: request.priority ?? 0,
      run_at: request.runAt ?? now,
      attempt: 0,
      max_attempts: 1 + (request.maxRetries ?? 0),
      retry_base_ms: request.retryBaseMs ?? 1000,
      timeout_ms: request.timeoutMs ?? null,
      lease_token: 0,
      lease_owner: null,
      lease_expires_at: null,
      concurrency_key: request.concurrencyKey ?? null,
      concurrency_limit: request.concurrencyLimit ?? 1,
      idempotency_key: request.idempotencyKey ?? null,
      error_code: null,
      error_message: null,
      error_retryable: null,
      dead_lettered_at: null,
      wait_reason: null,
      tokens_in: null,
      tokens_out: null,
      cost_usd: null,
      duration_ms: null,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
    }
  }

  /**
   * Backpressure: above `warnPending` due runs we warn (once per crossing); above `dropPending` new
   * *scheduled* runs are dropped with a logged reason. A manual or API run is never dropped, so its
   * enqueue does not count the queue (one round trip less); `checkQueue` runs on a timer instead.
   */
  async function checkQueue(): Promise<{ pending: number; level: 'ok' | 'warn' | 'drop' }> {
    const pending = await countPendingRuns(database, clock.now())
    if (pending > deps.backpressure.warnPending) {
      if (!warned) log.warn({ pending, threshold: deps.backpressure.warnPending }, 'run queue is backing up')
      warned = true
    } else warned = false
    const level =
      pending > deps.backpressure.dropPending
        ? 'drop'
        : pending > deps.backpressure.warnPending
          ? 'warn'
          : 'ok'
    return { pending, level }
  }

  async function admit(requests: EnqueueRequest[]): Promise<{ pending: number; drop: boolean }> {
    if (!requests.some((r) => r.trigger === 'schedule')) return { pending: -1, drop: false }
    const { pending, level } = await checkQueue()
    return { pending, drop: level === 'drop' }
  }

  async function enqueueMany(requests: EnqueueRequest[]): Promise<EnqueueResult[]> {
    if (requests.length === 0) return []
    const now = clock.now()
    const { pending, drop } = await admit(requests)
    const results: EnqueueResult[] = new Array(requests.length)
    const accepted: { index: number; row: RunRow }[] = []
    requests.forEach((request, index) => {
      if (drop && request.trigger === 'schedule') {
        const reason = `queue_full: ${pending} runs are waiting, more than the limit of ${deps.backpressure.dropPending}`
        log.warn({ kind: request.kind, botId: request.botId, pending, reason }, 'scheduled run dropped')
        deps.onDropped?.(request, reason)
        results[index] = { status: 'dropped', reason, pending }
      } else accepted.push({ index, row: newRow(request, now) })
    })
    if (accepted.length > 0) {
      const withoutKeys = accepted.every((a) => a.row.idempotency_key === null)
      const rows = accepted.map((a) => a.row)
      const inserted = withoutKeys
        ? (database.dialect === 'postgres'
            ? await insertRunsWithoutKeys(database, rows, now, deps.bus.channel('wake'))
            : await insertRunsWithoutKeysSqlite(database, rows, now)
          ).map((row) => ({ row, created: true }))
        : await writeTransaction(database, async (trx) => {
            const outcome = await insertRunRows(
              trx,
              accepted.map((a) => a.row),
              now,
            )
            if (database.dialect === 'postgres')
              await enqueueQueueRows(
                trx,
                outcome.filter((o) => o.created).map((o) => o.row),
              )
            // NOTIFY inside the transaction is delivered at commit: no worker wakes for a row it cannot see.
            if (database.dialect === 'postgres' && outcome.some((o) => o.created)) {
              await sql`SELECT pg_notify(${deps.bus.channel('wake')}, '')`.execute(trx)
            }
            return outcome
          })
      inserted.forEach((outcome, i) => {
        const index = accepted[i]!.index
        results[index] = { status: outcome.created ? 'created' : 'existing', run: toRun(outcome.row) }
      })
      if (inserted.some((o) => o.created && o.row.run_at <= now)) deps.onRunsDue?.()
    }
    return results
  }

  async function enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    const [result] = await enqueueMany([request])
    return result!
  }

  async function get(tenantId: string, id: string): Promise<Run> {
    const row = await findRun(database.db, tenantId, id)
    if (!row) throw notFound('run_not_found', `Run ${id} does not exist.`)
    return toRun(row)
  }

  async function list(
    tenantId: string,
    filter: RunListFilter,
  ): Promise<{ items: Run[]; nextCursor: string | null }> {
    const rows = await listRuns(database, tenantId, { ...filter, limit: filter.limit + 1 })
    const page = rows.slice(0, filter.limit)
    return {
      items: page.map(toRun),
      nextCursor: rows.length > filter.limit ? (page[page.length - 1]?.id ?? null) : null,
    }
  }

  /** Events written with a state change made here, outside any worker. */
  async function transition(
    tenantId: string,
    id: string,
    from: Run['status'][],
    set: Partial<RunRow>,
    notFoundMessage: (run: Run) => AppError,
  ): Promise<{ before: Run; after: Run }> {
    const now = clock.now()
    const outcome = await writeTransaction(database, async (trx) => {
      const before = await findRun(trx, tenantId, id)
      if (!before) throw notFound('run_not_found', `Run ${id} does not exist.`)
      // PostgreSQL keeps queued runs in run_queue (decision 0013). A run leaving the queue loses its
      // queue row first, in the lock order of the queue's own statements; one joining it gets one.
      const wasQueued = from.includes('pending') || from.includes('running')
      const postgres = database.dialect === 'postgres'
      if (postgres && wasQueued && set.status !== 'pending') await dequeueQueueRow(trx, id)
      const after = await transitionRun(trx, tenantId, id, from, { ...set, updated_at: now })
      if (!after) throw notFoundMessage(toRun(before))
      if (postgres && !wasQueued && after.status === 'pending') await enqueueQueueRows(trx, [after])
      await insertEvents(trx, [after], now)
      if (database.dialect === 'postgres' && after.status === 'pending') {
        await sql`SELECT pg_notify(${deps.bus.channel('wake')}, '')`.execute(trx)
      }
      return { before: toRun(before), after: toRun(after) }
    })
    return outcome
  }

  /** Cancels a pending, waiting or running run. A running one is fenced out (token bump) and aborted. */
  async function cancel(tenantId: string, id: string): Promise<Run> {
    const now = clock.now()
    const { before, after } = await transition(
      tenantId,
      id,
      ['pending', 'running', 'waiting'],
      {
        status: 'cancelled',
        finished_at: now,
        lease_owner: null,
        lease_expires_at: null,
        lease_token: sql<number>`lease_token + 1` as unknown as number,
        error_code: 'cancelled',
        error_message: 'The run was cancelled.',
        error_retryable: 0,
      },
      (run) =>
        new AppError(
          'run_not_cancellable',
          `Run ${id} is ${run.status}; only pending, waiting or running runs can be cancelled.`,
          409,
        ),
    )
    if (before.status === 'running') {
      deps.onCancelled?.(after)
      await deps.bus.publish('control', JSON.stringify({ type: 'cancel', runId: id })).catch(() => {})
    }
    return after
  }

  /** Retries a finished run by hand: pending again now, with a fresh set of attempts. */
  async function retry(tenantId: string, id: string): Promise<Run> {
    const now = clock.now()
    const current = await get(tenantId, id)
    const retries = Math.max(0, current.maxAttempts - 1)
    const { after } = await transition(
      tenantId,
      id,
      ['failed', 'timeout', 'cancelled'],
      {
        status: 'pending',
        run_at: now,
        max_attempts: current.attempt + 1 + retries,
        dead_lettered_at: null,
        finished_at: null,
        error_code: null,
        error_message: null,
        error_retryable: null,
      },
      (run) =>
        new AppError(
          'run_not_retriable',
          `Run ${id} is ${run.status}; only failed, timed-out or cancelled runs can be retried.`,
          409,
        ),
    )
    deps.onRunsDue?.()
    return after
  }

  /**
   * Records a run that was never started, such as a scheduled slot skipped by an overlap policy or
   * dropped by backpressure: `cancelled` at once, with the reason as its error, so it shows on the
   * run list. Its idempotency key (the slot's) keeps every other process from firing that slot.
   */
  async function recordSkipped(
    request: EnqueueRequest,
    error: { code: string; message: string },
  ): Promise<EnqueueResult> {
    const now = clock.now()
    const row: RunRow = {
      ...newRow(request, now),
      status: 'cancelled',
      finished_at: now,
      error_code: error.code,
      error_message: error.message,
      error_retryable: 0,
    }
    const [outcome] = await writeTransaction(database, (trx) => insertRunRows(trx, [row], now))
    if (outcome!.created) deps.onRunsDue?.()
    return { status: outcome!.created ? 'created' : 'existing', run: toRun(outcome!.row) }
  }

  /** Resumes a waiting run (approval given, child finished): pending again, with its input replaced if given. */
  async function resume(tenantId: string, id: string, input?: unknown): Promise<Run> {
    const now = clock.now()
    const { after } = await transition(
      tenantId,
      id,
      ['waiting'],
      {
        status: 'pending',
        run_at: now,
        wait_reason: null,
        ...(input !== undefined ? { input: toJsonText(input) } : {}),
      },
      (run) =>
        new AppError('run_not_waiting', `Run ${id} is ${run.status}; only waiting runs can be resumed.`, 409),
    )
    deps.onRunsDue?.()
    return after
  }

  return { enqueue, enqueueMany, get, list, cancel, retry, resume, checkQueue, recordSkipped }
}
