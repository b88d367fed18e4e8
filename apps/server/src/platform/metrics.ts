import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { toError } from './errors.ts'
import type { Logger } from './logger.ts'

// Prometheus metrics of one app. A Registry per app (never prom-client's global one), so a process
// or a test can hold several apps without "metric already registered" clashes.

export interface Metrics {
  registry: Registry
  /** Labels: method, route (the route pattern, never the raw URL), status_code. */
  httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>
}

export interface MetricsOptions {
  /** Process and Node.js runtime metrics (CPU, memory, event loop lag, GC); default true. */
  defaultMetrics?: boolean
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  const httpRequestDuration = new Histogram({
    name: 'openorch_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  return { registry, httpRequestDuration }
}

export interface CollectedGaugeOptions<L extends string> {
  name: string
  help: string
  labelNames?: readonly L[]
  /** Read on every scrape. Values not returned are reset, so a vanished label set does not linger. */
  read: () => Promise<Array<{ labels?: Partial<Record<L, string>>; value: number }>>
  log: Logger
}

/**
 * A gauge whose values are read on scrape (e.g. a count from the database). If reading fails,
 * the scrape still succeeds with the previous values and a warning is logged: metrics must not
 * go dark exactly when the database has trouble.
 */
export function addCollectedGauge<L extends string>(
  metrics: Metrics,
  options: CollectedGaugeOptions<L>,
): Gauge<L> {
  return new Gauge<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    registers: [metrics.registry],
    async collect() {
      try {
        const values = await options.read()
        this.reset()
        for (const { labels, value } of values) {
          if (labels) this.set(labels, value)
          else this.set(value)
        }
      } catch (error) {
        options.log.warn(
          { err: toError(error), metric: options.name },
          'could not collect a metric; serving the last value',
        )
      }
    },
  })
}

/**
 * `read`, at most once per `maxAgeMs`: scrapes within that time share the last answer, and
 * concurrent scrapes share one read in flight. For gauges that query the database, so a scrape every
 * few seconds by several Prometheus servers costs one query. A failed read is not kept.
 * With `staleWhileRefreshing`, a stale answer is served at once while one read refreshes it in the
 * background: a slow statement (a scan) then never holds a scrape up after the first.
 */
export function cachedRead<T>(
  read: () => Promise<T>,
  maxAgeMs: number,
  options: { staleWhileRefreshing?: boolean } = {},
): () => Promise<T> {
  if (options.staleWhileRefreshing) return staleWhileRefreshing(read, maxAgeMs)
  let last: { at: number; value: Promise<T> } | undefined
  return () => {
    const now = performance.now()
    if (last && now - last.at < maxAgeMs) return last.value
    const value = read()
    const entry = { at: now, value }
    last = entry
    value.catch(() => {
      if (last === entry) last = undefined
    })
    return value
  }
}

function staleWhileRefreshing<T>(read: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let good: { at: number; value: Promise<T> } | undefined
  let inFlight: Promise<T> | undefined
  const refresh = () => {
    const at = performance.now()
    const value = read()
    inFlight = value
    value.then(
      () => {
        good = { at, value }
      },
      () => {},
    )
    value
      .finally(() => {
        inFlight = undefined
      })
      .catch(() => {})
    return value
  }
  return () => {
    // Nothing read yet: everyone waits for the first read.
    if (!good) return inFlight ?? refresh()
    if (performance.now() - good.at >= maxAgeMs && !inFlight) refresh()
    return good.value
  }
}
