import { type RunSearchSnippet, runPageSchema } from '@openorch/contracts'
import fc from 'fast-check'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, otherTenantId, type TestApp } from '../../test/app-harness.ts'
import { createTestDatabase, dialects, migrateTestDatabase, useTestDatabase } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { newId } from '../platform/ids.ts'
import { pruneRunsOnce } from './retention.ts'
import { listRuns } from './run.store.ts'
import type { RunRow } from './run.table.ts'
import { ftsMatchQuery, searchSnippet, searchTerms, searchWords } from './run-search.ts'

const tenantId = 'default'

/** The snippet with its highlights in [brackets], to compare in one line. */
function marked(snippet: RunSearchSnippet | undefined): string | undefined {
  if (!snippet) return undefined
  let out = ''
  let at = 0
  for (const h of snippet.highlights) {
    out += `${snippet.text.slice(at, h.start)}[${snippet.text.slice(h.start, h.end)}]`
    at = h.end
  }
  return out + snippet.text.slice(at)
}

describe('search terms and snippets', () => {
  it('keeps only words, folded, and quotes each one for FTS5 with the last as a prefix', () => {
    expect(searchTerms('Über "NEAR" AND x:y - (a*) 💥')).toEqual(['uber', 'near', 'and', 'x', 'y', 'a'])
    expect(searchTerms('!!! ** "" 🎉🎉')).toEqual([])
    expect(ftsMatchQuery(['nike', 'air'])).toBe('"nike" AND "air"*')
    expect(ftsMatchQuery(['summ'])).toBe('"summ"*')
    expect(ftsMatchQuery(['Nike', 'ai'], ['air', 'airbag'])).toBe('"Nike" AND ("air" OR "airbag")')
    expect(ftsMatchQuery(['sum'], ['summary'])).toBe('"summary"')
    expect(searchWords('a\u0301 \u0301 b')).toEqual(['a\u0301', 'b'])
  })

  it('highlights the matching words around the first match, accents and case folded, last word as prefix', () => {
    const text = `${'Lorem ipsum dolor sit amet. '.repeat(10)}Die Übersicht: weekly SUMMARY of prices.\n\nMore ${'filler '.repeat(40)}`
    const snippet = searchSnippet({ text }, 'ubersicht summ')
    expect(snippet?.text.startsWith('…')).toBe(true)
    expect(snippet?.text.endsWith('…')).toBe(true)
    expect(snippet?.text.length).toBeLessThanOrEqual(203)
    expect(marked(snippet)).toContain('Die [Übersicht]: weekly [SUMMARY] of prices. More')
  })

  it('reads the string values of any JSON, not its keys, and returns offsets, never markup', () => {
    const snippet = searchSnippet(
      { title: '<b>Nike</b>', items: [{ text: 'nike & <script>' }], n: 3 },
      'nike',
    )
    expect(snippet).toEqual({
      text: '<b>Nike</b> nike & <script>',
      highlights: [
        { start: 3, end: 7 },
        { start: 12, end: 16 },
      ],
    })
    expect(searchSnippet({ title: 'no match here' }, 'zebra')).toEqual({
      text: 'no match here',
      highlights: [],
    })
    expect(searchSnippet(null, 'zebra')).toBeUndefined()
    expect(searchSnippet({ n: 1 }, 'zebra')).toBeUndefined()
  })
})

describe.each(dialects)('full-text search of run outputs on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(async () => {
    await t.close()
  })

  /** A run of `tenant` whose output is `output` (written as a settlement writes it: JSON text). */
  async function runWithOutput(output: unknown, tenant = tenantId): Promise<string> {
    const result = await t.kernel.runs.enqueue({ tenantId: tenant, kind: 'noop', trigger: 'api' })
    if (result.status !== 'created') throw new Error('expected a created run')
    await t.database.db
      .updateTable('runs')
      .set({ output: JSON.stringify(output), status: 'completed' })
      .where('id', '=', result.run.id)
      .execute()
    return result.run.id
  }

  async function searchPage(q: string, extra = '', key = t.keys.viewer) {
    const response = await t.app.inject({
      url: `/api/v1/runs?q=${encodeURIComponent(q)}${extra}`,
      headers: bearer(key),
    })
    expect(response.statusCode, `q=${JSON.stringify(q)}: ${response.body}`).toBe(200)
    return runPageSchema.parse(response.json())
  }
  const search = async (q: string, key?: string) => (await searchPage(q, '', key)).items.map((run) => run.id)

  it('finds whole words and the word being typed, in any JSON string value, newest first, with a snippet', async () => {
    const summary = await runWithOutput({ text: '## Weekly summary\n\nPrices of the Nike Air Max fell.' })
    const nested = await runWithOutput({ items: [{ title: 'Summarize later' }], text: null, count: 3 })
    const plain = await runWithOutput('A plain string output about summits')
    await runWithOutput({ text: 'nothing relevant' })
    expect(await search('summary')).toEqual([summary])
    expect(await search('summa')).toEqual([nested, summary])
    expect(await search('summ')).toEqual([plain, nested, summary])
    expect(await search('nike max')).toEqual([summary])
    expect(await search('max nike')).toEqual([summary]) // words, in any order
    expect(await search('nike zebra')).toEqual([])
    // `\n` in the stored JSON does not glue "\n\nPrices" into one word; keys are not words.
    expect(await search('prices')).toEqual([summary])
    expect(await search('items')).toEqual([])
    expect(await search('text')).toEqual([])
    const [hit] = (await searchPage('air ma')).items
    expect(marked(hit?.snippet)).toBe('## Weekly summary Prices of the Nike [Air] [Max] fell.')
    // No snippet outside a search.
    const listed = (await t.app.inject({ url: '/api/v1/runs', headers: bearer(t.keys.viewer) })).json()
    expect(listed.items.every((run: object) => !('snippet' in run))).toBe(true)
  })

  it('ignores case and accents, for German and English alike', async () => {
    const german = await runWithOutput({
      text: 'Die Übersicht der Größe: Preisänderung für Café-Bestellungen',
    })
    const english = await runWithOutput({ text: 'UBER drivers and cafe owners' })
    expect(await search('übersicht')).toEqual([german])
    expect(await search('UBERSICHT')).toEqual([german])
    expect(await search('uber')).toEqual([english, german]) // prefix: über… and uber
    expect(await search('preisanderung')).toEqual([german])
    expect(await search('Größe')).toEqual([german])
    expect(await search('fur cafe')).toEqual([german])
    expect(await search('café')).toEqual([english, german])
    expect(await search('grosse')).toEqual([]) // ß is a letter of its own, not "ss"
    expect(marked((await searchPage('größe')).items[0]?.snippet)).toBe(
      'Die Übersicht der [Größe]: Preisänderung für Café-Bestellungen',
    )
  })

  it('never reads the search text as query syntax: operators, quotes, emoji and punctuation give 200 and sensible results', async () => {
    const hit = await runWithOutput({
      text: 'near the end: nike AND adidas, "quoted" and -minus- 100% (brackets) a:b',
    })
    await runWithOutput({ text: 'something else entirely' })
    const hostile = [
      '""',
      '"unbalanced',
      'nike"',
      '**',
      'nike*',
      '**nike',
      'NEAR(nike adidas)',
      'nike NEAR adidas',
      'nike AND adidas',
      'nike OR zebra',
      'NOT nike',
      '-nike',
      'nike -adidas',
      'body:nike',
      '{body}: nike',
      '^nike',
      'nike & adidas',
      'nike | zebra',
      '!nike',
      "nike:* & 'x'",
      '(nike',
      'nike)',
      "''",
      '\\\\',
      'nike\\',
      '%_%',
      '💥🔥',
      'nike 💥',
      '<script>alert(1)</script>',
      '!'.repeat(200),
      '"*:-()&|!^{}[]\\\''.repeat(12),
      'a'.repeat(200),
    ]
    const found = new Map<string, string[]>()
    for (const q of hostile) found.set(q, await search(q))
    for (const q of [
      'nike*',
      'NEAR(nike adidas)',
      'nike AND adidas',
      '(nike',
      'nike)',
      'nike"',
      '"unbalanced',
    ])
      expect(found.get(q), q).toEqual(q === '"unbalanced' ? [] : [hit])
    // A column filter would find it; as words, "body" is simply not in the output.
    expect(found.get('body:nike')).toEqual([])
    expect(found.get('{body}: nike')).toEqual([])
    expect(found.get('nike OR zebra')).toEqual([]) // every word must match: there is no OR
    expect(found.get('-nike')).toEqual([hit]) // `-` is not NOT
    for (const q of ['""', '**', "''", '\\\\', '💥🔥', '!'.repeat(200), '"*:-()&|!^{}[]\\\''.repeat(12)])
      expect(found.get(q), q).toEqual([])
    expect(found.get('<script>alert(1)</script>')).toEqual([])
    // A NUL is refused in any URL before the search sees it (issue 11, item 16).
    for (const q of ['\u0000nike', 'nike\u0000adidas']) {
      const response = await t.app.inject({
        url: `/api/v1/runs?q=${encodeURIComponent(q)}`,
        headers: bearer(t.keys.viewer),
      })
      expect([response.statusCode, response.json().code]).toEqual([400, 'bad_url'])
    }
  })

  it('answers any text with results or a validation problem, never a server error', async () => {
    await runWithOutput({ text: 'Nike Air Max Übersicht 50% "quoted"' })
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 2, maxLength: 200, unit: 'binary' }), async (q) => {
        if (q.trim().length < 2) return
        let encoded: string
        try {
          encoded = encodeURIComponent(q)
        } catch {
          return // a lone surrogate cannot be put in a URL
        }
        const response = await t.app.inject({
          url: `/api/v1/runs?q=${encoded}`,
          headers: bearer(t.keys.viewer),
        })
        // 400 only for what the schema refuses (fewer than 2 characters after trimming, counted by zod)
        // and for a NUL, which no URL may hold.
        expect([200, 400], `${JSON.stringify(q)}: ${response.body}`).toContain(response.statusCode)
        if (response.statusCode === 400)
          expect(response.json().code).toBe(q.includes('\u0000') ? 'bad_url' : 'validation_failed')
      }),
      { numRuns: 100 },
    )
  })

  it('never finds another tenant’s runs', async () => {
    const mine = await runWithOutput({ text: 'confidential merger plan' })
    const theirs = await runWithOutput({ text: 'confidential merger plan' }, otherTenantId)
    expect(await search('confidential merger')).toEqual([mine])
    expect(await search('confidential merger', t.keys.otherTenant)).toEqual([theirs])
    // Not via a cursor either: the other tenant paging past its own run sees nothing of ours.
    const page = await searchPage(
      'merger',
      `&cursor=${'f'.repeat(8)}-ffff-ffff-ffff-${'f'.repeat(12)}`,
      t.keys.otherTenant,
    )
    expect(page.items.map((run) => run.id)).toEqual([theirs])
  })

  it('pages through many hits newest first with the cursor, filtered by status and bot too', async () => {
    const ids: string[] = []
    for (let i = 0; i < 7; i++) ids.push(await runWithOutput({ text: `report number ${i} with a summary` }))
    await runWithOutput({ text: 'no match' })
    const seen: string[] = []
    const sizes: number[] = []
    let cursor: string | null = null
    do {
      const page = await searchPage('summary', `&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      sizes.push(page.items.length)
      seen.push(...page.items.map((run) => run.id))
      expect(page.items.every((run) => run.snippet?.highlights.length === 1)).toBe(true)
      cursor = page.nextCursor
    } while (cursor)
    expect(sizes).toEqual([3, 3, 1])
    expect(seen).toEqual([...ids].reverse())
    expect((await searchPage('summary', '&status=failed')).items).toEqual([])
    expect((await searchPage('summary', '&status=completed&limit=1')).items.map((r) => r.id)).toEqual([
      ids[6],
    ])
  })

  it('answers common, rare and absent words alike when matches run into the thousands', async () => {
    // Over a thousand matches takes PostgreSQL's other path (walk newest first instead of the id list).
    const total = 1_010
    await t.kernel.runs.enqueueMany(
      Array.from({ length: total }, () => ({ tenantId, kind: 'noop', trigger: 'api' as const })),
    )
    const ids = (await t.database.db.selectFrom('runs').select('id').orderBy('id').execute()).map((r) => r.id)
    const rare = new Set([ids[3]!, ids[500]!, ids[1_008]!])
    for (const id of ids)
      await t.database.db
        .updateTable('runs')
        .set({
          output: JSON.stringify({ text: rare.has(id) ? 'a common line, and a rarity' : 'a common line' }),
          status: 'completed',
        })
        .where('id', '=', id)
        .execute()
    const newestFirst = [...ids].reverse()
    const common = await searchPage('common', '&limit=50')
    expect(common.items.map((run) => run.id)).toEqual(newestFirst.slice(0, 50))
    // A cursor deep in the list.
    const deep = await searchPage('common', `&limit=5&cursor=${newestFirst[999]}`)
    expect(deep.items.map((run) => run.id)).toEqual(newestFirst.slice(1_000, 1_005))
    expect(await search('rarity')).toEqual(newestFirst.filter((id) => rare.has(id)))
    expect(await search('rarit')).toEqual(newestFirst.filter((id) => rare.has(id)))
    const rarePage = await searchPage('common rarity', `&limit=1&cursor=${newestFirst[1]}`)
    expect(rarePage.items.map((run) => run.id)).toEqual([ids[500]])
    expect(await search('xylophone')).toEqual([])
    expect((await searchPage('common', '&status=failed')).items).toEqual([])
  })

  it('continues after a cursor whose run retention removed between two pages', async () => {
    const ids: string[] = []
    for (let i = 0; i < 6; i++) ids.push(await runWithOutput({ text: `invoice ${i}` }))
    const first = await searchPage('invoice', '&limit=2')
    expect(first.items.map((run) => run.id)).toEqual([ids[5], ids[4]])
    await t.database.db.deleteFrom('runs').where('id', '=', ids[4]!).execute()
    const second = await searchPage('invoice', `&limit=2&cursor=${first.nextCursor}`)
    expect(second.items.map((run) => run.id)).toEqual([ids[3], ids[2]])
  })

  it('indexes an output when the worker completes the run, and forgets the old text when it changes', async () => {
    t.kernel.executors.register('echo', async ({ run }) => ({
      output: { text: `Echo: ${String(run.input)}` },
    }))
    t.startKernel()
    const result = await t.kernel.runs.enqueue({
      tenantId,
      kind: 'echo',
      trigger: 'api',
      input: 'Kaffeebohnen',
    })
    if (result.status !== 'created') throw new Error('expected a created run')
    const id = result.run.id
    await waitFor(async () => (await t.kernel.runs.get(tenantId, id)).status === 'completed', {
      what: 'the run to complete',
    })
    expect(await search('kaffeebohne')).toEqual([id])
    await t.database.db
      .updateTable('runs')
      .set({ output: JSON.stringify({ text: 'Teeblätter' }) })
      .where('id', '=', id)
      .execute()
    expect(await search('kaffeebohnen')).toEqual([])
    expect(await search('teeblatter')).toEqual([id])
    await t.database.db.updateTable('runs').set({ output: null }).where('id', '=', id).execute()
    expect(await search('teeblatter')).toEqual([])
  })

  it('does not fail a run whose output jsonb cannot hold (a NUL character) and still finds it', async () => {
    const id = await runWithOutput({ text: 'before\u0000after nul' })
    expect(await search('nul')).toEqual([id])
  })

  it('no longer finds runs that retention deleted', async () => {
    const old = await runWithOutput({ text: 'ancient invoice' })
    const recent = await runWithOutput({ text: 'recent invoice' })
    await t.database.db.updateTable('runs').set({ finished_at: 1 }).where('id', '=', old).execute()
    await t.database.db
      .updateTable('runs')
      .set({ finished_at: Date.now() })
      .where('id', '=', recent)
      .execute()
    expect(await search('invoice')).toEqual([recent, old])
    expect(await pruneRunsOnce(t.database, 1000, 100)).toBe(1)
    expect(await search('invoice')).toEqual([recent])
    expect(await search('ancient')).toEqual([])
    if (dialect === 'sqlite') {
      // Nothing of the deleted run is left in the index's tables.
      const sqlite = t.database.sqlite!
      expect(sqlite.prepare('SELECT count(*) AS n FROM run_search').get()).toEqual({ n: 1 })
      expect(sqlite.prepare('SELECT count(*) AS n FROM run_search_fts').get()).toEqual({ n: 1 })
    }
  })
})

describe.each(dialects)('migration 0007 on %s', (dialect) => {
  it('indexes the runs a database already holds', async () => {
    const testDb = await createTestDatabase(dialect, { upTo: '0006-audit-anchor' })
    const database = await testDb.open()
    try {
      const row = (id: string, output: unknown, createdAt = 0) =>
        ({
          id,
          tenant_id: tenantId,
          kind: 'bot',
          status: 'completed',
          trigger: 'schedule',
          output: output === null ? null : JSON.stringify(output),
          run_at: 0,
          created_at: createdAt,
          updated_at: 0,
        }) as RunRow
      // A millisecond with more runs than it has doc ids (1024, SQLite), before a run of the next one.
      const burst = Array.from({ length: 1100 }, () => row(newId(), { text: 'burst' }, 5))
      for (let i = 0; i < burst.length; i += 200)
        await database.db
          .insertInto('runs')
          .values(burst.slice(i, i + 200))
          .execute()
      const next = newId()
      await database.db
        .insertInto('runs')
        .values(row(next, { text: 'burst' }, 6))
        .execute()
      const [a, b, c] = [newId(), newId(), newId()]
      await database.db
        .insertInto('runs')
        .values([row(a, { text: 'Zusammenfassung der Woche' }), row(b, 'weekly summary'), row(c, null)])
        .execute()
      expect(await migrateTestDatabase(database)).toContain('0007-run-search')
      const ids = async (q: string) => (await listRuns(database, tenantId, { q, limit: 10 })).map((r) => r.id)
      expect(await ids('zusammen')).toEqual([a])
      expect(await ids('summary')).toEqual([b])
      expect(await ids('woche summary')).toEqual([])
      // Every run of the burst is indexed, newest first.
      const all: string[] = []
      let before: string | undefined
      for (;;) {
        const page = await listRuns(database, tenantId, { q: 'burst', limit: 200, before })
        all.push(...page.map((r) => r.id))
        if (page.length < 200) break
        before = page[page.length - 1]!.id
      }
      expect(all).toEqual([next, ...burst.map((r) => r.id).reverse()])
      // And so is a burst written after the upgrade, by the triggers, whose ids run into the next
      // millisecond's (taken by `next`): those go to the top instead of failing.
      const later = Array.from({ length: 1100 }, () => row(newId(), { text: 'later' }, 5))
      for (let i = 0; i < later.length; i += 200)
        await database.db
          .insertInto('runs')
          .values(later.slice(i, i + 200))
          .execute()
      expect((await listRuns(database, tenantId, { q: 'later', limit: 2000 })).length).toBe(1100)
    } finally {
      await database.close()
      await testDb.cleanup()
    }
  })
})

/** Completed runs of `tenant` with these output texts, created `startMs` + i seconds (one insert per 200). */
async function insertRuns(database: Db, tenant: string, texts: string[], startMs: number): Promise<string[]> {
  const rows = texts.map(
    (text, i) =>
      ({
        id: newId(),
        tenant_id: tenant,
        kind: 'bot',
        status: 'completed',
        trigger: 'schedule',
        output: JSON.stringify({ text }),
        run_at: startMs + i * 1000,
        created_at: startMs + i * 1000,
        updated_at: startMs + i * 1000,
      }) as RunRow,
  )
  for (let i = 0; i < rows.length; i += 200)
    await database.db
      .insertInto('runs')
      .values(rows.slice(i, i + 200))
      .execute()
  return rows.map((row) => row.id)
}

async function addTenant(database: Db, tenant: string): Promise<void> {
  await sql`INSERT INTO tenants (tenant_id, name, created_at) VALUES (${tenant}, ${tenant}, ${Date.now()})`.execute(
    database.db,
  )
}

const ids = async (database: Db, tenant: string, q: string, limit = 50) =>
  (await listRuns(database, tenant, { q, limit })).map((run) => run.id)

// Issue 11: the index and its vocabulary spanned all workspaces, filtered afterwards, so one workspace
// could slow another's search and time it to learn how often a word occurs in its runs (decision 0012,
// "Workspaces": 50,000 runs of a word made another's search for it 20–40× slower). Migration 0015 gives
// every workspace its own part of the index.
describe.each(dialects)('workspaces apart in the full-text index on %s', (dialect) => {
  const t = useTestDatabase(dialect)
  const noisy = 'noisy'

  it('keeps each workspace in its own part of the index: a doc-id range on SQLite, tagged words on PostgreSQL', async () => {
    await addTenant(t.database, noisy)
    await insertRuns(t.database, tenantId, ['quasar report'], 1_000)
    await insertRuns(t.database, noisy, ['quasar zircon'], 2_000)
    if (dialect === 'sqlite') {
      const { rows } = await sql<{ tenant: string; range: number; tag: number }>`
        SELECT r.tenant_id AS tenant, s.doc_id >> 52 AS range, t.tag AS tag FROM run_search s
        JOIN runs r ON r.id = s.run_id JOIN run_search_tenants t ON t.tenant_id = r.tenant_id
        ORDER BY r.tenant_id`.execute(t.database.db)
      // 'default' keeps tag 0 (and its doc ids), a new workspace takes the next tag.
      expect(rows).toEqual([
        { tenant: tenantId, range: 0, tag: 0 },
        { tenant: noisy, range: 1, tag: 1 },
      ])
    } else {
      const { rows } = await sql<{ tenant: string; tag: string; words: string[] }>`
        SELECT tenant_id AS tenant, run_search_tag(tenant_id) AS tag, tsvector_to_array(vector) AS words
        FROM run_search ORDER BY tenant_id`.execute(t.database.db)
      const [mine, theirs] = rows
      expect(mine!.tag).toMatch(/^[0-9a-f]{8}$/)
      expect(theirs!.tag).not.toBe(mine!.tag)
      expect(mine!.words.sort()).toEqual([`${mine!.tag}quasar`, `${mine!.tag}report`])
      expect(theirs!.words.sort()).toEqual([`${theirs!.tag}quasar`, `${theirs!.tag}zircon`])
    }
    expect(await ids(t.database, tenantId, 'zircon')).toEqual([])
    expect(await ids(t.database, tenantId, 'zirc')).toEqual([])
    expect((await ids(t.database, noisy, 'quasar')).length).toBe(1)
  })

  it("finds exactly a workspace's own runs for the word being typed when another floods the vocabulary with words it starts", async () => {
    await addTenant(t.database, noisy)
    const mine = await insertRuns(
      t.database,
      tenantId,
      ['the quasar report', 'quartz clock', 'quasi done'],
      1_000,
    )
    // 70 made-up words starting "quas": more than the 64 the word being typed expands to.
    await insertRuns(
      t.database,
      noisy,
      Array.from({ length: 70 }, (_, i) => `quas${String(i).padStart(3, '0')}x quasar`),
      10_000,
    )
    expect(await ids(t.database, tenantId, 'quas')).toEqual([mine[2], mine[0]])
    expect(await ids(t.database, tenantId, 'quasa')).toEqual([mine[0]])
    expect(await ids(t.database, tenantId, 'qua')).toEqual([mine[2], mine[1], mine[0]])
    expect(await ids(t.database, tenantId, 'report qu')).toEqual([mine[0]])
    expect(await ids(t.database, tenantId, 'quas000x')).toEqual([])
    expect((await ids(t.database, noisy, 'quas', 100)).length).toBe(70)
  })

  it.runIf(dialect === 'postgres')(
    "reads none of another workspace's index entries or rows (rows of run_search PostgreSQL counts for the search)",
    async () => {
      await addTenant(t.database, noisy)
      // The other workspace's rows come first in the table, as an older, busier workspace's would.
      await insertRuns(
        t.database,
        noisy,
        Array.from({ length: 1_200 }, () => 'zircon quasar common'),
        1_000,
      )
      const rare = await insertRuns(
        t.database,
        tenantId,
        ['quasar one', 'quasar two', 'quasar three'],
        5_000_000,
      )
      const common = await insertRuns(
        t.database,
        tenantId,
        Array.from({ length: 520 }, (_, i) => `common line ${i}`),
        6_000_000,
      )
      await sql`ANALYZE run_search`.execute(t.database.db)
      /**
       * The search's results, and how many rows of run_search it read (sequential scans and index
       * fetches). Counted as a difference inside one transaction: since PostgreSQL 15 the "xact" view
       * also holds counts of earlier transactions not yet flushed to the statistics (at most once a second).
       */
      const measured = (q: string) =>
        t.database.db.transaction().execute(async (trx) => {
          const read = async () => {
            const { rows } = await sql<{ read: number }>`
              SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS read FROM pg_stat_xact_user_tables
              WHERE relname = 'run_search' AND schemaname = current_schema()`.execute(trx)
            return Number(rows[0]?.read ?? 0)
          }
          const before = await read()
          const found = await listRuns({ ...t.database, db: trx }, tenantId, { q, limit: 50 })
          return { found: found.map((run) => run.id), read: (await read()) - before }
        })
      // Before migration 0015 each search read the other workspace's 1,200 matching rows (the GIN
      // index's, or the table in physical order for a common word) before its own. Now at most its own
      // 523: which of its rows, the planner decides (the GIN index or run_search_tenant_idx).
      const own = rare.length + common.length
      const zircon = await measured('zircon')
      expect(zircon.found).toEqual([])
      expect(zircon.read).toBeLessThanOrEqual(own)
      const quasar = await measured('quasar')
      expect(quasar.found).toEqual([...rare].reverse())
      expect(quasar.read).toBeLessThanOrEqual(own)
      const commonSearch = await measured('common')
      expect(commonSearch.found).toEqual([...common].reverse().slice(0, 50))
      // A common word is read twice at most: the probe (up to 501 matches, then it gives up) and the
      // walk newest first; each reads only this workspace's rows, together fewer than the other's 1,200.
      expect(commonSearch.read).toBeLessThanOrEqual(2 * own)
    },
  )
})

describe.each(dialects)('migration 0015 on %s', (dialect) => {
  it("moves each workspace's indexed runs into its own part of the index and keeps finding them", async () => {
    const testDb = await createTestDatabase(dialect, { upTo: '0014-workspaces' })
    const database = await testDb.open()
    try {
      await addTenant(database, 'other')
      const mine = await insertRuns(
        database,
        tenantId,
        ['weekly summary', 'Zusammenfassung der Woche'],
        1_000,
      )
      const theirs = await insertRuns(
        database,
        'other',
        Array.from({ length: 5 }, (_, i) => `summary number ${i}`),
        2_000,
      )
      const docIds = async () =>
        dialect === 'sqlite'
          ? (
              await sql<{ run_id: string; doc_id: number; tag: number }>`
                SELECT run_id, doc_id, doc_id >> 52 AS tag FROM run_search ORDER BY doc_id`.execute(
                database.db,
              )
            ).rows
          : []
      const before = await docIds()
      expect(await migrateTestDatabase(database)).toContain('0015-run-search-by-workspace')
      if (dialect === 'sqlite') {
        const after = await docIds()
        // 'default' keeps its doc ids; the other workspace's runs moved into range 1, in the same order.
        expect(after.filter((row) => mine.includes(row.run_id))).toEqual(
          before.filter((row) => mine.includes(row.run_id)),
        )
        expect(
          after.filter((row) => theirs.includes(row.run_id)).map((row) => [row.run_id, row.tag]),
        ).toEqual(theirs.map((id) => [id, 1]))
      } else {
        const { rows } = await sql<{ untagged: number }>`
          SELECT count(*) AS untagged FROM run_search, unnest(tsvector_to_array(vector)) AS word
          WHERE left(word, 8) <> run_search_tag(tenant_id)`.execute(database.db)
        expect(rows).toEqual([{ untagged: 0 }])
      }
      expect(await ids(database, tenantId, 'summary')).toEqual([mine[0]])
      expect(await ids(database, tenantId, 'zusamm')).toEqual([mine[1]])
      expect(await ids(database, 'other', 'summ')).toEqual([...theirs].reverse())
      // Paging within the moved range.
      const page = await listRuns(database, 'other', { q: 'summary', limit: 2, before: theirs[3] })
      expect(page.map((run) => run.id)).toEqual([theirs[2], theirs[1]])
      // New runs of both are indexed by the new triggers.
      const [later] = await insertRuns(database, 'other', ['summary later'], 100_000)
      expect((await ids(database, 'other', 'summary'))[0]).toBe(later)
      expect(await ids(database, tenantId, 'later')).toEqual([])
    } finally {
      await database.close()
      await testDb.cleanup()
    }
  })
})
