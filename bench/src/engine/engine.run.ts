// One engine measurement in its own process (so peak RSS is its own). Prints one JSON line.
// Usage: node --import tsx bench/src/engine/engine.run.ts <sqlite|postgres> <json options>

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import pino from 'pino'
import type { Tables } from '../../../apps/server/src/database.ts'
import { migrations } from '../../../apps/server/src/migrations/index.ts'
import { createLocalBus, createPostgresBus } from '../../../apps/server/src/platform/bus.ts'
import { systemClock } from '../../../apps/server/src/platform/clock.ts'
import { openDatabase } from '../../../apps/server/src/platform/db/database.ts'
import { migrateToLatest } from '../../../apps/server/src/platform/db/migrator.ts'
import { tuneHeapForServer } from '../../../apps/server/src/platform/heap.ts'
import { createRunKernel } from '../../../apps/server/src/runs/kernel.ts'
import type { RunService } from '../../../apps/server/src/runs/run.service.ts'
import type { EnqueueRequest } from '../../../apps/server/src/runs/run.types.ts'
import { removeBenchPlace, sortedPercentile } from '../bench-place.ts'
import { markCpu, processCpuMs, reportCpu } from '../machine-cpu.ts'

export interface EngineOptions {
  jobs: number
  batchSize: number
  concurrency: number
  latencySamples: number
  mode: 'one-by-one' | 'batched'
  synchronous?: 'NORMAL' | 'FULL'
  databaseUrl: string
  /** As `npm start` does (with the launch flags of child.ts); false with --plain-node. */
  tuneHeap?: boolean
}

export interface EngineResult {
  name: string
  mode: string
  jobs: number
  enqueuePerSecond: number
  seconds: number
  jobsPerSecond: number
  latencyP50Ms: number
  latencyP99Ms: number
  crossProcessLatencyP50Ms: number | null
  crossProcessLatencyP99Ms: number | null
  peakRssMb: number
}

const dialect = process.argv[2] as 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as EngineOptions
if (options.tuneHeap) tuneHeapForServer()
const log = pino({ level: 'silent' })
const now = () => performance.timeOrigin + performance.now()

/** BENCH_TRACE_MEMORY=1 prints memory at each phase to stderr. */
function traceMemory(phase: string): void {
  if (process.env.BENCH_TRACE_MEMORY !== '1') return
  const m = process.memoryUsage()
  const mb = (n: number) => Math.round(n / 1048576)
  process.stderr.write(
    `${phase}: rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, peak ${mb(process.resourceUsage().maxRSS * 1024)} MB\n`,
  )
}

/**
 * BENCH_TRACE_CPU=1 (PostgreSQL): CPU time of this process and of its PostgreSQL backends (found by
 * application_name, read from /proc: the server must be on this machine) over the drain, per run.
 * CPU time, unlike runs/s, barely moves with the load other tenants put on the machine.
 */
const traceCpu = process.env.BENCH_TRACE_CPU === '1'
async function backendCpuMs(applicationName: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: options.databaseUrl })
  await client.connect()
  const { rows } = await client.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  )
  await client.end()
  const cpu = new Map<number, number>()
  for (const { pid } of rows) {
    const ms = processCpuMs(pid)
    if (ms !== null) cpu.set(pid, ms)
  }
  return cpu
}

/**
 * BENCH_TRACE_CPU=1 (PostgreSQL): transaction ids handed out so far, i.e. transactions that wrote (each
 * ends in a WAL flush). Read at once, unlike pg_stat_database's counters, which backends report at most
 * every second (every ten while idle). Counts every database of the server.
 */
async function writeTransactionsSoFar(): Promise<number> {
  const client = new pg.Client({ connectionString: options.databaseUrl })
  await client.connect()
  const { rows } = await client.query<{ n: string }>(
    'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS n',
  )
  await client.end()
  return Number(rows[0]!.n)
}

async function main(): Promise<EngineResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-'))
  const schema = `bench_oo_${randomBytes(4).toString('hex')}`
  const location =
    dialect === 'sqlite'
      ? { sqlitePath: path.join(dir, 'bench.db'), sqliteSynchronous: options.synchronous ?? 'NORMAL' }
      : { url: traceCpu ? `${options.databaseUrl}?application_name=${schema}` : options.databaseUrl, schema }
  traceMemory('start')
  const database = await openDatabase<Tables>({ ...location, poolSize: options.concurrency + 4 })
  await migrateToLatest(database.db, dialect, migrations)
  const makeBus = () =>
    dialect === 'sqlite'
      ? createLocalBus()
      : createPostgresBus({
          pool: database.pool!,
          clientConfig: database.pgClientConfig!,
          namespace: schema,
          log,
        })
  const bus = makeBus()
  await bus.ready()
  let completed = 0
  let done: (() => void) | undefined
  const starts = new Map<string, number>()
  const oneByOne = options.mode === 'one-by-one'
  const kernel = createRunKernel({
    database,
    bus,
    clock: systemClock,
    log,
    backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
    worker: {
      concurrency: options.concurrency,
      leaseMs: 30_000,
      pollIntervalMs: 1000,
      claimBatchSize: oneByOne ? 1 : 500,
      localQueueSize: oneByOne ? 0 : 500,
      settleBatchSize: oneByOne ? 1 : 500,
      onSettled: () => {
        completed++
        if (completed === options.jobs) done?.()
      },
    },
  })
  kernel.executors.register('noop', async ({ run }) => {
    const sentAt = (run.input as { sentAt?: number } | null)?.sentAt
    if (sentAt !== undefined) starts.set(run.id, now() - sentAt)
    return {}
  })
  const requests: EnqueueRequest[] = Array.from({ length: options.jobs }, () => ({
    tenantId: 'default',
    kind: 'noop',
    trigger: 'api',
  }))
  const enqueueStart = now()
  for (let i = 0; i < requests.length; i += options.batchSize) {
    await kernel.runs.enqueueMany(requests.slice(i, i + options.batchSize))
  }
  const enqueueSeconds = (now() - enqueueStart) / 1000
  traceMemory('after enqueue')

  // Throughput: drain the backlog.
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const cpuBefore = traceCpu && dialect === 'postgres' ? await backendCpuMs(schema) : null
  const writesBefore = cpuBefore ? await writeTransactionsSoFar() : 0
  const cpuMark = markCpu()
  const drainStart = now()
  kernel.start()
  await finished
  const seconds = (now() - drainStart) / 1000
  reportCpu(`openOrchestrator ${dialect} ${options.mode}`, cpuMark, options.jobs)
  if (cpuBefore) {
    const nodeCpu = process.cpuUsage(cpuMark.process)
    const after = await backendCpuMs(schema)
    const writes = (await writeTransactionsSoFar()) - writesBefore
    let backendMs = 0
    for (const [pid, ms] of after) backendMs += ms - (cpuBefore.get(pid) ?? 0)
    const perRun = (ms: number) => ((ms * 1000) / options.jobs).toFixed(0)
    process.stderr.write(
      `cpu per run: node ${perRun((nodeCpu.user + nodeCpu.system) / 1000)} µs (system ${perRun(nodeCpu.system / 1000)} µs), postgres ${perRun(backendMs)} µs (${after.size} backends), ${(writes / options.jobs).toFixed(2)} write transactions\n`,
    )
  }
  traceMemory('after drain')

  // Latency on an idle system: enqueue one run, wait for it to start, repeat.
  async function measureLatency(runs: RunService): Promise<number[]> {
    const samples: number[] = []
    for (let i = 0; i < options.latencySamples; i++) {
      const result = await runs.enqueue({
        tenantId: 'default',
        kind: 'noop',
        trigger: 'api',
        input: { sentAt: now() },
      })
      if (result.status === 'dropped') throw new Error('dropped')
      const id = result.run.id
      while (!starts.has(id)) await new Promise((resolve) => setImmediate(resolve))
      samples.push(starts.get(id)!)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    return samples.sort((a, b) => a - b)
  }
  // Same process: the enqueue wakes the worker directly.
  const latencies = await measureLatency(kernel.runs)

  // PostgreSQL: a producer with its own connection pool and bus, as another process would have;
  // only LISTEN/NOTIFY can wake the worker.
  let cross: number[] | null = null
  if (dialect === 'postgres') {
    const producerDatabase = await openDatabase<Tables>({ ...location, poolSize: 2 })
    const producerBus = createPostgresBus({
      pool: producerDatabase.pool!,
      clientConfig: producerDatabase.pgClientConfig!,
      namespace: schema,
      log,
    })
    await producerBus.ready()
    const producer = createRunKernel({
      database: producerDatabase,
      bus: producerBus,
      clock: systemClock,
      log,
      backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
      worker: { concurrency: 1, leaseMs: 30_000, pollIntervalMs: 1000 },
    })
    cross = await measureLatency(producer.runs)
    await producerBus.close()
    await producerDatabase.close()
  }

  await kernel.stop(5000)
  await bus.close()
  await database.close()
  await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  const name =
    dialect === 'sqlite'
      ? `openOrchestrator SQLite (synchronous=${options.synchronous ?? 'NORMAL'})`
      : 'openOrchestrator PostgreSQL'
  return {
    name,
    mode: options.mode,
    jobs: options.jobs,
    enqueuePerSecond: Math.round(options.jobs / enqueueSeconds),
    seconds: Number(seconds.toFixed(3)),
    jobsPerSecond: Math.round(options.jobs / seconds),
    latencyP50Ms: Number(sortedPercentile(latencies, 50).toFixed(2)),
    latencyP99Ms: Number(sortedPercentile(latencies, 99).toFixed(2)),
    crossProcessLatencyP50Ms: cross ? Number(sortedPercentile(cross, 50).toFixed(2)) : null,
    crossProcessLatencyP99Ms: cross ? Number(sortedPercentile(cross, 99).toFixed(2)) : null,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }
}

const result = await main()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
