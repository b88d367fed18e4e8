/**
 * graphile-worker peer: same workload as our engine, on a throwaway schema `bench_gw_<random>`.
 *
 * Throughput: enqueue `jobs` no-op jobs with `addJobs` (one `add_jobs` call per `batchSize` jobs) while no
 * worker runs, then start a runner with `concurrency` and time worker start -> last handler run.
 * Latency: with the runner idle, `addJob` one job at a time (payload carries the enqueue timestamp) and
 * record handler start minus enqueue time, waiting for each job to start before sending the next.
 */
import { createRequire } from 'node:module'
import {
  type AddJobsJobSpec,
  Logger,
  makeWorkerUtils,
  type Runner,
  run,
  type TaskList,
  type WorkerUtils,
} from 'graphile-worker'
import { markCpu, reportCpu } from '../machine-cpu.ts'
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
const { version } = require('graphile-worker/package.json') as { version: string }

const TASK = 'bench_noop'
const LOCAL_QUEUE_SIZE = 500
const silentLogger = new Logger(() => () => {})

export type GraphileWorkerMode = 'defaults' | 'batched'

/** Runs both modes one after the other ('defaults', then 'batched'), each on its own fresh schema. */
export async function runPeer(options: PeerOptions): Promise<PeerResult[]> {
  const results: PeerResult[] = []
  for (const mode of ['defaults', 'batched'] as const) results.push(await runPeerMode(options, mode))
  return results
}

/**
 * 'defaults': graphile-worker's stock settings (each of the `concurrency` workers fetches and completes
 * its own job; LISTEN/NOTIFY for new jobs; pollInterval 2000 ms as fallback).
 * 'batched': the 0.17 batching features: `localQueue.size` 500 plus `completeJobBatchDelay: 0` and
 * `failJobBatchDelay: 0`.
 */
export async function runPeerMode(options: PeerOptions, mode: GraphileWorkerMode): Promise<PeerResult> {
  const { databaseUrl, jobs, batchSize, concurrency, latencySamples } = options
  const schema = `bench_gw_${randomSuffix()}`
  const shared = { connectionString: databaseUrl, schema, logger: silentLogger }
  const preset: GraphileConfig.Preset | undefined =
    mode === 'batched'
      ? { worker: { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
      : undefined

  let utils: WorkerUtils | undefined
  let runner: Runner | undefined
  try {
    utils = await makeWorkerUtils(shared)
    await utils.migrate()
    const workerUtils = utils
    const remainingJobs = async (): Promise<number> =>
      workerUtils.withPgClient(async (client) => {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${client.escapeIdentifier(schema)}._private_jobs`,
        )
        return rows[0]!.n
      })

    // Phase 1: enqueue everything with no worker running.
    const enqueueStartedAt = nowMs()
    for (let first = 0; first < jobs; first += batchSize) {
      const specs: AddJobsJobSpec[] = []
      for (let i = first; i < Math.min(first + batchSize, jobs); i++)
        specs.push({ identifier: TASK, payload: { i } })
      await workerUtils.addJobs(specs)
    }
    const enqueueSeconds = (nowMs() - enqueueStartedAt) / 1000
    const queued = await remainingJobs()
    if (queued !== jobs) throw new Error(`expected ${jobs} queued jobs, found ${queued}`)

    // Phase 2: start the worker and drain.
    const throughput = new ThroughputTracker(jobs)
    const latency = new LatencyTracker()
    const taskList: TaskList = {
      [TASK]: (payload) => {
        recordPayload(payload, throughput, latency)
      },
    }
    const workerStartedAt = nowMs()
    const cpuMark = markCpu()
    runner = await run({ ...shared, concurrency, noHandleSignals: true, taskList, preset })
    const finishedAt = await withTimeout(throughput.done, 600_000, 'all jobs to run')
    reportCpu(`graphile-worker ${mode}`, cpuMark, jobs)
    const seconds = (finishedAt - workerStartedAt) / 1000
    // Completed jobs are deleted; wait until the database agrees that everything is done.
    await waitUntil(async () => (await remainingJobs()) === 0, 'all jobs to be completed in the database')
    const dbSeconds = (nowMs() - workerStartedAt) / 1000
    throughput.verify()

    // Phase 3: idle enqueue-to-start latency, one job at a time.
    await latency.measure(latencySamples, (sample, enqueuedAt) =>
      workerUtils.addJob(TASK, { sample, enqueuedAt }),
    )
    await waitUntil(async () => (await remainingJobs()) === 0, 'latency jobs to be completed in the database')
    throughput.verify()

    const settings =
      mode === 'batched'
        ? `localQueue.size=${LOCAL_QUEUE_SIZE}, completeJobBatchDelay=0, failJobBatchDelay=0`
        : 'stock settings (per-worker get_job/complete_job, pollInterval 2000 ms)'
    return {
      name: 'graphile-worker',
      version,
      mode,
      jobs,
      seconds: round(seconds, 3),
      jobsPerSecond: round(jobs / seconds, 1),
      latencyP50Ms: latency.p50(),
      latencyP99Ms: latency.p99(),
      notes:
        `concurrency=${concurrency}, ${settings}, maxPoolSize=10, LISTEN/NOTIFY wake-up; ` +
        `enqueue ${jobs} via addJobs x${Math.ceil(jobs / batchSize)} took ${round(enqueueSeconds, 2)} s; ` +
        `all rows completed in DB at ${round(dbSeconds, 3)} s; ` +
        `latency n=${latency.samples.length} via addJob; each job ran exactly once`,
    }
  } finally {
    try {
      await runner?.stop()
    } finally {
      try {
        await utils?.release()
      } finally {
        await dropSchema(databaseUrl, schema)
      }
    }
  }
}
