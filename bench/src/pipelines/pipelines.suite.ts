// `npm run bench -- pipelines` (issue 15): chains of 5 bots run as a pipeline against the same chain
// done by hand through the API (start bot 1, wait, start bot 2 with its output, …), on SQLite and
// PostgreSQL. The server is the real one (bench-server.ts), its bots call an OpenAI-wire stand-in
// that answers at once (its own process), and the client (chains.ts) is this process. Measured:
// - the overhead of a step: one step's run finished → the next step's run started (runs.finished_at,
//   runs.started_at), p50/p99, on an idle server (chains one after the other) and in a burst;
// - a chain's time end to end on an idle server, as the client sees it;
// - throughput: a burst of N chains at once (default 1,000), chains/s and step runs/s.
// A fresh server and database per measurement.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { sortedPercentile } from '../bench-place.ts'
import { type BenchServer, buildServer, startBenchServer } from './bench-server.ts'
import { type ChainResult, type ChainRunner, chainsByHand, pipelineChains } from './chains.ts'

const stepCount = 5

interface Stats {
  n: number
  p50: number
  p99: number
}

function stats(samples: readonly number[]): Stats | null {
  if (samples.length === 0) return null
  const sorted = [...samples].sort((a, b) => a - b)
  return { n: sorted.length, p50: sortedPercentile(sorted, 50), p99: sortedPercentile(sorted, 99) }
}

interface Row {
  database: 'SQLite' | 'PostgreSQL'
  mode: 'pipeline' | 'by hand'
  idle: { stepGap: Stats | null; start: Stats | null; end: Stats | null; chain: Stats | null }
  burst: {
    chains: number
    seconds: number
    chainsPerSecond: number
    stepRunsPerSecond: number
    stepGap: Stats | null
    failed: number
  }
}

interface TimedRun {
  id: string
  parent_run_id: string | null
  idempotency_key: string | null
  created_at: number
  started_at: number | null
  finished_at: number | null
}

/** The step runs of each chain, in order, with their times (from the server's database). */
async function stepRunsOf(
  server: BenchServer,
  mode: Row['mode'],
  results: readonly ChainResult[],
): Promise<{ chains: TimedRun[][]; parents: Map<string, TimedRun> }> {
  const rows = (
    await server.query<TimedRun>(
      'SELECT id, parent_run_id, idempotency_key, created_at, started_at, finished_at FROM runs',
    )
  ).map((row) => ({
    ...row,
    created_at: Number(row.created_at),
    started_at: row.started_at === null ? null : Number(row.started_at),
    finished_at: row.finished_at === null ? null : Number(row.finished_at),
  }))
  const byId = new Map(rows.map((row) => [row.id, row]))
  if (mode === 'by hand')
    return { chains: results.map((r) => r.runIds.map((id) => byId.get(id)!)), parents: new Map() }
  const children = new Map<string, TimedRun[]>()
  for (const row of rows)
    if (row.parent_run_id) children.set(row.parent_run_id, [...(children.get(row.parent_run_id) ?? []), row])
  // Step keys are s1…s5; the key `pipeline:<run>:<step>:<attempt>` orders them.
  const stepOf = (row: TimedRun) => Number(row.idempotency_key?.split(':')[2]?.slice(1))
  return {
    chains: results.map((r) => (children.get(r.runIds[0]!) ?? []).sort((a, b) => stepOf(a) - stepOf(b))),
    parents: new Map(results.map((r) => [r.runIds[0]!, byId.get(r.runIds[0]!)!])),
  }
}

/** Step end → next step's start, for every pair of consecutive steps. */
function stepGaps(chains: TimedRun[][]): number[] {
  const gaps: number[] = []
  for (const steps of chains)
    for (let i = 1; i < steps.length; i++) {
      const before = steps[i - 1]!.finished_at
      const after = steps[i]!.started_at
      if (before !== null && after !== null) gaps.push(after - before)
    }
  return gaps
}

/** Starts `count` chains at once (the client's connection pool paces its requests). */
function burst(runner: ChainRunner, count: number, offset: number): Promise<ChainResult[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => runner.run(offset + i)))
}

async function measure(
  dialect: 'sqlite' | 'postgres',
  mode: Row['mode'],
  options: {
    databaseUrl: string
    chains: number
    idle: number
    concurrency: number
    baseUrl: string
    apiKey: string
  },
): Promise<Row> {
  const server = await startBenchServer(dialect, {
    databaseUrl: options.databaseUrl,
    concurrency: options.concurrency,
  })
  try {
    await server.api('PUT', '/providers/openai', {
      apiKey: options.apiKey,
      baseUrl: options.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    const botIds: string[] = []
    for (let i = 1; i <= stepCount; i++) {
      const bot = await server.api('POST', '/bots', {
        name: `Step ${i}`,
        prompt: `Check the offers of step ${i}.`,
        provider: 'openai',
        maxRetries: 0,
        // Many chains use each bot at once.
        overlapPolicy: 'allow_all',
      })
      botIds.push(bot.id)
    }
    const pipeline = await server.api('POST', '/pipelines', {
      name: 'Five steps',
      overlapPolicy: 'allow_all',
      steps: botIds.map((bot, i) => ({ key: `s${i + 1}`, bot })),
    })
    const runner =
      mode === 'pipeline' ? await pipelineChains(server, pipeline.id) : await chainsByHand(server, botIds)
    try {
      // Warm-up: the first chain pays for connections and compiled code.
      await runner.run(-1)
      const idle: ChainResult[] = []
      for (let i = 0; i < options.idle; i++) idle.push(await runner.run(i))
      const burstStart = Date.now()
      const loaded = await burst(runner, options.chains, options.idle)
      const burstEnd = Math.max(...loaded.map((r) => r.endedAt))
      const seconds = (burstEnd - burstStart) / 1000

      const idleRuns = await stepRunsOf(server, mode, idle)
      const loadedRuns = await stepRunsOf(server, mode, loaded)
      const firsts = idleRuns.chains.map((steps) => steps[0]!)
      const lasts = idleRuns.chains.map((steps) => steps.at(-1)!)
      return {
        database: dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL',
        mode,
        idle: {
          stepGap: stats(stepGaps(idleRuns.chains)),
          // pipeline: its run created → step 1 started; by hand: step 1's run created → started.
          start: stats(
            idle.map((r, i) =>
              mode === 'pipeline'
                ? firsts[i]!.started_at! - idleRuns.parents.get(r.runIds[0]!)!.created_at
                : firsts[i]!.started_at! - firsts[i]!.created_at,
            ),
          ),
          // The last step finished → the client learns the chain ended (the pipeline run's event, or
          // the last step's).
          end: stats(idle.map((r, i) => r.endedAt - lasts[i]!.finished_at!)),
          chain: stats(idle.map((r) => r.endedAt - r.startedAt)),
        },
        burst: {
          chains: options.chains,
          seconds,
          chainsPerSecond: options.chains / seconds,
          stepRunsPerSecond: (options.chains * stepCount) / seconds,
          stepGap: stats(stepGaps(loadedRuns.chains)),
          failed: loaded.filter((r) => r.status !== 'completed').length,
        },
      }
    } finally {
      runner.close()
    }
  } finally {
    await server.close()
  }
}

export async function runPipelinesSuite(options: {
  databaseUrl: string
  /** Chains in the burst (default 1,000). */
  chains: number
  /** Chains one after the other on the idle server (default 30: 120 step gaps). */
  idle: number
  concurrency: number
  /** sqlite, postgres (databases); pipeline, hand (modes). */
  only: string[] | null
}): Promise<void> {
  const here = import.meta.dirname
  await buildServer()
  const apiKey = 'sk-bench-pipelines-0123456789'
  const standIn = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'stand-in.child.ts'), apiKey], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const baseUrl = await new Promise<string>((resolve) =>
    standIn.stdout.once('data', (chunk) => resolve(String(chunk).trim())),
  )
  const picked = <T extends string>(values: T[]) => {
    const listed = values.filter((value) => options.only?.includes(value))
    return listed.length > 0 ? listed : values
  }
  const rows: Row[] = []
  try {
    for (const dialect of picked(['sqlite', 'postgres'] as const))
      for (const mode of picked(['pipeline', 'hand'] as const)) {
        process.stderr.write(
          `… ${dialect}, ${mode === 'hand' ? 'by hand' : 'pipeline'}: ${options.idle} chains idle, then ${options.chains} at once\n`,
        )
        rows.push(
          await measure(dialect, mode === 'hand' ? 'by hand' : 'pipeline', { ...options, baseUrl, apiKey }),
        )
      }
  } finally {
    standIn.stdin.end()
  }

  const ms = (s: Stats | null) => (s === null ? '–' : `${s.p50} / ${s.p99}`)
  const lines = [
    `Workload: chains of ${stepCount} bot runs (each step's output the next step's input), the server as \`npm start\` runs it with OPENORCH_CONCURRENCY=${options.concurrency}, the bots' provider an OpenAI-wire stand-in answering at once. Idle: ${options.idle} chains one after the other (after one warm-up chain); burst: ${options.chains} chains started at once (the client: at most 16 requests in flight). Step gap: a step's run finished_at → the next step's run started_at (ms, p50 / p99). Start: the chain's first run created (pipeline: the pipeline run) → step 1 started. End: the last step finished → the client has the chain's end from the live feed.`,
    '',
    '| database | chain run as | idle: step gap ms | idle: start ms | idle: end ms | idle: chain ms | burst: chains | burst: s | chains/s | step runs/s | burst: step gap ms | failed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.database} | ${r.mode} | ${ms(r.idle.stepGap)} | ${ms(r.idle.start)} | ${ms(r.idle.end)} | ${ms(r.idle.chain)} | ${r.burst.chains} | ${r.burst.seconds.toFixed(1)} | ${r.burst.chainsPerSecond.toFixed(1)} | ${r.burst.stepRunsPerSecond.toFixed(0)} | ${ms(r.burst.stepGap)} | ${r.burst.failed} |`,
    ),
    '',
  ]
  for (const database of ['SQLite', 'PostgreSQL'] as const) {
    const pipeline = rows.find((r) => r.database === database && r.mode === 'pipeline')
    const hand = rows.find((r) => r.database === database && r.mode === 'by hand')
    if (pipeline && hand && pipeline.idle.stepGap && hand.idle.stepGap)
      lines.push(
        `- ${database}: idle step gap p50 pipeline ÷ by hand: ${(pipeline.idle.stepGap.p50 / hand.idle.stepGap.p50).toFixed(2)}×; burst throughput pipeline ÷ by hand: ${(pipeline.burst.chainsPerSecond / hand.burst.chainsPerSecond).toFixed(2)}×.`,
      )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}
