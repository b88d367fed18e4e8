// `npm run bench -- search`: full-text search (migration 0007) against the substring scan it replaced,
// on SQLite and PostgreSQL, side by side in one run. One process per dialect; prints a Markdown table.
import path from 'node:path'
import { bundle, runChild } from '../child.ts'
import type { SearchResult } from './search.run.ts'

export interface SearchSuiteOptions {
  databaseUrl: string
  runs: number
  samples: number
  only: string[] | null
}

export async function runSearchSuite(options: SearchSuiteOptions): Promise<void> {
  await bundle({ 'search.run': path.join(import.meta.dirname, 'search.run.ts') })
  const results: SearchResult[] = []
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (options.only !== null && !options.only.includes(dialect)) continue
    process.stderr.write(`… search on ${dialect}, ${options.runs} runs\n`)
    const [line] = await runChild('search.run.js', [
      dialect,
      JSON.stringify({ runs: options.runs, samples: options.samples, databaseUrl: options.databaseUrl }),
    ])
    results.push(JSON.parse(line!) as SearchResult)
  }
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))
  const lines = [
    `Workload: ${options.runs} completed runs of one workspace with report-like outputs (English, German, mixed; 3–12 sentences), first page (50) of each search, ${options.samples} samples each, full-text and the old scan alternating.`,
    '',
    ...results.map(
      (r) =>
        `- ${r.dialect}: runs stored in ${r.insertSeconds} s; migration 0007 indexed them in ${r.migrationSeconds} s; size ${r.sizeBeforeMb} → ${r.sizeAfterMb} MB.`,
    ),
    '',
    '| engine | search | what | hits (full-text / old) | full-text p50 / p99 ms | old LIKE scan p50 / p99 ms | p50 speed-up |',
    '|---|---|---|---:|---:|---:|---:|',
    ...results.flatMap((r) =>
      r.queries.map(
        (q) =>
          `| ${r.dialect} | \`${q.q}\` | ${q.what} | ${q.ftsHits} / ${q.likeHits} | ${fmt(q.ftsP50Ms)} / ${fmt(q.ftsP99Ms)} | ${fmt(q.likeP50Ms)} / ${fmt(q.likeP99Ms)} | ${(q.likeP50Ms / q.ftsP50Ms).toFixed(1)}× |`,
      ),
    ),
    '',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}
