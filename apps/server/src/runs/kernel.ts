import type { Db } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { unscopedMethods } from '../platform/db/tenant-scope.ts'
import type { Logger } from '../platform/logger.ts'
import { ExecutorRegistry, waitForChildren } from './executor.ts'
import { OutboxRelay } from './outbox-relay.ts'
import { createPostgresQueue } from './queue.postgres.ts'
import { createSqliteQueue } from './queue.sqlite.ts'
import type { RunQueue, Settlement } from './queue.ts'
import { createRunService, type RunService } from './run.service.ts'
import type { ClaimedRun, EnqueueRequest } from './run.types.ts'
import { eventPayloadOf } from './run-event.ts'
import type { RunKindView } from './run-view.ts'
import { Worker, type WorkerOptions } from './worker.ts'
import { announceWorker, forgetWorker, unservedKinds } from './worker-presence.ts'

const finishing = new Set<Settlement['outcome']>(['completed', 'failed', 'timeout'])

export interface RunKernelOptions {
  database: Db
  bus: Bus
  clock: Clock
  log: Logger
  worker: Omit<WorkerOptions, 'queue' | 'executors' | 'clock' | 'log'>
  backpressure: { warnPending: number; dropPending: number }
  relayIntervalMs?: number
  /** How often a worker announces itself and sweeps parked runs (default 10 s). */
  presenceIntervalMs?: number
  /** How often the queue depth is checked for the backpressure warning (default 5 s). */
  queueCheckIntervalMs?: number
  /** A scheduled run was dropped by backpressure (metrics). */
  onDropped?: (request: EnqueueRequest, reason: string) => void
}

export interface RunKernel {
  queue: RunQueue
  executors: ExecutorRegistry
  /** How each kind's domain appears in the Run JSON; domains add theirs when they register. */
  views: RunKindView[]
  runs: RunService
  worker: Worker
  relay: OutboxRelay
  /** Kinds with runs due for a while that no live process serves, and how many wait (metrics). */
  unserved: ReadonlyMap<string, number>
  /** Starts claiming (worker role) and relaying events. */
  start(options?: { worker?: boolean }): void
  stop(graceMs: number): Promise<void>
}

export function createQueue(database: Db): RunQueue {
  // Claims, settlements and rescues span every workspace: never in a request's or a run's scope.
  return unscopedMethods(
    database.dialect === 'postgres' ? createPostgresQueue(database) : createSqliteQueue(database),
  )
}

/** Wires queue, worker, run service and outbox relay; the composition root registers executors. */
export function createRunKernel(options: RunKernelOptions): RunKernel {
  const queue = createQueue(options.database)
  const executors = new ExecutorRegistry()
  const relay = new OutboxRelay({
    database: options.database,
    bus: options.bus,
    clock: options.clock,
    log: options.log,
    ...(options.relayIntervalMs !== undefined ? { intervalMs: options.relayIntervalMs } : {}),
  })
  let workerStarted = false
  const worker = new Worker({
    ...options.worker,
    queue,
    executors,
    clock: options.clock,
    log: options.log,
    onClaimed: (rows) => {
      // Live only (decision 0004); not even built while no one can hear it.
      if (relay.hasAudience()) {
        const now = options.clock.now()
        for (const row of rows) {
          relay.publishLive({
            id: 0,
            tenantId: row.tenant_id,
            runId: row.id,
            type: 'run.running',
            payload: eventPayloadOf(row),
            createdAt: now,
          })
        }
      }
      options.worker.onClaimed?.(rows)
    },
    onSettled: (run, settlement, accepted) => {
      relay.kick()
      if (accepted) afterSettled(run, settlement)
      options.worker.onSettled?.(run, settlement, accepted)
    },
  })
  const runs = createRunService({
    database: options.database,
    bus: options.bus,
    clock: options.clock,
    log: options.log,
    backpressure: options.backpressure,
    ...(options.onDropped ? { onDropped: options.onDropped } : {}),
    onRunsDue: () => {
      relay.kick()
      if (workerStarted) worker.nudge()
    },
    onCancelled: (run) => {
      relay.kick()
      worker.abort(run.id)
    },
  })
  const unsubscribe: Array<() => void> = []

  /** A finished child may complete its parent's wait; a parent parking for children may find them done. */
  function afterSettled(run: ClaimedRun, settlement: Settlement): void {
    const parentId =
      settlement.outcome === 'waiting'
        ? settlement.reason === waitForChildren
          ? run.id
          : undefined
        : finishing.has(settlement.outcome)
          ? (run.parentRunId ?? undefined)
          : undefined
    if (parentId === undefined) return
    runs
      .resumeParentIfDone(run.tenantId, parentId)
      .catch((error) =>
        options.log.warn({ err: error, runId: parentId }, 'resuming a parent failed; the sweep will'),
      )
  }

  // Kinds with due runs no live process serves: warned about once each, and a gauge (metrics).
  const unserved = new Map<string, number>()
  async function checkServed(): Promise<void> {
    const now = options.clock.now()
    const found = await unservedKinds(options.database, now)
    for (const [kind, pending] of found)
      if (!unserved.has(kind))
        options.log.warn(
          { kind, pending },
          `runs of kind "${kind}" are waiting, but no running process serves that kind: start one with an executor for it (check OPENORCH_RUN_KINDS and OPENORCH_ROLES)`,
        )
    unserved.clear()
    for (const [kind, pending] of found) unserved.set(kind, pending)
  }

  return {
    queue,
    executors,
    views: [],
    runs,
    worker,
    relay,
    start(startOptions = {}) {
      void relay.start()
      // Backpressure warnings for queues filled by manual and API runs, which do not count on enqueue.
      const queueCheck = setInterval(() => {
        runs.checkQueue().catch((error) => options.log.warn({ err: error }, 'queue check failed'))
        checkServed().catch((error) => options.log.warn({ err: error }, 'served kinds check failed'))
      }, options.queueCheckIntervalMs ?? 5000)
      queueCheck.unref()
      unsubscribe.push(() => clearInterval(queueCheck))
      unsubscribe.push(
        options.bus.subscribe('control', (message) => {
          try {
            const parsed = JSON.parse(message) as { type?: string; runId?: string }
            if (parsed.type === 'cancel' && parsed.runId) worker.abort(parsed.runId)
          } catch {
            options.log.warn({ message }, 'ignored a malformed control message')
          }
        }),
      )
      if (startOptions.worker ?? true) {
        workerStarted = true
        unsubscribe.push(options.bus.subscribe('wake', () => worker.nudge()))
        worker.start()
        const presence = () =>
          announceWorker(options.database, worker.id, worker.servedKinds(), options.clock.now()).catch(
            (error) => options.log.warn({ err: error }, 'announcing this worker failed'),
          )
        void presence()
        // Parked runs: deadlines and parents whose children finished while no one was looking.
        const sweep = () =>
          runs.sweepParked().catch((error) => options.log.warn({ err: error }, 'parked runs sweep failed'))
        const repair = () =>
          queue
            .repair()
            .then((mended) => {
              if (mended > 0)
                options.log.error({ mended }, 'run key counts were wrong and were mended: a defect')
            })
            .catch((error) => options.log.warn({ err: error }, 'queue repair failed'))
        const presenceTimer = setInterval(() => {
          void presence()
          void sweep()
          void repair()
        }, options.presenceIntervalMs ?? 10_000)
        presenceTimer.unref()
        unsubscribe.push(() => clearInterval(presenceTimer))
      }
    },
    unserved,
    async stop(graceMs) {
      for (const off of unsubscribe.splice(0)) off()
      if (workerStarted) {
        await worker.stop(graceMs)
        await forgetWorker(options.database, worker.id).catch(() => {})
      }
      await relay.stop()
    },
  }
}
