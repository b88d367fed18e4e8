import { sql } from 'kysely'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createTestDatabase,
  dialects,
  migrateTestDatabase,
  postgresUrl,
  type TestDatabase,
} from '../../test/databases.ts'
import type { Db } from '../database.ts'
import { listRuns } from '../runs/run.store.ts'
import { migrations } from './index.ts'

// Migrations 0007 and 0015 index and re-tag every stored output on PostgreSQL. They used to do it in
// the migrations' transaction, holding back every write to runs for as long (73 s per 100,000 runs);
// now their backfills commit batch by batch (decision 0041).

const oldRuns = 20_000
const now = Date.parse('2026-06-01T00:00:00Z')
const names = Object.keys(migrations)
const upTo = (last: string) =>
  Object.fromEntries(Object.entries(migrations).slice(0, names.indexOf(last) + 1))

/** A database at 0006 with `oldRuns` completed runs, each with an output of its own words. */
async function seededBeforeSearch(): Promise<TestDatabase> {
  const testDb = await createTestDatabase('postgres', { upTo: '0006-audit-anchor' })
  const client = await connect(testDb)
  try {
    await client.query(
      `INSERT INTO runs (id, tenant_id, kind, status, trigger, output, run_at, created_at, updated_at)
       SELECT 'old-' || lpad(i::text, 6, '0'), 'default', 'bot', 'completed', 'schedule',
         json_build_object('text', 'Weekly Übersicht ' || i || E'\\nThe lighthouse report old' || i || ' of ' ||
           (ARRAY['Rechnung', 'invoice', 'Versand', 'shipping'])[1 + i % 4] || ' and more words here')::text,
         $1::bigint + i, $1::bigint + i, $1::bigint + i
       FROM generate_series(1, ${oldRuns}) AS i`,
      [now],
    )
  } finally {
    await client.end()
  }
  return testDb
}

async function connect(testDb: TestDatabase): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: postgresUrl,
    options: `-c search_path=${testDb.location.schema}`,
  })
  await client.connect()
  return client
}

/** Runs whose search document is missing, extra or not what the trigger of 0015 writes. */
async function wrongDocuments(database: Db): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM runs r FULL JOIN run_search s ON s.run_id = r.id
    WHERE (r.output IS NULL) <> (s.run_id IS NULL)
      OR s.vector IS DISTINCT FROM run_search_tagged(run_search_tag(r.tenant_id), run_search_vector(r.output))`.execute(
    database.db,
  )
  return Number(rows[0]!.n)
}

/** Kills the session that migrates as soon as its backfill has committed a batch into `cursorTable`. */
async function killMidBackfill(testDb: TestDatabase, cursorTable: string): Promise<void> {
  const killer = await connect(testDb)
  try {
    for (;;) {
      const cursor = await killer
        .query<{ after: string }>(`SELECT after FROM ${cursorTable}`)
        .catch(() => ({ rows: [] as Array<{ after: string }> }))
      const { rows } = await killer.query<{ pid: number }>(
        `SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
           JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relname = $1 AND l.pid <> pg_backend_pid() LIMIT 1`,
        [cursorTable],
      )
      if (rows[0] && cursor.rows[0]?.after) {
        await killer.query('SELECT pg_terminate_backend($1)', [rows[0].pid])
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  } finally {
    await killer.end()
  }
}

describe.skipIf(!dialects.includes('postgres'))('search backfills on PostgreSQL', () => {
  let testDb: TestDatabase | undefined
  const open: Db[] = []
  afterEach(async () => {
    for (const database of open.splice(0)) await database.close()
    await testDb?.cleanup()
    testDb = undefined
  })

  it('lets another session insert and rewrite runs while 0007 and 0015 index 20,000 stored runs', async () => {
    testDb = await seededBeforeSearch()
    const database = await testDb.open()
    open.push(database)
    const writer = await connect(testDb)
    let migrating = true
    let longestWaitMs = 0
    let writes = 0
    const timed = async (text: string, values: unknown[]) => {
      const started = performance.now()
      await writer.query(text, values)
      longestWaitMs = Math.max(longestWaitMs, performance.now() - started)
      writes++
    }
    const writing = (async () => {
      for (let n = 1; migrating; n++) {
        await timed(
          `INSERT INTO runs (id, tenant_id, kind, status, trigger, output, run_at, created_at, updated_at)
           VALUES ($1, 'default', 'bot', 'completed', 'api', $2, $3, $3, $3)`,
          [`new-${n}`, JSON.stringify({ text: `written meanwhile quasar${n}` }), now + oldRuns + n],
        )
        // Old runs all over the id range, before and after the backfill's cursor.
        const old = `old-${String(1 + ((n * 7919) % oldRuns)).padStart(6, '0')}`
        await timed('UPDATE runs SET output = $1, updated_at = $2 WHERE id = $3', [
          JSON.stringify({ text: `rewritten meanwhile nebula${n}` }),
          now + oldRuns + n,
          old,
        ])
      }
    })()
    try {
      await migrateTestDatabase(database, upTo('0015-run-search-by-workspace'))
    } finally {
      migrating = false
      await writing
      await writer.end()
    }

    expect(writes).toBeGreaterThan(20)
    expect(longestWaitMs).toBeLessThan(2000)
    expect(await wrongDocuments(database)).toBe(0)
    await migrateTestDatabase(database)
    const search = async (q: string) =>
      (await listRuns(database, 'default', { q, limit: 50 })).map((r) => r.id)
    expect(await search('old12345 lighthouse')).toEqual(
      (
        await sql<{
          id: string
        }>`SELECT id FROM runs WHERE id = 'old-012345' AND output LIKE '%old12345%'`.execute(database.db)
      ).rows.map((row) => row.id),
    )
    expect(await search('quasar1 meanwhile')).toEqual(['new-1'])
    expect(await search('nebula1 meanwhile')).toEqual([
      `old-${String(1 + (7919 % oldRuns)).padStart(6, '0')}`,
    ])
    expect(await search('lighthouse')).toHaveLength(50)
  }, 300_000)

  it('resumes a backfill killed mid-way, without missing or duplicate documents, and ends as a fresh schema', async () => {
    testDb = await seededBeforeSearch()
    for (const [cursorTable, last] of [
      ['migration_0007_backfill', '0007-run-search'],
      ['migration_0015_backfill', '0015-run-search-by-workspace'],
    ] as const) {
      const doomed = await testDb.open()
      const migrating = migrateTestDatabase(doomed, upTo(last)).then(
        () => 'finished',
        () => 'killed',
      )
      await killMidBackfill(testDb, cursorTable)
      expect(await migrating).toBe('killed')
      await doomed.close().catch(() => undefined)
      const database = await testDb.open()
      open.push(database)
      // A run written between the kill and the restart is the trigger's.
      await sql`INSERT INTO runs (id, tenant_id, kind, status, trigger, output, run_at, created_at, updated_at)
        VALUES (${`between-${last}`}, 'default', 'bot', 'completed', 'api', '{"text":"between kills"}', ${now}, ${now}, ${now})`.execute(
        database.db,
      )
    }
    const database = open[open.length - 1]!
    await migrateTestDatabase(database)
    expect(await wrongDocuments(database)).toBe(0)
    expect(
      (await listRuns(database, 'default', { q: 'between kills', limit: 50 })).map((r) => r.id).sort(),
    ).toEqual(['between-0007-run-search', 'between-0015-run-search-by-workspace'])

    // The same schema objects as a database created at the latest version: no cursor table left, the
    // same indexes (valid), functions and triggers.
    const fresh = await createTestDatabase('postgres')
    const freshDatabase = await fresh.open()
    try {
      expect(await catalogue(database)).toEqual(await catalogue(freshDatabase))
    } finally {
      await freshDatabase.close()
      await fresh.cleanup()
    }
  }, 300_000)
})

async function catalogue(database: Db) {
  const { rows } = await sql<{ kind: string; name: string; definition: string }>`
    SELECT 'table' AS kind, c.relname AS name, c.relkind::text AS definition FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'v', 'm')
    UNION ALL
    SELECT 'index', c.relname, replace(pg_get_indexdef(i.indexrelid), current_schema() || '.', '') || ' valid=' || i.indisvalid
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = current_schema()::regnamespace
    UNION ALL
    SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.prosrc
      FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
    UNION ALL
    SELECT 'trigger', t.tgname, replace(pg_get_triggerdef(t.oid), current_schema() || '.', '')
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
    ORDER BY 1, 2`.execute(database.db)
  return rows
}
