import { type Kysely, type RawBuilder, sql } from 'kysely'
import type { Db, Tables } from '../database.ts'
import { toRun } from './run.mapper.ts'
import type { RunEventRow, RunRow } from './run.table.ts'
import type { Run, RunStatus } from './run.types.ts'
import { eventPayloadOf } from './run-event.ts'
import { foldWord, ftsMatchQuery, postgresSearchText, searchWords } from './run-search.ts'

// SQL for everything off the queue's hot path. Every query is scoped by tenant.
type Q = Kysely<Tables>

export const idempotencyWindowMs = 24 * 60 * 60 * 1000

export async function insertRunRows(
  db: Q,
  rows: RunRow[],
  now: number,
): Promise<{ row: RunRow; created: boolean }[]> {
  if (rows.length === 0) return []
  // A key older than the idempotency window is released, so the same key may start a new run.
  // One statement per tenant and chunk, not per row: the scheduler enqueues hundreds of keyed runs at once.
  const keysByTenant = new Map<string, string[]>()
  for (const row of rows)
    if (row.idempotency_key !== null)
      keysByTenant.set(row.tenant_id, [...(keysByTenant.get(row.tenant_id) ?? []), row.idempotency_key])
  for (const [tenantId, keys] of keysByTenant)
    for (let i = 0; i < keys.length; i += 500)
      await db
        .updateTable('runs')
        .set({ idempotency_key: null })
        .where('tenant_id', '=', tenantId)
        .where('idempotency_key', 'in', keys.slice(i, i + 500))
        .where('created_at', '<', now - idempotencyWindowMs)
        .execute()
  const inserted: RunRow[] = []
  // Chunks keep each statement under SQLite's variable limit.
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500)
    inserted.push(
      ...(await db
        .insertInto('runs')
        .values(chunk)
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing(),
        )
        .returningAll()
        .execute()),
    )
  }
  const created = new Map(inserted.map((r) => [r.id, r]))
  await insertEvents(db, inserted, now)
  const results: { row: RunRow; created: boolean }[] = []
  for (const row of rows) {
    const fresh = created.get(row.id)
    if (fresh) {
      results.push({ row: fresh, created: true })
      continue
    }
    const existing = await db
      .selectFrom('runs')
      .selectAll()
      .where('tenant_id', '=', row.tenant_id)
      .where('idempotency_key', '=', row.idempotency_key)
      .executeTakeFirstOrThrow()
    results.push({ row: existing, created: false })
  }
  return results
}

export async function insertEvents(db: Q, rows: RunRow[], now: number, type?: string): Promise<void> {
  if (rows.length === 0) return
  const events = rows.map((row) => ({
    tenant_id: row.tenant_id,
    run_id: row.id,
    type: type ?? `run.${row.status}`,
    payload: JSON.stringify(eventPayloadOf(row)),
    created_at: now,
  }))
  for (let i = 0; i < events.length; i += 500)
    await db
      .insertInto('run_events')
      .values(events.slice(i, i + 500))
      .execute()
}

export async function findRun(db: Q, tenantId: string, id: string): Promise<RunRow | undefined> {
  return db
    .selectFrom('runs')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
}

export interface RunListFilter {
  status?: RunStatus | undefined
  /** Only runs of this kind (a domain listing its own runs: notifications). */
  kind?: string | undefined
  subjectId?: string | undefined
  deadLettered?: boolean | undefined
  /** Newest first; the cursor is the last id of the previous page. */
  before?: string | undefined
  /** Only runs whose output has every word of this text, the last one as a prefix (full-text index). */
  q?: string | undefined
  limit: number
}

/**
 * A page of a tenant's runs, newest first; the cursor is the last run's id. With `q`, only runs whose
 * output has every word of `q`, the last one as a prefix, through the full-text index of migration
 * 0007 (decision 0012); see `searchRunsSqlite`, `rareMatchesPostgres` and `walkSearchPostgres`.
 */
export async function listRuns(database: Db, tenantId: string, filter: RunListFilter): Promise<RunRow[]> {
  let rareMatches: string[] | undefined
  if (filter.q !== undefined) {
    if (searchWords(filter.q).length === 0) return []
    if (database.dialect === 'sqlite') return searchRunsSqlite(database, tenantId, filter, filter.q)
    rareMatches = await rareMatchesPostgres(database, tenantId, filter.q)
    if (rareMatches?.length === 0) return []
    if (rareMatches === undefined) return walkSearchPostgres(database, tenantId, filter, filter.q)
  }
  let query = database.db.selectFrom('runs').selectAll().where('tenant_id', '=', tenantId)
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.kind) query = query.where('kind', '=', filter.kind)
  if (filter.subjectId) query = query.where('subject_id', '=', filter.subjectId)
  if (filter.deadLettered) query = query.where('dead_lettered_at', 'is not', null)
  if (filter.before) query = query.where('id', '<', filter.before)
  if (rareMatches) query = query.where(sql<boolean>`id = ANY(${rareMatches}::text[])`)
  return query.orderBy('id', 'desc').limit(filter.limit).execute()
}

/**
 * PostgreSQL: the tsquery of the text — `plainto_tsquery`, which reads no operators — with the
 * workspace's tag put in front of every word (the indexed words carry it too, migration 0015: a search
 * reads only its workspace's entries of the index) and `:*` appended to the last one, all in the text
 * PostgreSQL itself printed (`'nike' & 'air'`: each word opens with a quote at the start or after a
 * space), so the quoting is PostgreSQL's, never ours.
 */
function postgresTsquery(tenantId: string, q: string) {
  const words = sql`plainto_tsquery('simple', run_search_fold(${postgresSearchText(q)}))::text`
  const tagged = sql`regexp_replace(${words}, '(^| )''', '\\1''' || run_search_tag(${tenantId}), 'g')`
  return sql`regexp_replace(${tagged}, '''$', ''':*')::tsquery`
}

/**
 * PostgreSQL, a word common in the workspace (more than `rareMatchLimit` matches): its runs newest
 * first through `run_search_tenant_idx` (tenant_id, run_id), each vector filtered, each run joined by
 * its key; the page fills after a few rows. The tenant is a range of one (`BETWEEN t AND t`), not an
 * equality, on purpose: with `tenant_id = t` the planner drops the tenant from the order and walked
 * run_search's primary key instead, every workspace's rows newest first — 50,000 newer runs of
 * another workspace cost 50 ms before the first match (decision 0012, "Workspaces").
 */
async function walkSearchPostgres(
  database: Db,
  tenantId: string,
  filter: RunListFilter,
  q: string,
): Promise<RunRow[]> {
  const conditions = [
    sql`s.tenant_id BETWEEN ${tenantId} AND ${tenantId}`,
    sql`s.vector @@ ${postgresTsquery(tenantId, q)}`,
    sql`r.tenant_id = ${tenantId}`,
  ]
  if (filter.status) conditions.push(sql`r.status = ${filter.status}`)
  if (filter.subjectId) conditions.push(sql`r.subject_id = ${filter.subjectId}`)
  if (filter.deadLettered) conditions.push(sql`r.dead_lettered_at IS NOT NULL`)
  if (filter.before) conditions.push(sql`s.run_id < ${filter.before}`)
  const { rows } = await sql<RunRow>`
    SELECT r.* FROM run_search s JOIN runs r ON r.id = s.run_id
    WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY s.tenant_id DESC, s.run_id DESC LIMIT ${filter.limit}`.execute(database.db)
  return rows
}

/** Up to this many matches, a PostgreSQL search reads them all from the index, then their runs. */
const rareMatchLimit = 500

/**
 * PostgreSQL: all matching run ids when there are at most `rareMatchLimit`, else undefined. One query
 * plan cannot serve every word (decision 0012): for a common word, walking the runs newest first stops
 * after a page; for a rare or absent one the same walk reads every run (132 ms for an absent word in
 * 100,000 runs), while the GIN index answers at once. Which plan the planner picks depends on its
 * sample of the statistics. Asking the index first for at most limit + 1 ids settles it on the facts:
 * few matches are sorted by id and paged from the list; many go back to the walk, which then stops
 * early. A LIMIT above what the statistics expect keeps the planner on the index here.
 */
async function rareMatchesPostgres(database: Db, tenantId: string, q: string): Promise<string[] | undefined> {
  // run_search_matches (migration 0015): the same SELECT … LIMIT, with sequential scans off, so the
  // workspace's own index entries or rows are read, never the table in physical order.
  const { rows } = await sql<{ run_id: string }>`
    SELECT run_search_matches(${tenantId}, ${postgresTsquery(tenantId, q)}, ${rareMatchLimit + 1}) AS run_id`.execute(
    database.db,
  )
  return rows.length > rareMatchLimit ? undefined : rows.map((row) => row.run_id)
}

/** More words starting with what is being typed than this, and the prefix query is used as it is. */
const maxExpansions = 64

/**
 * SQLite: FTS5 walks the matching documents newest first (doc ids are creation time × 1024 + a
 * sequence, migration 0007) and stops when the page is full; each is joined to its run, and the
 * tenant and the other filters are conditions on that run. CROSS JOIN fixes that order: with the FTS
 * table inside, SQLite re-ran the MATCH for every run. Newest first means by creation time, ties in a
 * millisecond by the order their outputs were written. The cursor (a run id) becomes that run's doc id.
 * Each workspace's documents are one key range (its tag × 2^52 up, migration 0015), and the search
 * is held to it: FTS5 seeks into the range, other workspaces' documents are never read.
 */
async function searchRunsSqlite(
  database: Db,
  tenantId: string,
  filter: RunListFilter,
  q: string,
): Promise<RunRow[]> {
  const db = database.db
  const { rows: tags } = await sql<{ tag: number }>`
    SELECT tag FROM run_search_tenants WHERE tenant_id = ${tenantId}`.execute(db)
  // No tag: the workspace never had a run with output.
  if (tags[0] === undefined) return []
  const range = sqliteDocRange(tags[0].tag)
  const words = searchWords(q)
  // The word being typed, as the words it starts: an OR of exact words is walked newest first and
  // stops early; a prefix query first merges the lists of all those words (every "zusamm…"). Up to 3
  // characters FTS5 has a prefix index (one list per prefix, sought into the range like a word).
  const prefix = foldWord(words[words.length - 1]!)
  const expansions = [...prefix].length <= 3 ? [] : await expandSqlite(database, prefix)
  const match = ftsMatchQuery(words, expansions.length <= maxExpansions ? expansions : [])
  const conditions = [
    sql`f.rowid >= ${range.first}`,
    sql`f.rowid <= ${range.last}`,
    sql`r.tenant_id = ${tenantId}`,
  ]
  if (filter.status) conditions.push(sql`r.status = ${filter.status}`)
  if (filter.subjectId) conditions.push(sql`r.subject_id = ${filter.subjectId}`)
  if (filter.deadLettered) conditions.push(sql`r.dead_lettered_at IS NOT NULL`)
  if (filter.before) conditions.push(sql`f.rowid < ${docIdBefore(filter.before, range)}`)
  const { rows } = await sql<RunRow>`
    SELECT r.* FROM run_search_fts f CROSS JOIN run_search s CROSS JOIN runs r
    WHERE run_search_fts MATCH ${match} AND s.doc_id = f.rowid AND r.id = s.run_id
      AND ${sql.join(conditions, sql` AND `)}
    ORDER BY f.rowid DESC LIMIT ${filter.limit}`.execute(db)
  return rows
}

/**
 * SQLite: the indexed words that start with `prefix`, in order, up to `maxExpansions` + 1. One seek
 * per word in the `instance` vocabulary (migration 0015), the next word found as the first one at
 * or after `word || char(1)`: the `row` vocabulary counted every document of each word it listed,
 * in every workspace (1.6 ms for a word another workspace has in 50,000 runs), before the first row.
 */
async function expandSqlite(database: Db, prefix: string): Promise<string[]> {
  const last = `${prefix}\u{10ffff}`
  const { rows } = await sql<{ term: string }>`
    WITH RECURSIVE words (term, n) AS (
      SELECT (SELECT term FROM run_search_instances WHERE term >= ${prefix} AND term <= ${last} LIMIT 1), 1
      UNION ALL
      SELECT (SELECT term FROM run_search_instances WHERE term >= words.term || char(1) AND term <= ${last} LIMIT 1), n + 1
      FROM words WHERE words.term IS NOT NULL AND n <= ${maxExpansions}
    ) SELECT term FROM words WHERE term IS NOT NULL`.execute(database.db)
  return rows.map((row) => row.term)
}

/**
 * The doc id the page after run `id` starts below: the run's own. A run whose output is gone since
 * (retention, a retry) has none; then the next older run of the workspace's range that has one stands
 * in for it (and is included). Computed in SQL, in the statement that uses it.
 */
function docIdBefore(id: string, range: SqliteDocRange) {
  return sql`(SELECT doc_id + (run_id < ${id}) FROM run_search
    WHERE run_id <= ${id} AND doc_id >= ${range.first} AND doc_id <= ${range.last}
    ORDER BY run_id DESC LIMIT 1)`
}

interface SqliteDocRange {
  first: RawBuilder<number>
  last: RawBuilder<number>
}

/**
 * The doc ids of a workspace's tag (SQLite, migration 0015): tag × 2^52 to the range's end, computed
 * by SQLite in 64-bit integers (beyond 2^53, JavaScript numbers would round). The tag is cast: a
 * JavaScript number is bound as a REAL, and FTS5 did not seek to a REAL bound (4 ms instead of 0.05
 * for a word another workspace has in 50,000 runs).
 */
function sqliteDocRange(tag: number): SqliteDocRange {
  const start = sql<number>`(CAST(${tag} AS INTEGER) * 4503599627370496)`
  return { first: start, last: sql<number>`(${start} + 4503599627370495)` }
}

/** Moves a run from one of `from` to a new state; returns the updated row, or undefined if it was not in `from`. */
export async function transitionRun(
  db: Q,
  tenantId: string,
  id: string,
  from: RunStatus[],
  set: Partial<RunRow>,
): Promise<RunRow | undefined> {
  return db
    .updateTable('runs')
    .set(set)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst()
}

/** Due pending runs (backpressure, metrics). PostgreSQL counts its narrow queue table (decision 0013). */
export async function countPendingRuns(database: Db, now: number): Promise<number> {
  if (database.dialect === 'postgres') {
    const { rows } = await sql<{ n: string }>`
      SELECT count(*) AS n FROM run_queue WHERE lease_expires_at IS NULL AND run_at <= ${now}`.execute(
      database.db,
    )
    return Number(rows[0]?.n ?? 0)
  }
  const row = await database.db
    .selectFrom('runs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'pending')
    .where('run_at', '<=', now)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/**
 * Due pending runs and when the longest-waiting of them became due (metrics), in one statement:
 * PostgreSQL reads its narrow queue table (decision 0013), SQLite the pending runs' partial index.
 */
export async function queueFigures(
  database: Db,
  now: number,
): Promise<{ depth: number; oldestRunAt: number | null }> {
  const { rows } =
    database.dialect === 'postgres'
      ? await sql<{ n: string | number; oldest: string | number | null }>`
          SELECT count(*) AS n, min(run_at) AS oldest FROM run_queue
          WHERE lease_expires_at IS NULL AND run_at <= ${now}`.execute(database.db)
      : await sql<{ n: string | number; oldest: string | number | null }>`
          SELECT count(*) AS n, min(run_at) AS oldest FROM runs
          WHERE status = 'pending' AND run_at <= ${now}`.execute(database.db)
  const row = rows[0]
  return {
    depth: Number(row?.n ?? 0),
    oldestRunAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest),
  }
}

/** Runs listed as dead letters, all tenants (metrics); runs_dead_letter_idx is partial on exactly these. */
export async function countDeadLetters(db: Q): Promise<number> {
  const row = await db
    .selectFrom('runs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('dead_lettered_at', 'is not', null)
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

/**
 * PostgreSQL only: gives runs that became pending their `run_queue` row (decision 0013). Called in the
 * transaction that made them pending; nobody else can hold a queue row of a run that was not queued.
 */
export async function enqueueQueueRows(db: Q, rows: RunRow[]): Promise<void> {
  const pending = rows.filter((row) => row.status === 'pending')
  if (pending.length === 0) return
  await sql`
    WITH r AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(pending)}::json) AS r(id text, kind text, priority int,
        run_at bigint, lease_token bigint, concurrency_key text, concurrency_limit int)
    ), keys AS (
      INSERT INTO run_keys (key) SELECT DISTINCT concurrency_key FROM r WHERE concurrency_key IS NOT NULL
      ON CONFLICT DO NOTHING
    )
    INSERT INTO run_queue (id, kind, priority, run_at, lease_token, concurrency_key, concurrency_limit)
    SELECT id, kind, priority, run_at, lease_token, concurrency_key, concurrency_limit FROM r`.execute(db)
}

/**
 * PostgreSQL only: takes a run out of `run_queue` before its `runs` row changes (cancel). The queue row
 * is locked first, as the queue's own statements do, so a cancel waits for a claim in flight instead
 * of deadlocking with it. Called inside the transaction; rolled back with it if the transition fails.
 */
export async function dequeueQueueRow(db: Q, id: string): Promise<void> {
  // A running run's key count goes down with its lease (see queue.postgres.ts).
  await sql`
    WITH gone AS (
      DELETE FROM run_queue WHERE id = ${id} RETURNING concurrency_key, lease_expires_at
    )
    UPDATE run_keys k SET running = greatest(0, k.running - 1)
    FROM gone WHERE k.key = gone.concurrency_key AND gone.lease_expires_at IS NOT NULL`.execute(db)
}

export async function countRunsByStatus(db: Q): Promise<Array<{ status: string; n: number }>> {
  const rows = await db
    .selectFrom('runs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute()
  return rows.map((row) => ({ status: row.status, n: Number(row.n) }))
}

/**
 * Stored events of a tenant after event `afterId`, in the order the relay broadcast them. On PostgreSQL
 * that is (transaction id, id) below the running-transactions horizon, not plain id order: ids commit
 * out of order, so "id > afterId" could skip an event that committed late (decision 0004).
 */
export async function listEventsAfter(database: Db, tenantId: string, afterId: number, limit: number) {
  if (database.dialect === 'sqlite') {
    return database.db
      .selectFrom('run_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute()
  }
  const anchor = await sql<{
    tx: string
  }>`SELECT tx_id::text AS tx FROM run_events WHERE id = ${afterId}`.execute(database.db)
  const tx = anchor.rows[0]?.tx ?? '0'
  const { rows } = await sql<RunEventRow>`
    SELECT id, tenant_id, run_id, type, payload, created_at FROM run_events
    WHERE tenant_id = ${tenantId} AND (tx_id, id) > (${tx}::xid8, ${afterId})
      AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY tx_id, id LIMIT ${limit}`.execute(database.db)
  return rows
}

/**
 * Runs that hold or wait for a slot, of many subjects at once, by subject id (the scheduler's overlap
 * policies, a deleted owner's runs to cancel).
 */
export async function activeRunsOfSubjects(
  db: Kysely<Tables>,
  subjects: Array<{ tenantId: string; subjectId: string }>,
): Promise<Map<string, Array<{ id: string; status: string }>>> {
  const byTenant = new Map<string, string[]>()
  for (const { tenantId, subjectId } of subjects)
    byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), subjectId])
  const active = new Map<string, Array<{ id: string; status: string }>>()
  for (const [tenantId, subjectIds] of byTenant) {
    const rows = await db
      .selectFrom('runs')
      .select(['id', 'status', 'subject_id'])
      .where('tenant_id', '=', tenantId)
      .where('subject_id', 'in', subjectIds)
      .where('status', 'in', ['pending', 'running', 'waiting'])
      .orderBy('id')
      .execute()
    for (const row of rows) {
      const list = active.get(row.subject_id!) ?? []
      list.push({ id: row.id, status: row.status })
      active.set(row.subject_id!, list)
    }
  }
  return active
}

/** A run as domains see it, read inside the caller's transaction (an event consumer deciding on it). */
export async function runIn(db: Q, tenantId: string, id: string): Promise<Run | undefined> {
  const row = await findRun(db, tenantId, id)
  return row ? toRun(row) : undefined
}
