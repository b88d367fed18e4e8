import { randomUUID } from 'node:crypto'
import type { Clock } from '../platform/clock.ts'
import { openTenantScope, withoutTenantScope } from '../platform/db/tenant-scope.ts'
import { toError } from '../platform/errors.ts'
import { FailureStreak } from '../platform/failure-streak.ts'
import type { Logger } from '../platform/logger.ts'
import { startAttemptTrace, withinTrace } from '../platform/tracing.ts'
import {
  type ExecutorRegistry,
  type ExecutorResult,
  LeaseLostError,
  RunAbort,
  type RunContext,
} from './executor.ts'
import type { RunQueue, Settlement } from './queue.ts'
import { retryDelayMs } from './retry.ts'
import { toRunError } from './run.failure.ts'
import { toClaimedRun } from './run.mapper.ts'
import type { RunRow } from './run.table.ts'
import type { ClaimedRun } from './run.types.ts'

export interface WorkerOptions {
  queue: RunQueue
  executors: ExecutorRegistry
  clock: Clock
  log: Logger
  workerId?: string
  /**
   * Narrows the kinds this process claims (OPENORCH_RUN_KINDS); it never claims a kind it has no
   * executor for, so a run of a kind this process lacks waits for a process that has it.
   */
  kinds?: readonly string[]
  /** Parallel runs in this process. */
  concurrency: number
  leaseMs: number
  /** Fallback when no wake-up arrives (LISTEN down, runs due later). */
  pollIntervalMs: number
  /** Runs per claim query (default: every free slot at once; 1 = one by one, like a classic worker pool). */
  claimBatchSize?: number
  /**
   * Runs claimed ahead of free slots and held here, leased and heart-beaten, until a slot frees
   * (default 0). Like graphile-worker's local queue: fewer, larger claims under heavy load, at the
   * price of a later start for a higher-priority run that arrives meanwhile.
   */
  localQueueSize?: number
  /** Settlements per write (default 100: completions within one event-loop turn share a transaction). */
  settleBatchSize?: number
  heartbeatIntervalMs?: number
  rescueIntervalMs?: number
  random?: () => number
  /**
   * What may start now, asked before every claim (the operating mode, decision 0040): nothing
   * (`paused`: running runs finish, nothing new is claimed) or only runs of at least a priority
   * (`degraded`). Default: everything. Call `nudge()` when it widens.
   */
  admission?: () => Admission
  /** Called with each batch of claimed runs (live feed, metrics). */
  onClaimed?: (runs: RunRow[]) => void
  /** Called after each accepted or refused settlement (metrics, tests). */
  onSettled?: (run: ClaimedRun, settlement: Settlement, accepted: boolean) => void
  /**
   * Called with the runs this worker took back after their lease expired (metrics): pending again
   * while attempts remain, else failed `lease_expired` and dead-lettered (`dead_lettered_at` set).
   */
  onRescued?: (runs: RunRow[]) => void
}

export interface Admission {
  claims: boolean
  minPriority?: number
}

interface ActiveRun {
  run: ClaimedRun
  startedAt: number
  /** Why the run was aborted (timeout, cancel, lease lost, shutdown); set once. */
  aborted: RunAbort | undefined
  /**
   * The executor's AbortSignal, made when the executor first reads `context.signal`: an
   * AbortController is among the costliest objects of a run, and many executors never look at it.
   */
  controller: AbortController | undefined
  /** Stops waiting for the executor (set while it runs). */
  onAbort: ((reason: RunAbort) => void) | undefined
}

function abortRun(active: ActiveRun, reason: RunAbort): void {
  if (active.aborted) return
  active.aborted = reason
  active.controller?.abort(reason)
  active.onAbort?.(reason)
}

/**
 * Claims due runs under a lease and executes them. Owns three loops: claiming (woken by
 * nudges, polling as a fallback), heart-beating the leases it holds, and rescuing expired leases.
 */
export class Worker {
  readonly id: string
  private readonly active = new Map<string, ActiveRun>()
  /** Runs whose executor has not returned yet; the concurrency limit counts these. */
  private executing = 0
  private reserved = 0
  /** Claimed runs waiting for a slot (only with localQueueSize > 0). */
  private readonly queued: RunRow[] = []
  private idle = false
  private wakeGeneration = 0
  private running = false
  private stopping = false
  private pollTimer: NodeJS.Timeout | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  private rescueTimer: NodeJS.Timeout | undefined
  private retryTimers = new Set<NodeJS.Timeout>()
  private settleBuffer: Array<{ settlement: Settlement; resolve: (accepted: boolean) => void }> = []
  private settleScheduled = false
  /** The settlement write in flight, if any (one at a time). */
  private flushing: Promise<void> | undefined
  private drained: (() => void) | undefined
  private readonly log: Logger
  private readonly claimFailures: FailureStreak
  private readonly heartbeatFailures: FailureStreak
  private readonly rescueFailures: FailureStreak

  private readonly options: WorkerOptions
  /** The kinds claimed, computed from the registry's list (`servedFrom`) when that changes. */
  private served: readonly string[] = []
  private servedFrom: readonly string[] | undefined

  constructor(options: WorkerOptions) {
    this.options = options
    if (options.concurrency < 1) throw new Error('Worker concurrency must be at least 1')
    if (options.leaseMs < 100) throw new Error('Worker leaseMs must be at least 100')
    this.id = options.workerId ?? `worker-${process.pid}-${randomUUID().slice(0, 8)}`
    this.log = options.log.child({ workerId: this.id })
    this.claimFailures = new FailureStreak(this.log, 'claim', options.clock)
    this.heartbeatFailures = new FailureStreak(this.log, 'heartbeat', options.clock)
    this.rescueFailures = new FailureStreak(this.log, 'rescue sweep', options.clock)
  }

  start(): void {
    if (this.running) return
    this.running = true
    const heartbeatMs = this.options.heartbeatIntervalMs ?? Math.max(50, Math.floor(this.options.leaseMs / 3))
    const rescueMs =
      this.options.rescueIntervalMs ?? Math.min(15_000, Math.max(100, this.options.leaseMs / 2))
    this.pollTimer = setInterval(() => this.nudge(), this.options.pollIntervalMs)
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), heartbeatMs)
    this.rescueTimer = setInterval(() => void this.rescue(), rescueMs)
    this.nudge()
  }

  /** The run kinds this worker claims: those it has executors for, narrowed by the `kinds` option. */
  servedKinds(): readonly string[] {
    const registered = this.options.executors.kinds()
    if (registered !== this.servedFrom) {
      const only = this.options.kinds
      this.served = only === undefined ? registered : registered.filter((kind) => only.includes(kind))
      this.servedFrom = registered
    }
    return this.served
  }

  /** The lowest priority a claim may take now (`degraded`), if any. */
  private priorityFloor(): { minPriority?: number } {
    const minPriority = this.options.admission?.().minPriority
    return minPriority === undefined ? {} : { minPriority }
  }

  /** Something may be due: claim if there are free slots. */
  nudge(): void {
    // A request that enqueued or resumed runs calls this in its workspace's scope; the claim loop it
    // starts is the worker's own and serves every workspace (decision 0042).
    withoutTenantScope(() => {
      this.wakeGeneration++
      this.idle = false
      this.tick()
    })
  }

  /** Aborts a run this process holds (cancel requested elsewhere); true if it was here. */
  abort(runId: string, cause: 'cancelled' | 'timeout' = 'cancelled'): boolean {
    // A cancel request calls this in its scope; freeing the slot may start another workspace's run.
    return withoutTenantScope(() => this.abortHere(runId, cause))
  }

  private abortHere(runId: string, cause: 'cancelled' | 'timeout'): boolean {
    const index = this.queued.findIndex((row) => row.id === runId)
    if (index >= 0) {
      // Not started yet: whoever aborted it (cancel) already changed its row; just forget it.
      this.queued.splice(index, 1)
      this.afterChange()
      return true
    }
    const active = this.active.get(runId)
    if (!active) return false
    abortRun(active, new RunAbort(cause))
    return true
  }

  /**
   * Graceful stop: claim nothing more, let running runs finish within `graceMs`,
   * then abort the rest and give them back to the queue (pending, attempt not counted).
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return
    this.stopping = true
    // Keep heart-beating during the grace period so no other worker rescues our runs meanwhile.
    clearInterval(this.pollTimer)
    clearInterval(this.rescueTimer)
    for (const timer of this.retryTimers) clearTimeout(timer)
    await this.releaseQueued()
    await this.waitForDrain(graceMs)
    if (this.active.size > 0) {
      this.log.warn({ remaining: this.active.size }, 'grace period over; releasing unfinished runs')
      for (const active of this.active.values()) abortRun(active, new RunAbort('shutdown'))
      await this.waitForDrain(Math.max(1000, this.options.leaseMs))
    }
    await this.flushSettlements()
    clearInterval(this.heartbeatTimer)
    this.running = false
  }

  private waitForDrain(ms: number): Promise<void> {
    if (this.isDrained()) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.drained = done
    })
  }

  private tick(): void {
    if (!this.running || this.stopping) return
    while (!this.idle) {
      const limit = this.claimLimit()
      if (limit <= 0) return
      this.reserved += limit
      const generation = this.wakeGeneration
      this.options.queue
        .claim({
          workerId: this.id,
          kinds: this.servedKinds(),
          limit,
          now: this.options.clock.now(),
          leaseMs: this.options.leaseMs,
          ...this.priorityFloor(),
        })
        .then(
          (rows) => {
            this.reserved -= limit
            this.claimFailures.succeeded()
            this.accept(rows)
            // Only call the queue empty if no wake-up arrived while we were asking.
            if (rows.length < limit && generation === this.wakeGeneration) this.idle = true
            this.afterChange()
          },
          (error) => {
            this.reserved -= limit
            this.idle = true
            this.claimFailures.failed(error)
            this.afterChange()
          },
        )
    }
  }

  /**
   * How many runs to claim now. Without a local queue: every free slot (up to claimBatchSize). With
   * one, claims wait until half of it is free (or it ran empty) and ask for a power of two: a few
   * large claims of one statement each instead of a small claim after every finished run.
   */
  private claimLimit(): number {
    if (this.options.admission && !this.options.admission().claims) return 0
    const free = Math.min(this.capacity(), this.options.claimBatchSize ?? Number.POSITIVE_INFINITY)
    const localQueue = this.options.localQueueSize ?? 0
    if (localQueue === 0 || free <= 0) return Math.max(0, free)
    if (this.reserved > 0) return 0 // one claim in flight at a time
    if (this.queued.length > 0 && free < Math.ceil(localQueue / 2)) return 0
    return 2 ** Math.floor(Math.log2(free))
  }

  /** Runs a claim may ask for now: free slots, plus room in the local queue. */
  private capacity(): number {
    const localQueue = this.options.localQueueSize ?? 0
    return this.options.concurrency + localQueue - this.executing - this.queued.length - this.reserved
  }

  private isDrained(): boolean {
    return this.active.size === 0 && this.reserved === 0 && this.queued.length === 0
  }

  /** Takes claimed runs: start what fits, queue the rest locally. */
  private accept(rows: RunRow[]): void {
    if (rows.length === 0) return
    this.options.onClaimed?.(rows)
    this.queued.push(...rows)
    if (this.stopping) void this.releaseQueued().then(() => this.afterChange())
    else this.pump()
  }

  private pump(): void {
    while (this.executing < this.options.concurrency && this.queued.length > 0 && !this.stopping) {
      this.execute(this.queued.shift()!)
    }
  }

  /** On shutdown, runs that never started go straight back to the queue. */
  private async releaseQueued(): Promise<void> {
    const rows = this.queued.splice(0)
    if (rows.length === 0) return
    await this.options.queue
      .settle(
        rows.map((row) => ({ id: row.id, token: Number(row.lease_token), outcome: 'released' as const })),
        this.options.clock.now(),
      )
      .catch((error) =>
        this.log.warn({ err: toError(error) }, 'releasing queued runs failed; they return after their lease'),
      )
  }

  private afterChange(): void {
    if (this.isDrained()) this.drained?.()
    this.tick()
  }

  private execute(row: RunRow): void {
    const run = toClaimedRun(row)
    const active: ActiveRun = {
      run,
      startedAt: this.options.clock.now(),
      aborted: undefined,
      controller: undefined,
      onAbort: undefined,
    }
    this.active.set(run.id, active)
    this.executing++
    let slotFreed = false
    const freeSlot = () => {
      if (slotFreed) return
      slotFreed = true
      this.executing--
      this.pump()
    }
    // Created on first use: most runs never log, and a child logger per run is measurable garbage.
    let runLog: Logger | undefined
    const log = () => {
      runLog ??= this.log.child({
        runId: run.id,
        tenantId: run.tenantId,
        kind: run.kind,
        attempt: run.attempt,
      })
      return runLog
    }
    const timeout =
      run.timeoutMs !== null
        ? setTimeout(() => abortRun(active, new RunAbort('timeout')), run.timeoutMs)
        : undefined
    const context: RunContext = {
      run,
      get signal() {
        if (!active.controller) {
          active.controller = new AbortController()
          if (active.aborted) active.controller.abort(active.aborted)
        }
        return active.controller.signal
      },
      get log() {
        return log()
      },
      assertLease: async () => {
        const refused = await this.options.queue.heartbeat(
          [{ id: run.id, token: run.leaseToken }],
          this.options.clock.now(),
          this.options.leaseMs,
        )
        if (refused.size > 0) {
          abortRun(active, new RunAbort('lease_lost'))
          throw new LeaseLostError(run.id)
        }
      },
    }
    // The attempt's span (tracing on): the executor's LLM calls, tools and log lines belong to it.
    const attempt = startAttemptTrace(run)
    void withinTrace(attempt, () => this.runExecutor(active, context))
      .then(
        (result) => this.settlementFor(active, result, undefined),
        (error) => this.settlementFor(active, undefined, error),
      )
      .then(async (settlement) => {
        clearTimeout(timeout)
        attempt?.end(
          settlement?.outcome ?? 'aborted',
          settlement && 'error' in settlement ? settlement.error : undefined,
        )
        // The slot is free once the executor returned; writing the result claims the next run for it.
        freeSlot()
        if (!settlement) this.tick()
        if (settlement) {
          const accepted = await this.settle(settlement)
          if (!accepted)
            log().warn({ outcome: settlement.outcome }, 'settlement refused: lease no longer held')
          this.options.onSettled?.(run, settlement, accepted)
          if (accepted && settlement.outcome === 'retry') this.wakeAt(settlement.runAt)
          // A run that held a concurrency key freed it: the next run behind that key is due now. A busy
          // worker claimed with this settlement already; one that went idle (its last claim found only
          // runs behind busy keys) would otherwise wait for its poll — a channel's backlog drained one
          // delivery a second (notify benchmark).
          if (accepted && run.concurrencyKey && this.idle) this.nudge()
        }
      })
      .catch((error) =>
        log().error({ err: toError(error) }, 'settling run failed; it will be rescued after its lease'),
      )
      .finally(() => {
        freeSlot()
        this.active.delete(run.id)
        this.afterChange()
      })
  }

  /** Resolves with the executor's result, or rejects as soon as the run is aborted (a late result is discarded). */
  private runExecutor(active: ActiveRun, context: RunContext): Promise<ExecutorResult> {
    const executor = this.options.executors.get(context.run.kind)
    if (!executor) {
      return Promise.reject(
        Object.assign(new Error(`No executor is registered for run kind "${context.run.kind}".`), {
          runError: { code: 'executor_missing', retryable: false },
        }),
      )
    }
    // The executor works for the run's workspace: its queries carry that scope, so on PostgreSQL the
    // policies hide other workspaces' rows from a bot, its tools and its steps (decision 0042). The
    // scope ends when the executor returns; settling the run is the worker's own, unscoped work.
    const scope = openTenantScope(context.run.tenantId)
    return new Promise<ExecutorResult>((resolve, reject) => {
      if (active.aborted) return reject(active.aborted)
      active.onAbort = reject
      Promise.resolve()
        .then(() => scope.run(() => executor(context)))
        .finally(() => scope.end())
        .then(resolve, reject)
        .finally(() => {
          active.onAbort = undefined
        })
    })
  }

  private settlementFor(
    active: ActiveRun,
    result: ExecutorResult | undefined,
    thrown: unknown,
  ): Settlement | undefined {
    const { run } = active
    const lease = { id: run.id, token: run.leaseToken }
    const durationMs = Math.max(0, this.options.clock.now() - active.startedAt)
    const cause = active.aborted?.reason
    switch (cause) {
      case 'timeout':
        return {
          ...lease,
          outcome: 'timeout',
          durationMs,
          deadLetter: false,
          error: {
            code: 'timeout',
            message: `The run took longer than its limit of ${Math.round((run.timeoutMs ?? 0) / 1000)} s and was stopped.`,
            retryable: false,
          },
        }
      case 'cancelled':
      case 'lease_lost':
        // Someone else changed the run (cancel bumps the token); there is nothing for us to write.
        return undefined
      case 'shutdown':
        return { ...lease, outcome: 'released' }
    }
    if (result !== undefined) {
      if ('wait' in result)
        return {
          ...lease,
          outcome: 'waiting',
          reason: result.wait,
          until: result.until ?? null,
          correlationKey: result.correlationKey ?? null,
        }
      return {
        ...lease,
        outcome: 'completed',
        output: result.output ?? null,
        result: result.result,
        durationMs,
      }
    }
    const error = toRunError(thrown, run.tenantId)
    if (error.retryable && run.attempt < run.maxAttempts) {
      const delay = retryDelayMs(run.attempt, run.retryBaseMs, error.retryAfterMs, this.options.random)
      return { ...lease, outcome: 'retry', error, runAt: this.options.clock.now() + delay, durationMs }
    }
    // Out of attempts, or not worth retrying: a person has to look (dead letter, retriable by hand).
    return { ...lease, outcome: 'failed', error, durationMs, deadLetter: true }
  }

  private settle(settlement: Settlement): Promise<boolean> {
    const batch = this.options.settleBatchSize ?? 100
    if (batch <= 1) return this.writeSettlements([settlement]).then((accepted) => accepted[0] ?? false)
    return new Promise((resolve) => {
      this.settleBuffer.push({ settlement, resolve })
      this.scheduleFlush()
    })
  }

  private scheduleFlush(): void {
    if (this.flushing || this.settleScheduled || this.settleBuffer.length === 0) return
    this.settleScheduled = true
    setImmediate(() => void this.flushSettlements())
  }

  /**
   * Writes the buffered settlements, one write at a time: what finishes while a write is in flight
   * waits for it and goes into the next one. A busy worker so writes as many results per transaction
   * as finished during one round trip (group commit), an idle one writes each at once.
   */
  private flushSettlements(): Promise<void> {
    this.settleScheduled = false
    this.flushing ??= this.writeBuffered().finally(() => {
      this.flushing = undefined
      // A result may have arrived between the last write and now (it saw a write in flight).
      this.scheduleFlush()
    })
    return this.flushing
  }

  private async writeBuffered(): Promise<void> {
    const batch = this.options.settleBatchSize ?? 100
    while (this.settleBuffer.length > 0) {
      const items = this.settleBuffer.splice(0, batch)
      const accepted = await this.writeSettlements(items.map((item) => item.settlement)).catch(() =>
        items.map(() => false),
      )
      for (const [i, item] of items.entries()) item.resolve(accepted[i] ?? false)
    }
  }

  /**
   * Writes settlements and, in the same transaction, claims runs for the slots that are free now.
   * Retries a failing database for up to one lease; after that the rescuer takes over.
   */
  private async writeSettlements(settlements: Settlement[]): Promise<boolean[]> {
    const deadline = Date.now() + this.options.leaseMs
    for (let attempt = 0; ; attempt++) {
      const limit = this.running && !this.stopping && !this.idle && attempt === 0 ? this.claimLimit() : 0
      const generation = this.wakeGeneration
      let outcome: { accepted: boolean[]; claimed: RunRow[] }
      this.reserved += limit
      try {
        const now = this.options.clock.now()
        outcome =
          limit === 0
            ? { accepted: await this.options.queue.settle(settlements, now), claimed: [] }
            : await this.options.queue.settleAndClaim(settlements, now, {
                workerId: this.id,
                kinds: this.servedKinds(),
                limit,
                now,
                leaseMs: this.options.leaseMs,
                ...this.priorityFloor(),
              })
      } catch (error) {
        this.reserved -= limit
        if (Date.now() > deadline) throw error
        this.log.warn({ err: toError(error), attempt }, 'writing run results failed; retrying')
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)))
        continue
      }
      this.reserved -= limit
      const { accepted, claimed } = outcome
      this.accept(claimed)
      if (claimed.length < limit && generation === this.wakeGeneration) this.idle = true
      return accepted
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.active.size === 0 && this.queued.length === 0) return
    const leases = [
      ...[...this.active.values()].map(({ run }) => ({ id: run.id, token: run.leaseToken })),
      ...this.queued.map((row) => ({ id: row.id, token: Number(row.lease_token) })),
    ]
    try {
      const refused = await this.options.queue.heartbeat(
        leases,
        this.options.clock.now(),
        this.options.leaseMs,
      )
      for (const id of refused) {
        const index = this.queued.findIndex((row) => row.id === id)
        if (index >= 0) this.queued.splice(index, 1)
        const active = this.active.get(id)
        if (!active || active.aborted) continue
        this.log.warn({ runId: id }, 'heartbeat refused: lease taken over; aborting the run here')
        abortRun(active, new RunAbort('lease_lost'))
      }
      this.heartbeatFailures.succeeded()
    } catch (error) {
      this.heartbeatFailures.failed(error)
    }
  }

  private async rescue(): Promise<void> {
    try {
      const rescued = await this.options.queue.rescueExpired(this.options.clock.now(), 100)
      this.rescueFailures.succeeded()
      if (rescued.length === 0) return
      for (const row of rescued) {
        this.log.warn(
          { runId: row.id, status: row.status, attempt: row.attempt },
          'rescued a run whose lease expired',
        )
      }
      this.options.onRescued?.(rescued)
      this.nudge()
    } catch (error) {
      this.rescueFailures.failed(error)
    }
  }

  private wakeAt(runAt: number): void {
    const delay = Math.max(0, runAt - this.options.clock.now())
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer)
      this.nudge()
    }, delay + 1)
    this.retryTimers.add(timer)
  }
}
