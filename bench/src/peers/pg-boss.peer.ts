/**
 * pg-boss peer: same workload as our engine, on a throwaway schema `bench_pgboss_<random>`.
 *
 * pg-boss 10 has no per-worker concurrency option and no LISTEN/NOTIFY wake-up: each `work()` call starts
 * one polling loop that fetches up to `batchSize` jobs, hands them to the handler as an array, completes
 * them, and then sleeps until `pollingIntervalSeconds` has passed since the fetch began (minimum 0.5 s).
 * `concurrency` is therefore modelled as that many `work()` loops on the queue.
 *
 * Throughput: `insert()` the jobs in arrays of `batchSize` while no worker runs, then start the loops
 * and time worker start -> last handler run. Latency: with the loops idle, `send()` one job at a time
 * (payload carries the enqueue timestamp) and record handler start minus enqueue time.
 */
import { createRequire } from 'node:module'
import PgBoss from 'pg-boss'
import type { PeerOptions, PeerResult } from './peer.types.ts'
import {
  dropSchema,
  LatencyTracker,
  nowMs,
  randomSuffix,
  recordPayload,
  round,
  ThroughputTracker,
  waitUntil,
  withTimeout,
} from './peer-support.ts'

const require = createRequire(import.meta.url)
const { version } = require('pg-boss/package.json') as { version: string }

const QUEUE = 'bench_noop'
/** pg-boss's floor for pollingIntervalSeconds. */
export const PG_BOSS_POLLING_INTERVAL_SECONDS = 0.5
/** Jobs fetched per poll by each work() loop. */
export const PG_BOSS_WORK_BATCH_SIZE = 100

export interface PgBossPeerOptions extends PeerOptions {
  /** Jobs fetched per poll by each work() loop (default PG_BOSS_WORK_BATCH_SIZE). */
  workBatchSize?: number
  /**
   * Latency phase only: sleep a uniform random 0..latencyJitterMs before each send() (default 0, i.e. the
   * shared protocol). With a polling peer the shared protocol sends each job right after a poll picked
   * up the previous one, so the result depends on how the loops' poll phases happen to be spread
   * (~pollingInterval if they are in lockstep); jitter measures a random arrival instead.
   */
  latencyJitterMs?: number
}

export async function runPeer(options: PgBossPeerOptions): Promise<PeerResult> {
  const { databaseUrl, jobs, batchSize, concurrency, latencySamples } = options
  const workBatchSize = options.workBatchSize ?? PG_BOSS_WORK_BATCH_SIZE
  const latencyJitterMs = options.latencyJitterMs ?? 0
  const schema = `bench_pgboss_${randomSuffix()}`
  const errors: string[] = []

  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema,
    max: 10,
    schedule: false,
    pollingIntervalSeconds: PG_BOSS_POLLING_INTERVAL_SECONDS,
  })
  // pg-boss never logs itself; it emits 'error' (which would throw without a listener).
  boss.on('error', (error) => {
    errors.push(error.message)
  })

  let started = false
  try {
    await boss.start()
    started = true
    await boss.createQueue(QUEUE)
    const db = boss.getDb()
    const countByState = async (): Promise<{ total: number; completed: number }> => {
      const { rows } = await db.executeSql(
        `SELECT count(*)::int AS total, (count(*) FILTER (WHERE state = 'completed'))::int AS completed
           FROM ${schema}.job WHERE name = $1`,
        [QUEUE],
      )
      return rows[0] as { total: number; completed: number }
    }

    // Phase 1: enqueue everything with no worker running.
    const enqueueStartedAt = nowMs()
    for (let first = 0; first < jobs; first += batchSize) {
      const batch: PgBoss.JobInsert[] = []
      for (let i = first; i < Math.min(first + batchSize, jobs); i++) batch.push({ name: QUEUE, data: { i } })
      await boss.insert(batch)
    }
    const enqueueSeconds = (nowMs() - enqueueStartedAt) / 1000
    const queued = await countByState()
    if (queued.total !== jobs) throw new Error(`expected ${jobs} queued jobs, found ${queued.total}`)

    // Phase 2: start `concurrency` polling loops and drain.
    const throughput = new ThroughputTracker(jobs)
    const latency = new LatencyTracker()
    const handler = async (batch: PgBoss.Job<unknown>[]): Promise<void> => {
      for (const job of batch) recordPayload(job.data, throughput, latency)
    }
    const workOptions: PgBoss.WorkOptions = {
      batchSize: workBatchSize,
      pollingIntervalSeconds: PG_BOSS_POLLING_INTERVAL_SECONDS,
    }
    const workerStartedAt = nowMs()
    for (let w = 0; w < concurrency; w++) await boss.work(QUEUE, workOptions, handler)
    const finishedAt = await withTimeout(throughput.done, 600_000, 'all jobs to run')
    const seconds = (finishedAt - workerStartedAt) / 1000
    // pg-boss completes a fetched batch without awaiting it; wait until the database agrees.
    await waitUntil(
      async () => (await countByState()).completed === jobs,
      'all jobs to be completed in the database',
    )
    const dbSeconds = (nowMs() - workerStartedAt) / 1000
    throughput.verify()

    // Phase 3: idle enqueue-to-start latency, one job at a time.
    await latency.measure(latencySamples, (sample, enqueuedAt) => boss.send(QUEUE, { sample, enqueuedAt }), {
      jitterMs: latencyJitterMs,
    })
    await waitUntil(
      async () => (await countByState()).completed === jobs + latencySamples,
      'latency jobs to be completed in the database',
    )
    throughput.verify()
    if (errors.length > 0) throw new Error(`pg-boss reported errors: ${errors.slice(0, 3).join('; ')}`)

    return {
      name: 'pg-boss',
      version,
      mode:
        `work x${concurrency}, batchSize ${workBatchSize}` +
        (latencyJitterMs > 0 ? `, latency jitter ${latencyJitterMs} ms` : ''),
      jobs,
      seconds: round(seconds, 3),
      jobsPerSecond: round(jobs / seconds, 1),
      latencyP50Ms: latency.p50(),
      latencyP99Ms: latency.p99(),
      notes:
        `${concurrency} work() polling loops, each batchSize=${workBatchSize}, ` +
        `pollingIntervalSeconds=${PG_BOSS_POLLING_INTERVAL_SECONDS} (pg-boss minimum; no LISTEN/NOTIFY in v10), ` +
        `standard queue policy, pool max=10, schedule=false; ` +
        `enqueue ${jobs} via insert() x${Math.ceil(jobs / batchSize)} took ${round(enqueueSeconds, 2)} s; ` +
        `all rows completed in DB at ${round(dbSeconds, 3)} s; ` +
        `latency n=${latency.samples.length} via send()` +
        (latencyJitterMs > 0
          ? ` after a random 0..${latencyJitterMs} ms pause each`
          : ` sent as soon as the previous one started (result depends on how the ${concurrency} loops' ` +
            `${PG_BOSS_POLLING_INTERVAL_SECONDS} s poll phases are spread)`) +
        '; each job ran exactly once',
    }
  } finally {
    try {
      if (started) await boss.stop({ graceful: true, wait: true, close: true, timeout: 10_000 })
    } finally {
      await dropSchema(databaseUrl, schema)
    }
  }
}
