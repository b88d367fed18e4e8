import { Gauge } from 'prom-client'
import { toError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { addCollectedGauge, cachedRead, type Metrics } from '../platform/metrics.ts'

// Gauges the database answers on scrape (decision 0035): each one cheap, indexed statement, read at
// most once per `maxAgeMs` however many Prometheus servers scrape, and given up after `timeoutMs` so
// a database in trouble makes the scrape report it instead of hanging. All tenants: operator data.

export interface ScrapeReaders {
  /** Due pending runs and when the longest-waiting became due (epoch ms). */
  queue(now: number): Promise<{ depth: number; oldestRunAt: number | null }>
  /** Runs by status. */
  runsByStatus(): Promise<Array<{ status: string; value: number }>>
  /** Runs listed as dead letters. */
  deadLetters(): Promise<number>
  /** Approvals waiting for a person; absent: no approvals in this app. */
  approvalsPending?(): Promise<number>
  /** `select 1`: resolves when the database answers. */
  ping(): Promise<unknown>
}

export interface ScrapeGaugeOptions {
  log: Logger
  now: () => number
  readers: ScrapeReaders
  /** Scrapes within this time share one read (default 0: every scrape reads). */
  maxAgeMs?: number
  /** A read slower than this fails (default 2 s); the gauge keeps its last value. */
  timeoutMs?: number
}

export function registerScrapeGauges(metrics: Metrics, options: ScrapeGaugeOptions): void {
  const { log, now, readers } = options
  const maxAgeMs = options.maxAgeMs ?? 0
  const timeoutMs = options.timeoutMs ?? 2000
  const timed = <T>(what: string, read: () => Promise<T>) =>
    cachedRead(() => withTimeout(read(), timeoutMs, what), maxAgeMs)

  const queue = timed('queue figures', () => readers.queue(now()))
  addCollectedGauge(metrics, {
    name: 'openorch_queue_depth',
    help: 'Pending runs that are due now (waiting for a worker slot), all processes.',
    log,
    read: async () => [{ value: (await queue()).depth }],
  })
  addCollectedGauge(metrics, {
    name: 'openorch_queue_oldest_pending_age_seconds',
    help: 'How long the longest-waiting due pending run has waited since it became due; 0 when none waits.',
    log,
    read: async () => {
      const { oldestRunAt } = await queue()
      return [{ value: oldestRunAt === null ? 0 : Math.max(0, now() - oldestRunAt) / 1000 }]
    },
  })
  // The one scan: a grouped count over every run kept (measured 0.8-0.9 s for a million runs on
  // PostgreSQL, on a loaded machine). Read a twelfth as often, in the background after the first.
  const byStatus = cachedRead(
    () => withTimeout(readers.runsByStatus(), Math.max(timeoutMs, 30_000), 'runs by status'),
    maxAgeMs * 12,
    { staleWhileRefreshing: maxAgeMs > 0 },
  )
  addCollectedGauge(metrics, {
    name: 'openorch_runs',
    help: 'Runs in the database by status (all tenants), counted on scrape.',
    labelNames: ['status'] as const,
    log,
    read: async () => (await byStatus()).map(({ status, value }) => ({ labels: { status }, value })),
  })
  const deadLetters = timed('dead letters', readers.deadLetters)
  addCollectedGauge(metrics, {
    name: 'openorch_dead_letters',
    help: 'Runs listed as dead letters (failed for good, not retried by hand yet), all tenants.',
    log,
    read: async () => [{ value: await deadLetters() }],
  })
  if (readers.approvalsPending) {
    const pending = timed('approvals pending', readers.approvalsPending)
    addCollectedGauge(metrics, {
      name: 'openorch_approvals_pending',
      help: 'Approvals waiting for a person to decide, all tenants.',
      log,
      read: async () => [{ value: await pending() }],
    })
  }
  // Not a collected gauge: a failed read is the answer here (0), not a reason to keep the last one.
  const ping = timed('select 1', readers.ping)
  new Gauge({
    name: 'openorch_database_up',
    help: `1 when the database answered a trivial query within ${timeoutMs / 1000} s at this scrape, 0 when not (what /ready checks).`,
    registers: [metrics.registry],
    async collect() {
      try {
        await ping()
        this.set(1)
      } catch (error) {
        log.warn({ err: toError(error) }, 'metrics: the database does not answer')
        this.set(0)
      }
    },
  })
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  // A read that loses the race may still fail later: that is no unhandled rejection.
  promise.catch(() => {})
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
