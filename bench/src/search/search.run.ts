// One search measurement in its own process: N runs with report-like outputs (English, German, mixed)
// stored before migration 0007, the migration timed (it indexes them: the upgrade path), then a few
// typical searches, each timed as the API runs it (listRuns, first page of 50) and as the old
// `lower(output) LIKE '%…%'` scan did, alternating, on the same database. Prints one JSON line.
// Usage: node bench/dist/search.run.js <sqlite|postgres> <json options>

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

export interface SearchOptions {
  runs: number
  samples: number
  databaseUrl: string
}

export interface SearchQueryResult {
  q: string
  what: string
  /** Hits on the first page (of 50): full-text, then the old scan (substring semantics). */
  ftsHits: number
  likeHits: number
  ftsP50Ms: number
  ftsP99Ms: number
  likeP50Ms: number
  likeP99Ms: number
}

export interface SearchResult {
  dialect: string
  runs: number
  insertSeconds: number
  migrationSeconds: number
  /** Size on disk before and after the index (SQLite: the file; PostgreSQL: runs and run_search with their indexes). */
  sizeBeforeMb: number
  sizeAfterMb: number
  queries: SearchQueryResult[]
}

const dialect = process.argv[2] as 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as SearchOptions

// Deterministic pseudo-random outputs (mulberry32), so every run of the benchmark indexes the same text.
let seed = 42
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!

const english =
  'the a of and to in for on with new price offer report week today market shares stock rose fell percent company customer order invoice shipping delivery update summary details found changes results analysis sources link page product release version feature bug fix security issue team meeting deadline budget cost revenue quarter growth trend forecast weather rain sun temperature wind travel flight hotel booking event conference article news headline research study data model training open source'.split(
    ' ',
  )
const german =
  'der die das und zu im für mit neue Preis Angebot Bericht Woche heute Markt Aktien stieg fiel Prozent Firma Kunde Bestellung Rechnung Versand Lieferung Zusammenfassung Einzelheiten gefunden Änderungen Ergebnisse Übersicht Quellen Seite Produkt Größe Straße Grüße Mitteilung Frist Kosten Umsatz Quartal Wachstum Prognose Wetter Regen Sonne Temperatur Wind Reise Flug Buchung Veranstaltung Nachrichten Schlagzeile Forschung Daten Qualität Prüfung Ausschreibung Behörde Genehmigung'.split(
    ' ',
  )
const products = [
  'Nike Air Max',
  'Adidas Ultraboost',
  'iPhone 16',
  'ThinkPad X1',
  'Bosch GSR 18V',
  'Miele W1',
]

function sentence(words: readonly string[]): string {
  const n = 6 + Math.floor(random() * 12)
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(pick(words))
  if (random() < 0.15) out.splice(Math.floor(random() * out.length), 0, pick(products))
  if (random() < 0.0005) out.push('Zeppelin') // a rare word: about one output in 200
  const text = out.join(' ')
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`
}

/** A bot's report: a heading, 3–12 sentences or bullets, English, German or both. */
function output(): unknown {
  const language = random()
  const words = language < 0.45 ? english : language < 0.85 ? german : [...english, ...german]
  const lines: string[] = [
    random() < 0.5 ? `## ${pick(['Summary', 'Zusammenfassung', 'Report', 'Update'])}` : '',
  ]
  const n = 3 + Math.floor(random() * 10)
  for (let i = 0; i < n; i++) lines.push(random() < 0.3 ? `- ${sentence(words)}` : sentence(words))
  return { text: lines.join('\n') }
}

const queries: Array<{ q: string; what: string }> = [
  { q: 'summary', what: 'common word' },
  { q: 'Rechnung Versand', what: 'two German words' },
  { q: 'nike air', what: 'product, last word typed' },
  { q: 'zusamm', what: 'prefix being typed' },
  { q: 'zeppelin', what: 'rare word' },
  { q: 'ubersicht', what: 'no accent typed (Übersicht)' },
  { q: 'xylophone', what: 'no match' },
]

/** The search before migration 0007, as run.store.ts had it (decision 0008, item 10). */
function likePattern(text: string): string {
  const encoded = JSON.stringify(text.toLowerCase()).slice(1, -1)
  return `%${encoded.replace(/[!%_]/g, (c) => `!${c}`)}%`
}

const round = (ms: number) => Math.round(ms * 100) / 100

async function main(): Promise<SearchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-'))
  const schema = `bench_search_${randomBytes(4).toString('hex')}`
  const sqlitePath = path.join(dir, 'bench.db')
  const location = dialect === 'sqlite' ? { sqlitePath } : { url: options.databaseUrl, schema }
  const database = await openDatabase<Tables>({ ...location, poolSize: 2 })
  const names = Object.keys(migrations)
  const before = Object.fromEntries(Object.entries(migrations).slice(0, names.indexOf('0007-run-search')))
  await migrateToLatest(database.db, dialect, before)

  const started = performance.now()
  const createdAt = Date.now() - options.runs * 60_000
  const batch = 1000
  for (let i = 0; i < options.runs; i += batch) {
    const rows = Array.from({ length: Math.min(batch, options.runs - i) }, (_, j) => ({
      id: newId(),
      tenant_id: 'default',
      kind: 'bot',
      subject_id: `bot-${(i + j) % 50}`,
      status: 'completed',
      trigger: 'schedule',
      output: JSON.stringify(output()),
      run_at: createdAt + (i + j) * 60_000,
      created_at: createdAt + (i + j) * 60_000,
      finished_at: createdAt + (i + j) * 60_000 + 5000,
      updated_at: createdAt + (i + j) * 60_000 + 5000,
    }))
    await database.db
      .insertInto('runs')
      .values(rows as RunRow[])
      .execute()
  }
  const insertSeconds = (performance.now() - started) / 1000
  const size = async () => {
    if (dialect === 'sqlite') {
      database.sqlite!.pragma('wal_checkpoint(TRUNCATE)')
      return fs.statSync(sqlitePath).size / 1048576
    }
    const { rows } = await sql<{ bytes: string }>`
      SELECT (pg_total_relation_size('runs')
        + coalesce(pg_total_relation_size(to_regclass('run_search')), 0))::text AS bytes`.execute(database.db)
    return Number(rows[0]!.bytes) / 1048576
  }
  const sizeBeforeMb = await size()
  const migrationStart = performance.now()
  await migrateToLatest(database.db, dialect, migrations)
  const migrationSeconds = (performance.now() - migrationStart) / 1000
  // What autovacuum would have done by the time anyone searches.
  await sql`ANALYZE`.execute(database.db)
  const sizeAfterMb = await size()

  const results: SearchQueryResult[] = []
  for (const { q, what } of queries) {
    const fts: number[] = []
    const like: number[] = []
    let ftsHits = 0
    let likeHits = 0
    for (let i = 0; i < options.samples; i++) {
      let t = performance.now()
      ftsHits = (await listRuns(database, 'default', { q, limit: 51 })).length
      fts.push(performance.now() - t)
      t = performance.now()
      likeHits = (
        await database.db
          .selectFrom('runs')
          .selectAll()
          .where('tenant_id', '=', 'default')
          .where(sql<boolean>`lower(output) like ${likePattern(q)} escape '!'`)
          .orderBy('id', 'desc')
          .limit(51)
          .execute()
      ).length
      like.push(performance.now() - t)
    }
    fts.sort((a, b) => a - b)
    like.sort((a, b) => a - b)
    results.push({
      q,
      what,
      ftsHits: Math.min(ftsHits, 50),
      likeHits: Math.min(likeHits, 50),
      ftsP50Ms: round(sortedPercentile(fts, 50)),
      ftsP99Ms: round(sortedPercentile(fts, 99)),
      likeP50Ms: round(sortedPercentile(like, 50)),
      likeP99Ms: round(sortedPercentile(like, 99)),
    })
    process.stderr.write(`  ${dialect} ${JSON.stringify(results[results.length - 1])}\n`)
  }

  await database.close()
  await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  return {
    dialect: dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL',
    runs: options.runs,
    insertSeconds: Math.round(insertSeconds * 10) / 10,
    migrationSeconds: Math.round(migrationSeconds * 10) / 10,
    sizeBeforeMb: Math.round(sizeBeforeMb),
    sizeAfterMb: Math.round(sizeAfterMb),
    queries: results,
  }
}

process.stdout.write(`${JSON.stringify(await main())}\n`)
