// `npm run bench -- search-isolation`: whether one workspace can slow or probe another's full-text
// search (issue 11, decision 0012), on SQLite and PostgreSQL. One process per dialect; prints a table.
import path from 'node:path'
import { bundle, runChild } from '../child.ts'
import type { IsolationResult } from './isolation.run.ts'

export interface IsolationSuiteOptions {
  databaseUrl: string
  victimRuns: number
  steps: number[]
  samples: number
  victimLast: boolean
  only: string[] | null
}

export async function runSearchIsolationSuite(options: IsolationSuiteOptions): Promise<void> {
  await bundle({ 'search-isolation.run': path.join(import.meta.dirname, 'isolation.run.ts') })
  const results: IsolationResult[] = []
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (options.only !== null && !options.only.includes(dialect)) continue
    process.stderr.write(`… search isolation on ${dialect}\n`)
    const [line] = await runChild('search-isolation.run.js', [
      dialect,
      JSON.stringify({
        victimRuns: options.victimRuns,
        steps: options.steps,
        samples: options.samples,
        victimLast: options.victimLast,
        databaseUrl: options.databaseUrl,
      }),
    ])
    results.push(JSON.parse(line!) as IsolationResult)
  }
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))
  const queries = results[0]?.steps[0]?.searches.map((s) => s.q) ?? []
  const lines = [
    `Workload: a victim workspace of ${options.victimRuns} runs (20 old ones contain "quasar", none "zircon"); another workspace adds ${options.victimLast ? "runs, after which the victim's are written again (newest, physically last)," : 'newer runs'} that all contain "quasar", "zircon" and a made-up word starting "qua". The victim's first page (50), ${options.samples} samples per search; its results never changed. p50 / p99 ms:`,
    '',
    `| engine | other workspace's runs | ${queries.map((q) => `\`${q}\` (victim's hits)`).join(' | ')} |`,
    `|---|---:|${queries.map(() => '---:').join('|')}|`,
    ...results.flatMap((r) =>
      r.steps.map(
        (step) =>
          `| ${r.dialect} | ${step.noisyRuns} | ${step.searches.map((s) => `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)} (${s.hits})`).join(' | ')} |`,
      ),
    ),
    '',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}
