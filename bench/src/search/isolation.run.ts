// Can one workspace slow or probe another's search? (issue 11, decision 0012). One process per engine:
// a "victim" workspace with report-like runs, 20 of them (old ones) containing the word "quasar",
// none "zircon"; then a "noisy" workspace adds runs, newer than the victim's, that all contain
// "quasar" and "zircon" and one of many made-up words starting "qua" (a vocabulary flood). After each
// step the victim's searches are timed through the real `listRuns` (first page of 50), and their
// results checked: the victim must see exactly its own runs whatever the noisy workspace holds.
// - `quasar`: a word both have — does the victim's search get slower as the noisy one adds matches?
// - `zircon`: a word only the noisy workspace has — does the time (or anything else) tell the victim
//   how many runs of another workspace contain it?
// - `qua`: a word being typed — does another workspace's vocabulary change the victim's plan?
// - `xylophone`: a word no run has — the control: what the growth of the index alone costs.
// With `victimLast`, the victim's runs are written again after each step's noisy ones (the same
// texts): then they are the newest and lie physically after the other workspace's rows, which is what
// a plan reading the table in physical order meets first.
// Usage: node bench/dist/search-isolation.run.js <sqlite|postgres> <json options>

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import type { Tables } from '../../../apps/server/src/database.ts'
import { migrations } from '../../../apps/server/src/migrations/index.ts'
import { openDatabase } from '../../../apps/server/src/platform/db/database.ts'
import { migrateToLatest } from '../../../apps/server/src/platform/db/migrator.ts'
import { newId } from '../../../apps/server/src/platform/ids.ts'
import { listRuns } from '../../../apps/server/src/runs/run.store.ts'
import type { RunRow } from '../../../apps/server/src/runs/run.table.ts'
import { removeBenchPlace, sortedPercentile } from '../bench-place.ts'

export interface IsolationOptions {
  victimRuns: number
  /** Cumulative sizes of the noisy workspace's matching runs, e.g. [0, 1, 10, 100, 1000, 10000, 50000]. */
  steps: number[]
  samples: number
  /** Re-write the victim's runs after each step, so they are the newest and physically last. */
  victimLast: boolean
  databaseUrl: string
}

export interface IsolationSearch {
  q: string
  /** Runs of the victim on the first page (must not change with the noisy workspace). */
  hits: number
  p50Ms: number
  p99Ms: number
}

export interface IsolationStep {
  noisyRuns: number
  searches: IsolationSearch[]
}

export interface IsolationResult {
  dialect: string
  victimRuns: number
  victimLast: boolean
  steps: IsolationStep[]
}

const dialect = process.argv[2] as 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as IsolationOptions

let seed = 7
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
const words =
  'the a of and to in for on with new price offer report week today market shares stock rose fell percent company customer order invoice shipping delivery update summary details found changes results analysis quarter growth der die das und neue Preis Angebot Bericht Woche heute Markt Rechnung Versand Lieferung Zusammenfassung Übersicht Qualität'.split(
    ' ',
  )
function report(extra: string[]): string {
  const out: string[] = []
  const n = 30 + Math.floor(random() * 60)
  for (let i = 0; i < n; i++) out.push(pick(words))
  for (const word of extra) out.splice(Math.floor(random() * out.length), 0, word)
  return JSON.stringify({ text: out.join(' ') })
}
const madeUp = () => `qua${randomBytes(4).toString('hex')}`

const round = (ms: number) => Math.round(ms * 100) / 100

async function main(): Promise<IsolationResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-'))
  const schema = `bench_isolation_${randomBytes(4).toString('hex')}`
  const location =
    dialect === 'sqlite' ? { sqlitePath: path.join(dir, 'bench.db') } : { url: options.databaseUrl, schema }
  const database = await openDatabase<Tables>({ ...location, poolSize: 2 })
  await migrateToLatest(database.db, dialect, migrations)
  for (const tenant of ['victim', 'noisy'])
    await sql`INSERT INTO tenants (tenant_id, name, created_at) VALUES (${tenant}, ${tenant}, ${Date.now()})`.execute(
      database.db,
    )

  let clock = Date.now() - 10 * 365 * 86_400_000
  async function insert(tenant: string, n: number, extra: (i: number) => string[]) {
    for (let i = 0; i < n; i += 1000) {
      const rows = Array.from({ length: Math.min(1000, n - i) }, (_, j) => {
        clock += 1000
        return {
          id: newId(),
          tenant_id: tenant,
          kind: 'bot',
          subject_id: `bot-${tenant}`,
          status: 'completed',
          trigger: 'schedule',
          output: report(extra(i + j)),
          run_at: clock,
          created_at: clock,
          finished_at: clock + 500,
          updated_at: clock + 500,
        }
      })
      await database.db
        .insertInto('runs')
        .values(rows as unknown as RunRow[])
        .execute()
    }
  }
  // The victim's 20 "quasar" runs are among its oldest, so a walk newest first meets the noisy ones first.
  const insertVictim = async () => {
    seed = 7
    await insert('victim', options.victimRuns, (i) => (i % 50 === 0 && i < 1000 ? ['quasar'] : []))
  }
  await insertVictim()

  // `xylophone` is in no run: the control — what a search costs as the index grows, whatever it holds.
  const queries = ['quasar', 'zircon', 'xylophone', 'qua']
  const expected = new Map<string, string[]>()
  const steps: IsolationStep[] = []
  let noisy = 0
  for (const target of options.steps) {
    await insert('noisy', target - noisy, () => ['quasar', 'zircon', madeUp()])
    noisy = target
    if (options.victimLast) {
      await database.db.deleteFrom('runs').where('tenant_id', '=', 'victim').execute()
      await insertVictim()
    }
    // What autovacuum would have done by the time anyone searches.
    await sql`ANALYZE`.execute(database.db)
    const searches: IsolationSearch[] = []
    for (const q of queries) {
      const times: number[] = []
      // The outputs found (the same texts whenever the victim's runs were written).
      let ids: string[] = []
      for (let i = 0; i < options.samples; i++) {
        const t = performance.now()
        ids = (await listRuns(database, 'victim', { q, limit: 50 })).map((run) => run.output ?? '')
        times.push(performance.now() - t)
      }
      const first = expected.get(q)
      if (first === undefined) expected.set(q, ids)
      else if (JSON.stringify(first) !== JSON.stringify(ids))
        throw new Error(`the victim's results for "${q}" changed with ${noisy} noisy runs`)
      times.sort((a, b) => a - b)
      searches.push({
        q,
        hits: ids.length,
        p50Ms: round(sortedPercentile(times, 50)),
        p99Ms: round(sortedPercentile(times, 99)),
      })
    }
    steps.push({ noisyRuns: noisy, searches })
    process.stderr.write(`  ${dialect} ${JSON.stringify(steps[steps.length - 1])}\n`)
  }

  await database.close()
  await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  return {
    dialect: dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL',
    victimRuns: options.victimRuns,
    victimLast: options.victimLast,
    steps,
  }
}

process.stdout.write(`${JSON.stringify(await main())}\n`)
