// `npm run bench -- production`: bot runs as production runs them (issue 12) — the real bot executor,
// provider service and event handler, every run with its bot's concurrency key — on SQLite and
// PostgreSQL, one by one and with the product's defaults, beside graphile-worker with one queue per
// bot doing the same provider call. The stand-in (OpenAI wire, no delay) runs in its own process.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { bundle, runChild, serverNodeFlags } from '../child.ts'
import type { ProductionResult } from './production.run.ts'

interface Row {
  system: string
  mode: string
  runsPerSecond: number
  peakRssMb: number
}

export async function runProductionSuite(options: {
  databaseUrl: string
  runs: number
  bots: number
  batchSize: number
  concurrency: number
  skipPeers: boolean
  only: string[] | null
  /** Measure everything this many times, one system after the other, and report medians (default 1). */
  rounds?: number
}): Promise<void> {
  const here = import.meta.dirname
  await bundle({
    'production.run': path.join(here, 'production.run.ts'),
    'peer-production.child': path.join(here, '..', 'peers', 'graphile-worker.production.ts'),
  })
  const apiKey = 'sk-bench-production-0123456789'
  const standIn = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'stand-in.child.ts'), apiKey], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const baseUrl = await new Promise<string>((resolve) =>
    standIn.stdout.once('data', (chunk) => resolve(String(chunk).trim())),
  )
  const shared = { ...options, baseUrl, apiKey }
  const wanted = (system: string) => options.only === null || options.only.includes(system)
  const rounds: Row[][] = []
  try {
    for (let round = 0; round < Math.max(1, options.rounds ?? 1); round++) {
      if ((options.rounds ?? 1) > 1) process.stderr.write(`round ${round + 1} of ${options.rounds}\n`)
      rounds.push(await measureRound())
    }
  } finally {
    standIn.stdin.end()
  }

  async function measureRound(): Promise<Row[]> {
    const rows: Row[] = []
    for (const dialect of ['sqlite', 'postgres'] as const) {
      if (!wanted(dialect)) continue
      for (const mode of ['one-by-one', 'defaults'] as const) {
        process.stderr.write(`… openOrchestrator ${dialect} production ${mode}\n`)
        const [line] = await runChild(
          'production.run.js',
          [dialect, JSON.stringify({ ...shared, mode })],
          serverNodeFlags,
        )
        const r = JSON.parse(line!) as ProductionResult
        rows.push({ system: r.name, mode: r.mode, runsPerSecond: r.runsPerSecond, peakRssMb: r.peakRssMb })
      }
    }
    if (!options.skipPeers && wanted('graphile-worker')) {
      process.stderr.write('… graphile-worker production\n')
      const [line] = await runChild('peer-production.child.js', [JSON.stringify(shared)])
      const r = JSON.parse(line!) as { name: string; mode: string; runsPerSecond: number; peakRssMb: number }
      rows.push({ system: r.name, mode: r.mode, runsPerSecond: r.runsPerSecond, peakRssMb: r.peakRssMb })
    }
    return rows
  }

  // Each row: the median over the rounds (peak RSS: the highest); a ratio is taken within each round.
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor((values.length - 1) / 2)]!
  const isPeer = (r: Row) => r.system.startsWith('graphile-worker')
  const rows: Row[] = rounds[0]!.map((first, i) => ({
    ...first,
    runsPerSecond: median(rounds.map((round) => round[i]!.runsPerSecond)),
    peakRssMb: Math.max(...rounds.map((round) => round[i]!.peakRssMb)),
  }))
  const ratioOf = (i: number) => {
    const each = rounds.map((round) => {
      const peer = round.find(isPeer)
      return peer ? round[i]!.runsPerSecond / peer.runsPerSecond : null
    })
    const known = each.filter((r): r is number => r !== null)
    if (known.length === 0) return '–'
    const middle = `${median(known).toFixed(2)}×`
    return rounds.length === 1
      ? middle
      : `${middle} (rounds: ${known.map((r) => `${r.toFixed(2)}×`).join(', ')})`
  }
  const peer = rows.find((r) => r.system.startsWith('graphile-worker'))
  const lines = [
    `Workload: ${options.runs} bot runs over ${options.bots} bots (each run with its bot's concurrency key), enqueued in batches of ${options.batchSize}, drained with concurrency ${options.concurrency}; provider: a local OpenAI-wire stand-in without delay.${rounds.length > 1 ? ` Medians of ${rounds.length} rounds.` : ''}`,
    '',
    '| system | mode | runs/s | vs graphile-worker | peak RSS MB |',
    '|---|---|---:|---:|---:|',
    ...rows.map(
      (r, i) =>
        `| ${r.system} | ${r.mode} | ${r.runsPerSecond} | ${peer && r !== peer ? ratioOf(i) : '–'} | ${r.peakRssMb} |`,
    ),
    '',
  ]
  process.stdout.write(lines.join('\n'))
}
