// `npm run bench -- migration-lock`: how long the search migrations (0007, 0015) hold back a writer
// of runs on PostgreSQL, as shipped before decision 0041 (every row in the migrations' transaction)
// and now (batches that commit). N completed runs with report-sized outputs are stored at 0006, then
// a second session inserts a run and rewrites an old run's output in a loop while 0007 and 0015 run;
// each of its statements is timed. Prints a Markdown table.
import { randomBytes } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import pg from 'pg'
import type { Tables } from '../../../apps/server/src/database.ts'
import { migrations } from '../../../apps/server/src/migrations/index.ts'
import { openDatabase } from '../../../apps/server/src/platform/db/database.ts'
import { type MigrationFactory, migrateToLatest } from '../../../apps/server/src/platform/db/migrator.ts'
import { sortedPercentile } from '../bench-place.ts'

export interface MigrationLockOptions {
  databaseUrl: string
  runs: number
}

interface Measured {
  way: string
  migrationSeconds: number
  writes: number
  longestWaitMs: number
  p99WaitMs: number
}

const names = Object.keys(migrations)
const upTo = (last: string) =>
  Object.fromEntries(Object.entries(migrations).slice(0, names.indexOf(last) + 1))

// The statements 0007 and 0015 ran before decision 0041, after the same functions and triggers: the
// rewrite in the migrations' transaction (kept here to measure against; the migrations no longer do it).
// biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
type Up = (db: Kysely<any>) => Promise<void>
function inOneTransaction(all: Record<string, MigrationFactory>): Record<string, MigrationFactory> {
  const old: Record<string, Up> = {
    '0007-run-search': async (db) => {
      await sql`DROP TABLE migration_0007_backfill`.execute(db)
      await sql`INSERT INTO run_search (run_id, tenant_id, vector)
  SELECT id, tenant_id, run_search_vector(output) FROM runs WHERE output IS NOT NULL`.execute(db)
      await sql`CREATE INDEX run_search_vector_idx ON run_search USING gin (vector)`.execute(db)
      await sql`ANALYZE run_search`.execute(db)
    },
    '0015-run-search-by-workspace': async (db) => {
      await sql`DROP TABLE migration_0015_backfill`.execute(db)
      await sql`UPDATE run_search SET vector = run_search_tagged(run_search_tag(tenant_id), vector)`.execute(
        db,
      )
      await sql`CREATE INDEX run_search_vector_idx ON run_search USING gin (vector)`.execute(db)
      await sql`CREATE INDEX run_search_tenant_idx ON run_search (tenant_id, run_id)`.execute(db)
      await sql`ANALYZE run_search`.execute(db)
    },
  }
  return Object.fromEntries(
    Object.entries(all).map(([name, factory]) => [
      name,
      (dialect) => {
        const { backfill: _dropped, ...migration } = factory(dialect)
        const rest = old[name]
        if (!rest) return migration
        return {
          ...migration,
          async up(db) {
            await migration.up(db)
            await rest(db)
          },
        }
      },
    ]),
  )
}

// Report-sized outputs (3–12 sentences of 6–17 words, English and German), deterministic.
let seed = 41
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const words =
  'the report of price offer market shares rose fell customer order invoice shipping summary details Bericht Woche heute Markt Aktien Rechnung Versand Lieferung Zusammenfassung Übersicht Größe Straße Qualität Prüfung'.split(
    ' ',
  )
function output(): string {
  const lines: string[] = []
  for (let s = 3 + Math.floor(random() * 10); s > 0; s--) {
    const n = 6 + Math.floor(random() * 12)
    lines.push(Array.from({ length: n }, () => words[Math.floor(random() * words.length)]).join(' '))
  }
  return JSON.stringify({ text: lines.join('.\n') })
}

async function measure(options: MigrationLockOptions, way: 'old' | 'new'): Promise<Measured> {
  const schema = `bench_mlock_${randomBytes(4).toString('hex')}`
  const database = await openDatabase<Tables>({ url: options.databaseUrl, schema, poolSize: 2 })
  const writer = new pg.Client({ connectionString: options.databaseUrl, options: `-c search_path=${schema}` })
  try {
    await migrateToLatest(database.db, 'postgres', upTo('0006-audit-anchor'))
    seed = 41
    const now = Date.now() - options.runs * 1000
    for (let i = 0; i < options.runs; i += 1000) {
      const rows = Array.from({ length: Math.min(1000, options.runs - i) }, (_, j) => ({
        id: `old-${String(i + j).padStart(7, '0')}`,
        tenant_id: 'default',
        kind: 'bot',
        status: 'completed',
        trigger: 'schedule',
        output: output(),
        run_at: now + i + j,
        created_at: now + i + j,
        updated_at: now + i + j,
      }))
      await database.db
        .insertInto('runs')
        .values(rows as never)
        .execute()
    }
    await writer.connect()
    const waits: number[] = []
    let migrating = true
    const timed = async (text: string, values: unknown[]) => {
      const started = performance.now()
      await writer.query(text, values)
      waits.push(performance.now() - started)
    }
    const writing = (async () => {
      for (let n = 1; migrating; n++) {
        await timed(
          `INSERT INTO runs (id, tenant_id, kind, status, trigger, output, run_at, created_at, updated_at)
           VALUES ($1, 'default', 'bot', 'completed', 'api', $2, $3, $3, $3)`,
          [`new-${n}`, output(), Date.now()],
        )
        await timed('UPDATE runs SET output = $1, updated_at = $2 WHERE id = $3', [
          output(),
          Date.now(),
          `old-${String((n * 7919) % options.runs).padStart(7, '0')}`,
        ])
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    const started = performance.now()
    try {
      const wanted = upTo('0015-run-search-by-workspace')
      await migrateToLatest(database.db, 'postgres', way === 'old' ? inOneTransaction(wanted) : wanted)
    } finally {
      migrating = false
      await writing
    }
    const migrationSeconds = (performance.now() - started) / 1000
    waits.sort((a, b) => a - b)
    return {
      way,
      migrationSeconds: Math.round(migrationSeconds * 10) / 10,
      writes: waits.length,
      longestWaitMs: Math.round(waits[waits.length - 1] ?? 0),
      p99WaitMs: Math.round(sortedPercentile(waits, 99)),
    }
  } finally {
    await writer.end().catch(() => undefined)
    await database.close()
    const admin = new pg.Client({ connectionString: options.databaseUrl })
    await admin.connect()
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  }
}

export async function runMigrationLockBench(options: MigrationLockOptions): Promise<void> {
  const results: Measured[] = []
  for (const way of ['old', 'new'] as const) {
    process.stderr.write(`… migrations 0007 and 0015, ${way}, ${options.runs} runs\n`)
    results.push(await measure(options, way))
    process.stderr.write(`  ${JSON.stringify(results[results.length - 1])}\n`)
  }
  const lines = [
    `Workload: ${options.runs} completed runs with report-sized outputs stored at 0006, then 0007 and 0015 (PostgreSQL) while another session inserts a run and rewrites an old run's output every ~20 ms.`,
    '',
    "| migrations | total s | writer's statements | writer's longest wait ms | p99 ms |",
    '|---|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.way === 'old' ? 'one transaction (before 0041)' : 'batched backfill (0041)'} | ${r.migrationSeconds} | ${r.writes} | ${r.longestWaitMs} | ${r.p99WaitMs} |`,
    ),
    '',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}
