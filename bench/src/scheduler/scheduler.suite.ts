// `npm run bench -- scheduler`: how late a schedule's run starts after its time, with N enabled
// schedules, for openOrchestrator (SQLite, PostgreSQL) and the cron of graphile-worker and pg-boss on
// the same PostgreSQL. One process per measurement; prints a Markdown table with ratios.
import path from 'node:path'
import { bundle, runChild } from '../child.ts'
import type { CronPeerResult } from '../peers/cron.types.ts'
import type { Lateness } from './lateness.ts'
import type { SchedulerResult } from './scheduler.run.ts'

export interface SchedulerSuiteOptions {
  databaseUrl: string
  schedules: number[]
  seconds: number
  concurrency: number
  skipPeers: boolean
  /** Only these systems: sqlite, postgres, graphile-worker, pg-boss. */
  only: string[] | null
}

/** The targets: p99 lateness below 50 ms at 1,000 schedules, below 1 s at 100,000. */
function targetMs(schedules: number): number {
  return schedules <= 1000 ? 50 : 1000
}

interface Row extends Lateness {
  system: string
  schedules: number
  peakRssMb: number | null
  notes: string
}

export async function runSchedulerSuite(options: SchedulerSuiteOptions): Promise<void> {
  const here = import.meta.dirname
  await bundle({
    'scheduler.run': path.join(here, 'scheduler.run.ts'),
    'cron.child': path.join(here, '..', 'peers', 'cron.child.ts'),
  })
  const wanted = (system: string) => options.only === null || options.only.includes(system)
  const rows: Row[] = []
  const skippedPeers: string[] = []
  for (const schedules of options.schedules) {
    for (const dialect of ['sqlite', 'postgres'] as const) {
      if (!wanted(dialect)) continue
      process.stderr.write(`… openOrchestrator ${dialect}, ${schedules} schedules\n`)
      try {
        const [line] = await runChild('scheduler.run.js', [
          dialect,
          JSON.stringify({
            schedules,
            seconds: options.seconds,
            concurrency: options.concurrency,
            databaseUrl: options.databaseUrl,
          }),
        ])
        const r = JSON.parse(line!) as SchedulerResult
        process.stderr.write(`${line}\n`)
        rows.push({ ...r, notes: `${r.notes}; ${schedules} rows inserted in ${r.insertSeconds} s` })
      } catch (error) {
        skippedPeers.push(
          `openOrchestrator ${dialect}, ${schedules} schedules: failed (${(error as Error).message})`,
        )
      }
    }
    if (options.skipPeers) continue
    for (const peer of ['graphile-worker', 'pg-boss'] as const) {
      if (!wanted(peer)) continue
      process.stderr.write(`… ${peer} cron, ${schedules} schedules\n`)
      try {
        const [line] = await runChild('cron.child.js', [
          peer,
          JSON.stringify({
            schedules,
            seconds: options.seconds,
            concurrency: options.concurrency,
            databaseUrl: options.databaseUrl,
          }),
        ])
        process.stderr.write(`${line}\n`)
        const r = JSON.parse(line!) as CronPeerResult
        if (r.notRun) skippedPeers.push(`${r.system}, ${schedules} schedules: ${r.notRun}`)
        else rows.push(r)
      } catch (error) {
        skippedPeers.push(`${peer}, ${schedules} schedules: failed (${(error as Error).message})`)
      }
    }
  }
  process.stdout.write(`${formatTable(rows, options, skippedPeers)}\n`)
}

function formatTable(rows: Row[], options: SchedulerSuiteOptions, skippedPeers: string[]): string {
  const ms = (value: number | null) =>
    value === null ? '–' : value < 100 ? value.toFixed(1) : value.toFixed(0)
  const met = (r: Row) =>
    r.system.startsWith('openOrchestrator')
      ? r.p99Ms !== null && r.p99Ms < targetMs(r.schedules) && r.missed === 0
        ? 'yes'
        : '**no**'
      : '–'
  const lines = [
    `Window: ${options.seconds} s of slots; kernel/worker concurrency ${options.concurrency}. Lateness = run (job) start − the slot's time.`,
    '',
    '| system | schedules | slots in window | started | skipped | missed | p50 ms | p95 ms | p99 ms | max ms | peak RSS MB | target met (p99) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.system} | ${r.schedules} | ${r.expected} | ${r.started} | ${r.skipped} | ${r.missed} | ${ms(r.p50Ms)} | ${ms(r.p95Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} | ${r.peakRssMb ?? '–'} | ${met(r)} |`,
    ),
    '',
  ]
  const ratios: string[] = []
  for (const schedules of options.schedules) {
    const pg = rows.find((r) => r.schedules === schedules && r.system === 'openOrchestrator PostgreSQL')
    for (const peer of rows.filter(
      (r) => r.schedules === schedules && !r.system.startsWith('openOrchestrator'),
    )) {
      if (!pg?.p99Ms || !peer.p99Ms) continue
      ratios.push(
        `- ${schedules} schedules, ${peer.system}: p99 ${ms(pg.p99Ms)} ms vs ${ms(peer.p99Ms)} ms = ${(pg.p99Ms / peer.p99Ms).toFixed(2)}× (p50 ${(pg.p50Ms! / peer.p50Ms!).toFixed(2)}×)`,
      )
    }
  }
  if (ratios.length > 0)
    lines.push(
      'Ratios (openOrchestrator PostgreSQL lateness ÷ peer lateness; below 1 is better):',
      '',
      ...ratios,
      '',
    )
  if (skippedPeers.length > 0) lines.push('Not run or failed:', '', ...skippedPeers.map((s) => `- ${s}`), '')
  for (const r of rows) lines.push(`- ${r.system}, ${r.schedules}: ${r.notes}`)
  return lines.join('\n')
}
