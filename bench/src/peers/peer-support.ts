import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'

/** Wall-clock milliseconds with sub-millisecond resolution; comparable across the whole process. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now()
}

/** A lowercase, identifier-safe random suffix for per-run schema names. */
export function randomSuffix(): string {
  return randomBytes(4).toString('hex')
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return round(sorted[Math.min(rank, sorted.length) - 1]!)
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `check` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  { intervalMs = 10, timeoutMs = 120_000 }: { intervalMs?: number; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/** Runs `fn` with a short-lived client of its own (not the peer's pool). */
export async function withClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`)
  })
}

/**
 * Counts handler runs of the throughput jobs (payload index 0..expected-1) and detects jobs that ran
 * twice. `done` resolves with the wall-clock time at which every index had run at least once.
 */
export class ThroughputTracker {
  private readonly seen: Uint8Array
  private distinct = 0
  runs = 0
  duplicates = 0
  unexpected = 0
  readonly done: Promise<number>
  private resolveDone!: (at: number) => void

  readonly expected: number

  constructor(expected: number) {
    this.expected = expected
    this.seen = new Uint8Array(expected)
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve
    })
    if (expected === 0) this.resolveDone(nowMs())
  }

  record(index: number): void {
    this.runs++
    if (!Number.isInteger(index) || index < 0 || index >= this.expected) {
      this.unexpected++
      return
    }
    if (this.seen[index]) {
      this.duplicates++
      return
    }
    this.seen[index] = 1
    this.distinct++
    if (this.distinct === this.expected) this.resolveDone(nowMs())
  }

  /** Throws unless every job ran exactly once. */
  verify(): void {
    if (this.runs !== this.expected || this.duplicates !== 0 || this.unexpected !== 0) {
      throw new Error(
        `verification failed: expected ${this.expected} runs, got ${this.runs} ` +
          `(${this.distinct} distinct, ${this.duplicates} duplicate, ${this.unexpected} unexpected)`,
      )
    }
  }
}

/**
 * Idle enqueue-to-start latency: enqueue one job, wait for its handler to start, repeat. The handler
 * calls `record` with the enqueue timestamp carried in the job payload.
 */
export class LatencyTracker {
  readonly samples: number[] = []
  duplicates = 0
  private readonly started = new Set<number>()
  private readonly waiting = new Map<number, () => void>()

  record(sample: number, enqueuedAt: number): void {
    const startedAt = nowMs()
    if (this.started.has(sample)) {
      this.duplicates++
      return
    }
    this.started.add(sample)
    this.samples.push(startedAt - enqueuedAt)
    this.waiting.get(sample)?.()
  }

  async measure(
    count: number,
    enqueue: (sample: number, enqueuedAt: number) => Promise<unknown>,
    { timeoutMs = 30_000, jitterMs = 0 }: { timeoutMs?: number; jitterMs?: number } = {},
  ): Promise<void> {
    for (let sample = 0; sample < count; sample++) {
      const started = new Promise<void>((resolve) => {
        this.waiting.set(sample, resolve)
      })
      // Optional random pause so enqueues are not phase-locked to a polling worker's loop.
      if (jitterMs > 0) await sleep(Math.random() * jitterMs)
      await enqueue(sample, nowMs())
      await withTimeout(started, timeoutMs, `latency sample ${sample} to start`)
      this.waiting.delete(sample)
    }
    if (this.duplicates !== 0)
      throw new Error(`verification failed: ${this.duplicates} latency jobs ran twice`)
  }

  p50(): number | null {
    return percentile(this.samples, 50)
  }

  p99(): number | null {
    return percentile(this.samples, 99)
  }
}

/** Payload shape shared by both phases; `i` marks throughput jobs, `sample`/`enqueuedAt` latency jobs. */
export type BenchPayload = { i: number } | { sample: number; enqueuedAt: number }

/** Routes one handler invocation to the right tracker. */
export function recordPayload(
  payload: unknown,
  throughput: ThroughputTracker,
  latency: LatencyTracker,
): void {
  const p = payload as Partial<{ i: number; sample: number; enqueuedAt: number }> | null
  if (p && typeof p.enqueuedAt === 'number' && typeof p.sample === 'number') {
    latency.record(p.sample, p.enqueuedAt)
  } else {
    throughput.record(typeof p?.i === 'number' ? p.i : -1)
  }
}
