import { type Kysely, sql } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { afterCommit, writeTransaction } from '../platform/db/transaction.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import { hasActiveSpan, isTracing, startRunTrace } from '../platform/tracing.ts'
import { insertRunsWithoutKeys } from './enqueue.postgres.ts'
import { insertRunsWithoutKeysSqlite } from './enqueue.sqlite.ts'
import { waitForChildren } from './executor.ts'
import { type AppendedEvent, appendEventsIn as appendEvents } from './outbox.store.ts'
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

/** Parent run id → its run span's traceparent (undefined: no lookup was needed). */
type ParentTraces = Map<string, string> | undefined

export function createRunService(deps: RunServiceDeps) {
  const { database, clock, log } = deps
  let warned = false

  function newRow(request: EnqueueRequest, now: number, parentTraces?: ParentTraces): RunRow {
    if (!request.kind) throw new AppError('run_kind_required', 'A run needs a kind.', 400)
    const id = newId()
    // The run's span: a child of the request or run that asked for it (nothing while tracing is off).
    const traced = startRunTrace(
      { id, kind: request.kind, trigger: request.trigger, tenantId: request.tenantId },
      request.parentRunId ? parentTraces?.get(request.parentRunId) : undefined,
    )
    return {
      id,
      tenant_id: request.tenantId,
      kind: request.kind,
      subject_id: request.subjectId ?? null,
      parent_run_id: request.parentRunId ?? null,
      status: 'pending',
      trigger: request.trigger,
      input: toJsonText(request.input),
      output: null,
      result: null,
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
      correlation_key: null,
      wait_until: null,
      duration_ms: null,
      trace_id: traced.traceId,
      trace_parent: traced.traceParent,
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

  function levelOf(pending: number): { pending: number; drop: boolean } {
    return { pending, drop: pending > deps.backpressure.dropPending }
  }

  async function admit(requests: EnqueueRequest[]): Promise<{ pending: number; drop: boolean }> {
    if (!requests.some((r) => r.trigger === 'schedule')) return { pending: -1, drop: false }
    const { pending, level } = await checkQueue()
    return { pending, drop: level === 'drop' }
  }

  /**
   * With tracing on, a run enqueued outside any span (a pipeline's step, a notification, both made by
   * event consumers) joins its parent run's trace: the parents' stored contexts, read in one query.
   */
  async function parentTracesOf(db: Kysely<Tables>, requests: EnqueueRequest[]): Promise<ParentTraces> {
    if (!isTracing() || hasActiveSpan()) return undefined
    const ids = [...new Set(requests.flatMap((r) => (r.parentRunId ? [r.parentRunId] : [])))]
    if (ids.length === 0) return undefined
    const rows = await db
      .selectFrom('runs')
      .select(['id', 'tenant_id', 'trace_parent'])
      .where('id', 'in', ids.slice(0, 500))
      .execute()
    const tenants = new Map(requests.map((r) => [r.parentRunId, r.tenantId]))
    return new Map(
      rows.flatMap((row) =>
        row.trace_parent && tenants.get(row.id) === row.tenant_id ? [[row.id, row.trace_parent]] : [],
      ),
    )
  }

  /** Drops scheduled requests when the queue is full; returns results so far and the rows to insert. */
  function admitted(
    requests: EnqueueRequest[],
    now: number,
    queue: { pending: number; drop: boolean },
    parentTraces?: ParentTraces,
  ): { results: EnqueueResult[]; accepted: { index: number; row: RunRow }[] } {
    const results: EnqueueResult[] = new Array(requests.length)
    const accepted: { index: number; row: RunRow }[] = []
    requests.forEach((request, index) => {
      if (queue.drop && request.trigger === 'schedule') {
        const reason = `queue_full: ${queue.pending} runs are waiting, more than the limit of ${deps.backpressure.dropPending}`
        log.warn(
          { kind: request.kind, subjectId: request.subjectId, pending: queue.pending, reason },
          'scheduled run dropped',
        )
        deps.onDropped?.(request, reason)
        results[index] = { status: 'dropped', reason, pending: queue.pending }
      } else accepted.push({ index, row: newRow(request, now, parentTraces) })
    })
    return { results, accepted }
  }

  /**
   * Inserts runs with their queue rows, `run.pending` events and wake-up inside `trx`. Idempotency
   * keys hold exactly as in `enqueue`: a key already used returns the existing run.
   */
  async function insertIn(trx: Kysely<Tables>, rows: RunRow[], now: number) {
    const outcome = await insertRunRows(trx, rows, now)
    if (database.dialect === 'postgres') {
      const created = outcome.filter((o) => o.created).map((o) => o.row)
      await enqueueQueueRows(trx, created)
      // NOTIFY inside the transaction is delivered at commit: no worker wakes for a row it cannot see.
      if (created.some((row) => row.status === 'pending'))
        await sql`SELECT pg_notify(${deps.bus.channel('wake')}, '')`.execute(trx)
    }
    return outcome
  }

  function settleResults(
    results: EnqueueResult[],
    accepted: { index: number }[],
    inserted: { row: RunRow; created: boolean }[],
  ): boolean {
    inserted.forEach((outcome, i) => {
      results[accepted[i]!.index] = {
        status: outcome.created ? 'created' : 'existing',
        run: toRun(outcome.row),
      }
    })
    return inserted.some((o) => o.created && o.row.run_at <= clock.now())
  }

  async function enqueueMany(requests: EnqueueRequest[]): Promise<EnqueueResult[]> {
    if (requests.length === 0) return []
    const now = clock.now()
    const { results, accepted } = admitted(
      requests,
      now,
      await admit(requests),
      await parentTracesOf(database.db, requests),
    )
    if (accepted.length > 0) {
      const withoutKeys = accepted.every((a) => a.row.idempotency_key === null)
      const rows = accepted.map((a) => a.row)
      const inserted = withoutKeys
        ? (database.dialect === 'postgres'
            ? await insertRunsWithoutKeys(database, rows, now, deps.bus.channel('wake'))
            : await insertRunsWithoutKeysSqlite(database, rows, now)
          ).map((row) => ({ row, created: true }))
        : await writeTransaction(database, (trx) => insertIn(trx, rows, now))
      if (settleResults(results, accepted, inserted)) deps.onRunsDue?.()
    }
    return results
  }

  /**
   * `enqueueMany` inside the caller's transaction (an event consumer, a domain's own change): the runs
   * exist exactly when the caller's change commits, so a replayed batch cannot enqueue twice, and on
   * SQLite it needs no second connection. The worker is woken after the commit. Backpressure applies to
   * scheduled runs as in `enqueueMany`, counted in the same transaction.
   */
  async function enqueueManyIn(trx: Kysely<Tables>, requests: EnqueueRequest[]): Promise<EnqueueResult[]> {
    if (requests.length === 0) return []
    const now = clock.now()
    const queue = requests.some((r) => r.trigger === 'schedule')
      ? levelOf(await countPendingRuns({ ...database, db: trx }, now))
      : { pending: -1, drop: false }
    const { results, accepted } = admitted(requests, now, queue, await parentTracesOf(trx, requests))
    if (accepted.length > 0) {
      const inserted = await insertIn(
        trx,
        accepted.map((a) => a.row),
        now,
      )
      if (settleResults(results, accepted, inserted)) afterCommit(trx, () => deps.onRunsDue?.())
    }
    return results
  }

  async function enqueueIn(trx: Kysely<Tables>, request: EnqueueRequest): Promise<EnqueueResult> {
    const [result] = await enqueueManyIn(trx, [request])
    return result!
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
    return writeTransaction(database, (trx) => transitionIn(trx, tenantId, id, from, set, notFoundMessage))
  }

  async function transitionIn(
    trx: Kysely<Tables>,
    tenantId: string,
    id: string,
    from: Run['status'][],
    set: Partial<RunRow>,
    notFoundMessage: (run: Run) => AppError,
  ): Promise<{ before: Run; after: Run }> {
    const now = clock.now()
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
  }

  const cancelledSet = () =>
    ({
      status: 'cancelled',
      finished_at: clock.now(),
      lease_owner: null,
      lease_expires_at: null,
      lease_token: sql<number>`lease_token + 1` as unknown as number,
      error_code: 'cancelled',
      error_message: 'The run was cancelled.',
      error_retryable: 0,
    }) satisfies Partial<RunRow>

  const notCancellable = (id: string) => (run: Run) =>
    new AppError(
      'run_not_cancellable',
      `Run ${id} is ${run.status}; only pending, waiting or running runs can be cancelled.`,
      409,
    )

  /** After a cancel committed: its parent may be done waiting, and a running run is stopped where it runs. */
  async function afterCancelled(before: Run, after: Run): Promise<void> {
    // A cancelled child may be the last one its parent waits for.
    if (after.parentRunId !== null)
      await resumeParentIfDone(after.tenantId, after.parentRunId).catch((error) =>
        log.warn({ err: error, runId: after.parentRunId }, 'resuming a parent failed; the sweep will'),
      )
    if (before.status === 'running') {
      deps.onCancelled?.(after)
      await deps.bus.publish('control', JSON.stringify({ type: 'cancel', runId: after.id })).catch(() => {})
    }
  }

  /** Cancels a pending, waiting or running run. A running one is fenced out (token bump) and aborted. */
  async function cancel(tenantId: string, id: string): Promise<Run> {
    const { before, after } = await transition(
      tenantId,
      id,
      ['pending', 'running', 'waiting'],
      cancelledSet(),
      notCancellable(id),
    )
    await afterCancelled(before, after)
    return after
  }

  /**
   * `cancel` inside the caller's transaction (a pipeline cancelling its steps as it ends): undefined
   * when the run had ended already. The running run is stopped after the commit.
   */
  async function cancelIn(trx: Kysely<Tables>, tenantId: string, id: string): Promise<Run | undefined> {
    try {
      const { before, after } = await transitionIn(
        trx,
        tenantId,
        id,
        ['pending', 'running', 'waiting'],
        cancelledSet(),
        notCancellable(id),
      )
      afterCommit(trx, () => void afterCancelled(before, after))
      return after
    } catch (error) {
      if (error instanceof AppError && error.code === 'run_not_cancellable') return undefined
      throw error
    }
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

  /**
   * Resumes a parked run (approval given, children finished): pending again, its input replaced if
   * given. Fenced: only the current parking can be resumed. Address it by id (optionally naming the
   * parking's `correlationKey`) or by `correlationKey` alone; a resume that finds nothing waiting under
   * that name (already resumed, timed out, parked again under another key) changes nothing and says so.
   */
  async function resume(
    tenantId: string,
    target: { id: string; correlationKey?: string } | { correlationKey: string },
    options: { input?: unknown } = {},
  ): Promise<{ resumed: boolean; run: Run | null }> {
    const outcome = await writeTransaction(database, (trx) => resumeRowIn(trx, tenantId, target, options))
    if (outcome.resumed) deps.onRunsDue?.()
    return { resumed: outcome.resumed, run: outcome.row ? toRun(outcome.row) : null }
  }

  /**
   * `resume` inside the caller's transaction (an approval decided): the run wakes exactly when the
   * caller's change commits. The worker is woken after the commit.
   */
  async function resumeIn(
    trx: Kysely<Tables>,
    tenantId: string,
    target: { id: string; correlationKey?: string } | { correlationKey: string },
    options: { input?: unknown } = {},
  ): Promise<{ resumed: boolean; run: Run | null }> {
    const outcome = await resumeRowIn(trx, tenantId, target, options)
    if (outcome.resumed) afterCommit(trx, () => deps.onRunsDue?.())
    return { resumed: outcome.resumed, run: outcome.row ? toRun(outcome.row) : null }
  }

  async function resumeRowIn(
    trx: Kysely<Tables>,
    tenantId: string,
    target: { id: string; correlationKey?: string } | { correlationKey: string },
    options: { input?: unknown },
  ): Promise<{ resumed: boolean; row: RunRow | undefined }> {
    let query = trx.selectFrom('runs').selectAll().where('tenant_id', '=', tenantId)
    if ('id' in target) query = query.where('id', '=', target.id)
    if (target.correlationKey !== undefined)
      query = query.where('correlation_key', '=', target.correlationKey)
    const found = await query.execute()
    const current = found.find((row) => row.status === 'waiting')
    if (!current) {
      if ('id' in target && found.length === 0 && target.correlationKey === undefined)
        throw notFound('run_not_found', `Run ${target.id} does not exist.`)
      return {
        resumed: false,
        row: found[0] ?? ('id' in target ? await findRun(trx, tenantId, target.id) : undefined),
      }
    }
    const after = await wake(trx, current, clock.now(), options.input)
    return { resumed: after !== undefined, row: after ?? current }
  }

  /**
   * Wakes the runs parked under correlation keys that start with `keyPrefix` (a key is unique per
   * workspace, so runs that wait for one thing, such as a provider answering again, each park under
   * the prefix plus their id), oldest first, at most `limit`, in the caller's transaction.
   */
  async function wakeWaitingIn(
    trx: Kysely<Tables>,
    tenantId: string,
    keyPrefix: string,
    limit = 1000,
  ): Promise<number> {
    const rows = await trx
      .selectFrom('runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      // A range on the (tenant_id, correlation_key) index: every key with this prefix.
      .where('correlation_key', '>=', keyPrefix)
      .where('correlation_key', '<', `${keyPrefix}\uffff`)
      .where('status', '=', 'waiting')
      .orderBy('id')
      .limit(limit)
      .execute()
    let woken = 0
    const now = clock.now()
    for (const row of rows) if (await wake(trx, row, now)) woken++
    if (woken > 0) afterCommit(trx, () => deps.onRunsDue?.())
    return woken
  }

  /** waiting → pending, fenced on the parking (status, key, reason as read). */
  async function wake(trx: Kysely<Tables>, row: RunRow, now: number, input?: unknown) {
    const after = await trx
      .updateTable('runs')
      .set((eb) => ({
        status: 'pending',
        // The claim that takes it up counts an attempt; a parking is not a failure, so it gets one
        // more, and the run keeps every retry it had (attempt numbers stay unique for logs and usage).
        max_attempts: eb('max_attempts', '+', 1),
        run_at: now,
        wait_reason: null,
        wait_until: null,
        correlation_key: null,
        updated_at: now,
        ...(input !== undefined ? { input: toJsonText(input) } : {}),
      }))
      .where('tenant_id', '=', row.tenant_id)
      .where('id', '=', row.id)
      .where('status', '=', 'waiting')
      .where('lease_token', '=', row.lease_token)
      .returningAll()
      .executeTakeFirst()
    if (!after) return undefined
    if (database.dialect === 'postgres') {
      await enqueueQueueRows(trx, [after])
      await sql`SELECT pg_notify(${deps.bus.channel('wake')}, '')`.execute(trx)
    }
    await insertEvents(trx, [after], now)
    return after
  }

  /**
   * A parent parked with `waitForChildren` is resumed once none of its children is unfinished. Called
   * after a child finishes and after the parent parks (whichever commits last sees the other), and by
   * the sweep, so a crash between the two loses nothing.
   */
  async function resumeParentIfDone(tenantId: string, parentId: string): Promise<boolean> {
    const now = clock.now()
    const resumed = await writeTransaction(database, async (trx) => {
      const parent = await findRun(trx, tenantId, parentId)
      if (parent?.status !== 'waiting' || parent.wait_reason !== waitForChildren) return false
      const open = await trx
        .selectFrom('runs')
        .select('id')
        .where('parent_run_id', '=', parentId)
        .where('tenant_id', '=', tenantId)
        .where('status', 'in', ['pending', 'running', 'waiting'])
        .limit(1)
        .execute()
      if (open.length > 0) return false
      return (await wake(trx, parent, now)) !== undefined
    })
    if (resumed) deps.onRunsDue?.()
    return resumed
  }

  /**
   * The parked runs' sweep (every worker process, with the rescue sweep): parkings past their deadline
   * time out (`wait_timeout`); parents whose children all finished are resumed.
   */
  async function sweepParked(limit = 100): Promise<{ timedOut: number; resumed: number }> {
    const now = clock.now()
    // Two questions, each answered by an index: parkings past their deadline (runs_parked_idx), and
    // parents none of whose children is unfinished (runs_parent_idx for the children).
    const overdue = await database.db
      .selectFrom('runs')
      .select(['id', 'wait_reason', 'lease_token'])
      .where('wait_reason', 'is not', null)
      .where('wait_until', 'is not', null)
      .where('wait_until', '<=', now)
      .where('status', '=', 'waiting')
      .orderBy('wait_until')
      .limit(limit)
      .execute()
    const joinable = await database.db
      .selectFrom('runs as p')
      .select(['p.id', 'p.tenant_id'])
      .where('p.wait_reason', '=', waitForChildren)
      .where('p.status', '=', 'waiting')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('runs as c')
              .select('c.id')
              .whereRef('c.parent_run_id', '=', 'p.id')
              .where('c.status', 'in', ['pending', 'running', 'waiting']),
          ),
        ),
      )
      .limit(limit)
      .execute()
    let timedOut = 0
    let resumed = 0
    for (const run of overdue) {
      const after = await writeTransaction(database, async (trx) => {
        const row = await trx
          .updateTable('runs')
          .set({
            status: 'timeout',
            finished_at: now,
            updated_at: now,
            wait_until: null,
            correlation_key: null,
            error_code: 'wait_timeout',
            error_message: `The run waited for "${run.wait_reason}" past its deadline and was stopped.`,
            error_retryable: 0,
          })
          .where('id', '=', run.id)
          .where('status', '=', 'waiting')
          .where('lease_token', '=', run.lease_token)
          .returningAll()
          .executeTakeFirst()
        if (row) await insertEvents(trx, [row], now)
        return row
      })
      if (after) timedOut++
    }
    for (const parent of joinable) if (await resumeParentIfDone(parent.tenant_id, parent.id)) resumed++
    return { timedOut, resumed }
  }

  /** The children of a run, oldest first (a resumed parent reads their outcomes). */
  async function children(tenantId: string, parentId: string): Promise<Run[]> {
    const rows = await database.db
      .selectFrom('runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('parent_run_id', '=', parentId)
      .orderBy('id')
      .execute()
    return rows.map(toRun)
  }

  /**
   * A domain's own events (e.g. `bot.paused`), appended inside its transaction: consumers and the
   * live feed get them after the commit.
   */
  async function appendEventsIn(trx: Kysely<Tables>, events: AppendedEvent[]): Promise<void> {
    await appendEvents(trx, events)
    if (events.length > 0) afterCommit(trx, () => deps.onRunsDue?.())
  }

  return {
    wakeWaitingIn,
    cancelIn,
    enqueue,
    enqueueMany,
    enqueueIn,
    enqueueManyIn,
    appendEventsIn,
    get,
    list,
    cancel,
    retry,
    resume,
    resumeIn,
    resumeParentIfDone,
    sweepParked,
    children,
    checkQueue,
    recordSkipped,
  }
}
