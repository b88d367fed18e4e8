// `npm run bench -- engine`: openOrchestrator's run engine against graphile-worker and pg-boss on the
// same PostgreSQL and the same workload, in one run. `production`: bot runs through the real executor
// with their concurrency keys, against graphile-worker with a queue per bot (bench/src/engine). `npm run bench -- scheduler`: how late schedules
// fire (bench/src/scheduler). `npm run bench -- search`: full-text search of run outputs against the
// old substring scan (bench/src/search); `search-isolation`: whether one workspace can slow or probe
// another's search. `npm run bench -- dashboard`: the dashboard in Chromium with
// 1,000 bots and a bot with 100,000 runs (bench/src/dashboard). `scrubber`: the secret scrubber's
// cost per answer and log line as secrets pile up, old against new (bench/src/scrubber). `tools`: the
// tool loop's cost per call, run_code, http_fetch, the browser and its memory (bench/src/tools). `notify`:
// completed bot runs notifying a webhook receiver and an SMTP server — deliveries/s, completion →
// delivery latency, bot runs/s without and with the channels (bench/src/notify). `pipelines`: 5-step
// chains of bots as pipelines against the same chain by hand through the API — step overhead, chains/s
// (bench/src/pipelines). `migration-lock`: how long migrations 0007 and 0015 hold back a writer of runs
// on PostgreSQL, in one transaction as before decision 0041 and batched (bench/src/search). Each measurement runs in its own
// process. Prints a Markdown table with ratios (paste it into docs/benchmarks.md).
import path from 'node:path'
import { parseArgs } from 'node:util'
import { bundle, runChild, serverNodeFlags } from './child.ts'
import { runDashboardBench } from './dashboard/dashboard.bench.ts'
import type { EngineResult } from './engine/engine.run.ts'
import { runProductionSuite } from './engine/production.suite.ts'
import { runNotifySuite } from './notify/notify.suite.ts'
import { runPipelinesSuite } from './pipelines/pipelines.suite.ts'
import { runSchedulerSuite } from './scheduler/scheduler.suite.ts'
import { runScrubberSuite } from './scrubber/scrubber.suite.ts'
import { runSearchIsolationSuite } from './search/isolation.suite.ts'
import { runMigrationLockBench } from './search/migration-lock.run.ts'
import { runSearchSuite } from './search/search.suite.ts'
import { runToolsSuite } from './tools/tools.suite.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    jobs: { type: 'string', default: '20000' },
    'batch-size': { type: 'string', default: '1000' },
    concurrency: { type: 'string' },
    'latency-samples': { type: 'string', default: '200' },
    'skip-peers': { type: 'boolean', default: false },
    // engine: measure everything this many times, alternating, and report medians (a noisy machine)
    rounds: { type: 'string', default: '1' },
    // openOrchestrator on plain Node, without the V8 flags `npm start` sets (decision 0013)
    'plain-node': { type: 'boolean', default: false },
    // engine: `noop` (the bare kernel), `production` (bot runs as production runs them), or `both`
    workload: { type: 'string', default: 'noop' },
    // scheduler
    schedules: { type: 'string', default: '1000,100000' },
    seconds: { type: 'string', default: '90' },
    only: { type: 'string' },
    // search (and dashboard: runs of its busy bot)
    runs: { type: 'string', default: '100000' },
    samples: { type: 'string', default: '30' },
    // dashboard
    bots: { type: 'string', default: '1000' },
    'run-pages': { type: 'string', default: '20' },
    // search-isolation: the victim workspace's runs, and the other workspace's sizes, step by step
    'victim-runs': { type: 'string', default: '20000' },
    steps: { type: 'string', default: '0,1,10,100,1000,10000,50000' },
    'victim-last': { type: 'boolean', default: false },
    // notify: bot runs of the measurement with the worker as shipped (it delivers ~1/s per channel)
    'poll-runs': { type: 'string', default: '50' },
    // scrubber: how many secrets are registered, step by step
    secrets: { type: 'string' },
  },
})
const suite = positionals[0] ?? 'engine'
const suites = [
  'engine',
  'production',
  'scheduler',
  'search',
  'search-isolation',
  'dashboard',
  'scrubber',
  'tools',
  'notify',
  'pipelines',
  'migration-lock',
]
if (!suites.includes(suite)) {
  process.stderr.write(`Unknown benchmark "${suite}". Available: ${suites.join(', ')}\n`)
  process.exit(1)
}
if (suite === 'scrubber') {
  runScrubberSuite({ counts: (values.secrets ?? '0,6,100,500,5000').split(',').map(Number) })
  process.exit(0)
}
if (suite === 'dashboard') {
  await runDashboardBench({
    bots: Number(values.bots),
    runs: Number(values.runs),
    runPages: Number(values['run-pages']),
  })
  process.exit(0)
}

const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
if (suite === 'tools') {
  await runToolsSuite({
    databaseUrl,
    samples: Number(values.samples === '30' ? '200' : values.samples),
    runs: Number(values.runs === '100000' ? '40' : values.runs),
    only: values.only?.split(',') ?? null,
  })
  process.exit(0)
}
if (suite === 'notify') {
  // 5,000 runs by default (10,000 notifications per database): the issue's 10,000 take ~15 minutes here.
  await runNotifySuite({
    databaseUrl,
    runs: Number(values.runs === '100000' ? '5000' : values.runs),
    bots: Number(values.bots),
    batchSize: Number(values['batch-size']),
    concurrency: Number(values.concurrency ?? '10'),
    idleSamples: Number(values.samples),
    pollRuns: Number(values['poll-runs']),
    only: values.only?.split(',') ?? null,
  })
  process.exit(0)
}
if (suite === 'pipelines') {
  await runPipelinesSuite({
    databaseUrl,
    chains: Number(values.runs === '100000' ? '1000' : values.runs),
    idle: Number(values.samples),
    concurrency: Number(values.concurrency ?? '10'),
    only: values.only?.split(',') ?? null,
  })
  process.exit(0)
}
if (suite === 'search') {
  await runSearchSuite({
    databaseUrl,
    runs: Number(values.runs),
    samples: Number(values.samples),
    only: values.only?.split(',') ?? null,
  })
  process.exit(0)
}
if (suite === 'migration-lock') {
  await runMigrationLockBench({ databaseUrl, runs: Number(values.runs) })
  process.exit(0)
}
if (suite === 'search-isolation') {
  await runSearchIsolationSuite({
    databaseUrl,
    victimRuns: Number(values['victim-runs']),
    steps: values.steps.split(',').map(Number),
    samples: Number(values.samples),
    victimLast: values['victim-last'],
    only: values.only?.split(',') ?? null,
  })
  process.exit(0)
}
if (suite === 'production' || (suite === 'engine' && values.workload !== 'noop')) {
  await runProductionSuite({
    databaseUrl,
    runs: Number(values.runs === '100000' ? '20000' : values.runs),
    bots: Number(values.bots),
    batchSize: Number(values['batch-size']),
    concurrency: Number(values.concurrency ?? '10'),
    skipPeers: values['skip-peers'],
    only: values.only?.split(',') ?? null,
    rounds: Math.max(1, Number(values.rounds)),
  })
  // `engine --workload both`: the no-op workload follows.
  if (suite === 'production' || values.workload === 'production') process.exit(0)
}
if (suite === 'scheduler') {
  await runSchedulerSuite({
    databaseUrl,
    schedules: values.schedules.split(',').map(Number),
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency ?? '50'),
    skipPeers: values['skip-peers'],
    only: values.only?.split(',') ?? null,
  })
  process.exit(0)
}
const workload = {
  jobs: Number(values.jobs),
  batchSize: Number(values['batch-size']),
  concurrency: Number(values.concurrency ?? '10'),
  latencySamples: Number(values['latency-samples']),
  databaseUrl,
}
const here = import.meta.dirname
await bundle({
  'engine.run': path.join(here, 'engine', 'engine.run.ts'),
  'peer.child': path.join(here, 'peers', 'peer.child.ts'),
})

interface Row {
  system: string
  mode: string
  jobsPerSecond: number
  enqueuePerSecond: number | null
  p50: number | null
  p99: number | null
  crossP50: number | null
  crossP99: number | null
  rssMb: number | null
}

async function engine(
  dialect: 'sqlite' | 'postgres',
  mode: 'one-by-one' | 'batched',
  synchronous?: 'NORMAL' | 'FULL',
) {
  process.stderr.write(`… openOrchestrator ${dialect}${synchronous ? ` ${synchronous}` : ''} ${mode}\n`)
  const [line] = await runChild(
    'engine.run.js',
    [dialect, JSON.stringify({ ...workload, mode, synchronous, tuneHeap: !values['plain-node'] })],
    values['plain-node'] ? [] : serverNodeFlags,
  )
  const r = JSON.parse(line!) as EngineResult
  return {
    system: r.name,
    mode: r.mode,
    jobsPerSecond: r.jobsPerSecond,
    enqueuePerSecond: r.enqueuePerSecond,
    p50: r.latencyP50Ms,
    p99: r.latencyP99Ms,
    crossP50: r.crossProcessLatencyP50Ms,
    crossP99: r.crossProcessLatencyP99Ms,
    rssMb: r.peakRssMb,
  } satisfies Row
}

async function peer(name: 'graphile-worker' | 'pg-boss'): Promise<Row[]> {
  process.stderr.write(`… ${name}\n`)
  const lines = await runChild('peer.child.js', [name, JSON.stringify(workload)])
  return lines.map((line) => {
    const r = JSON.parse(line) as {
      name: string
      version: string
      mode: string
      jobs: number
      jobsPerSecond: number
      latencyP50Ms: number | null
      latencyP99Ms: number | null
      peakRssMb: number
      notes: string
    }
    return {
      system: `${r.name} ${r.version}`,
      mode: r.mode,
      jobsPerSecond: Math.round(r.jobsPerSecond),
      enqueuePerSecond: null,
      p50: null,
      p99: null,
      crossP50: r.latencyP50Ms,
      crossP99: r.latencyP99Ms,
      rssMb: r.peakRssMb,
    }
  })
}

// `--only sqlite,postgres,graphile-worker,pg-boss` runs some systems only (ratios need both sides).
const only = values.only?.split(',') ?? null
const wanted = (system: string) => only === null || only.includes(system)
async function measureRound(): Promise<Row[]> {
  const rows: Row[] = []
  if (wanted('sqlite')) {
    rows.push(await engine('sqlite', 'one-by-one'))
    rows.push(await engine('sqlite', 'batched'))
    rows.push(await engine('sqlite', 'one-by-one', 'FULL'))
  }
  if (wanted('postgres')) {
    rows.push(await engine('postgres', 'one-by-one'))
    rows.push(await engine('postgres', 'batched'))
  }
  if (!values['skip-peers']) {
    if (wanted('graphile-worker')) rows.push(...(await peer('graphile-worker')))
    if (wanted('pg-boss')) rows.push(...(await peer('pg-boss')))
  }
  return rows
}

const roundCount = Math.max(1, Number(values.rounds))
const rounds: Row[][] = []
for (let round = 1; round <= roundCount; round++) {
  if (roundCount > 1) process.stderr.write(`round ${round} of ${roundCount}\n`)
  rounds.push(await measureRound())
}

function median(values: Array<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null).sort((a, b) => a - b)
  if (known.length === 0) return null
  const middle = Math.floor(known.length / 2)
  return known.length % 2 === 1 ? known[middle]! : (known[middle - 1]! + known[middle]!) / 2
}

// Each row: the median over the rounds (peak RSS: the highest).
const rows: Row[] = rounds[0]!.map((first, i) => {
  const all = rounds.map((round) => round[i]!)
  return {
    ...first,
    jobsPerSecond: Math.round(median(all.map((r) => r.jobsPerSecond))!),
    enqueuePerSecond: median(all.map((r) => r.enqueuePerSecond)),
    p50: median(all.map((r) => r.p50)),
    p99: median(all.map((r) => r.p99)),
    crossP50: median(all.map((r) => r.crossP50)),
    crossP99: median(all.map((r) => r.crossP99)),
    rssMb: Math.max(...all.map((r) => r.rssMb ?? 0)) || null,
  }
})

const fmt = (value: number | null, digits = 1) => (value === null ? '–' : value.toFixed(digits))
const ours = (rows: Row[], mode: string) =>
  rows.find((r) => r.system.includes('PostgreSQL') && r.mode === mode)
const gw = (rows: Row[], mode: string) =>
  rows.find((r) => r.system.startsWith('graphile-worker') && r.mode === mode)
const boss = (rows: Row[]) => rows.find((r) => r.system.startsWith('pg-boss'))

const lines = [
  `Workload: ${workload.jobs} no-op runs enqueued in batches of ${workload.batchSize}, then drained with concurrency ${workload.concurrency}; latency: ${workload.latencySamples} single runs on an idle system.`,
  '',
  '| system | mode | runs/s (drain) | enqueue/s | latency p50 / p99 ms (same process) | latency p50 / p99 ms (other process, LISTEN/NOTIFY) | peak RSS MB |',
  '|---|---|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.system} | ${r.mode} | ${r.jobsPerSecond} | ${r.enqueuePerSecond ?? '–'} | ${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} | ${fmt(r.crossP50, 2)} / ${fmt(r.crossP99, 2)} | ${r.rssMb ?? '–'} |`,
  ),
  '',
]
// A ratio is taken within each round (both sides measured minutes apart), then the median of the rounds.
function ratio(
  ourSide: (rows: Row[]) => Row | undefined,
  peerSide: (rows: Row[]) => Row | undefined,
): string {
  const each = rounds.map((round) => {
    const a = ourSide(round)
    const b = peerSide(round)
    return a && b ? a.jobsPerSecond / b.jobsPerSecond : null
  })
  const middle = median(each)
  if (middle === null) return 'n/a'
  if (rounds.length === 1) return `${middle.toFixed(2)}×`
  return `${middle.toFixed(2)}× (rounds: ${each.map((r) => (r === null ? 'n/a' : `${r.toFixed(2)}×`)).join(', ')})`
}
if (roundCount > 1) lines.push(`Medians of ${roundCount} rounds (peak RSS: the highest).`, '')
if (!values['skip-peers']) {
  lines.push(
    'Ratios (openOrchestrator PostgreSQL ÷ peer, runs/s):',
    '',
    `- one by one ÷ graphile-worker defaults: ${ratio(
      (r) => ours(r, 'one-by-one'),
      (r) => gw(r, 'defaults'),
    )}`,
    `- batched ÷ graphile-worker batched (local queue): ${ratio(
      (r) => ours(r, 'batched'),
      (r) => gw(r, 'batched'),
    )}`,
    `- one by one ÷ pg-boss: ${ratio((r) => ours(r, 'one-by-one'), boss)}`,
    `- batched ÷ pg-boss: ${ratio((r) => ours(r, 'batched'), boss)}`,
    '',
  )
}
process.stdout.write(`${lines.join('\n')}\n`)
