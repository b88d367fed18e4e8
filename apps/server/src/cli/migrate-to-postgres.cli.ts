import { createHash } from 'node:crypto'
import type SqliteDatabase from 'better-sqlite3'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { verifyAudit } from '../audit/audit.store.ts'
import type { Db, Tables } from '../database.ts'
import { migrations } from '../migrations/index.ts'
import { migrateToLatest } from '../platform/db/migrator.ts'
import { postgresConnectionString } from '../platform/db/postgres-tls.ts'
import { toError } from '../platform/errors.ts'
import {
  checkSecrets,
  lockSqliteFile,
  type MasterKey,
  OperationRefused,
  refuseNewerSqlite,
} from './sqlite-file.ts'

// `openorch migrate-to-postgres <url>`: copies a stopped SQLite installation into an empty PostgreSQL
// database (decision 0037).
//
// 1. The target gets our migrations (the PostgreSQL schema is the migrations' own, with its functions,
//    triggers and indexes), then the rows the migrations seed are removed.
// 2. Every table both engines have is copied in foreign-key order, in batches in primary-key order.
//    Each batch commits together with its table's position in `openorch_migration_progress`, so a
//    run killed at any instant resumes after the last committed batch and never copies a row twice.
// 3. What PostgreSQL derives instead of storing as SQLite does is derived there: the full-text index
//    (`run_search`, filled by the migrations' trigger as `runs` rows arrive), the narrow queue
//    (`run_queue`, `run_keys`), the outbox's transaction order, the identity sequences.
// 4. Verified: per table the row count and a SHA-256 over the rows in primary-key order (bytewise,
//    COLLATE "C" on PostgreSQL, SQLite's BINARY), encoded the same on both sides; the audit chain on
//    the target; the secrets (copied as ciphertext) decrypted with the master key; the search index
//    holds every run with an output. The progress table is dropped only after all of that.
//
// Values need no conversion beyond the encoding: both engines' migrations use the same column types
// (booleans as integer 0/1, JSON as text, times as bigint epoch ms, no binary columns). Integers are
// read as BigInt from SQLite and as text from PostgreSQL, so values past 2^53 survive.

export const progressTable = 'openorch_migration_progress'

/** SQLite tables that PostgreSQL does not have: the FTS5 search index is rebuilt there by trigger. */
const sqliteOnly = (table: string) =>
  table.startsWith('sqlite_') || table.startsWith('kysely_migration') || /^run_search(_|$)/.test(table)
/** PostgreSQL tables derived from the copied rows, not copied. */
const derivedOnPostgres = new Set(['run_search', 'run_queue', 'run_keys'])

/**
 * Every copied outbox event gets transaction id 1 and every cursor `last_tx` 1: on PostgreSQL a relay
 * reads events past (last_tx, last_id), so an event is behind a cursor exactly when its id was on
 * SQLite, and every event written after the move (a real, larger transaction id) comes after all of them.
 */
const targetOnlyValues: Record<string, Record<string, string>> = {
  run_events: { tx_id: '1' },
  event_cursors: { last_tx: '1' },
}

export interface MigrateOptions {
  sqlitePath: string
  url: string
  key: MasterKey | undefined
  out: (line: string) => void
  /** Rows per batch (default: as many as fit 20,000 values, at most 2,000). */
  batchRows?: number | undefined
  /** A pause between batches, to leave a busy PostgreSQL room (default 0). */
  pauseMs?: number | undefined
}

interface Column {
  name: string
  /** PostgreSQL's data_type of the target column. */
  type: string
}

interface TablePlan {
  name: string
  /** Columns copied from SQLite, in the target's order. */
  columns: Column[]
  /** Target columns SQLite lacks, with the value each copied row gets. */
  fixed: Array<{ name: string; value: string }>
  primaryKey: Column[]
}

export interface TableReport {
  table: string
  rows: number
  checksum: string
}

export interface MigrateReport {
  tables: TableReport[]
  rows: number
  ms: number
  resumed: boolean
  auditEntries: number
  secrets: { total: number; readable: number }
  searchable: number
}

export async function migrateToPostgres(options: MigrateOptions): Promise<MigrateReport> {
  const started = Date.now()
  // The URL's sslmode, sslrootcert, … as the server reads DATABASE_URL (decision 0039).
  let connectionString: string
  try {
    connectionString = postgresConnectionString(options.url)
  } catch (error) {
    throw new OperationRefused(
      toError(error)
        .message.replace(/^DATABASE_URL/, 'The PostgreSQL URL')
        .replaceAll('DATABASE_URL', 'the URL'),
    )
  }
  // Held for the whole copy: a server cannot start on the source meanwhile, nor one be running now.
  const source = lockSqliteFile(options.sqlitePath)
  if (!source) throw new OperationRefused(`There is no SQLite database at ${options.sqlitePath}.`)
  const pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 10_000 })
  pool.on('error', () => {})
  const kysely = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) })
  try {
    await refuseNewerSqlite(source, options.sqlitePath)
    source.defaultSafeIntegers(true)
    const applied = source
      .prepare('SELECT name FROM kysely_migration ORDER BY name')
      .pluck()
      .all() as string[]
    const known = Object.keys(migrations)
    const pending = known.filter((name) => !applied.includes(name))
    if (pending.length > 0)
      throw new OperationRefused(
        `The SQLite database lacks ${pending.length} migration(s) of this version (${pending.join(', ')}). Run "openorch migrate" on it first (DATABASE_URL unset), then this again.`,
      )

    const resumed = await prepareTarget(pool, kysely, options)
    const plans = await planTables(source, pool)
    const progress = await readProgress(pool)
    let total = 0
    for (const plan of plans) {
      const state = progress.get(plan.name)
      if (state?.done) {
        if (state.copied > 0)
          options.out(`  ${plan.name}: ${state.copied.toLocaleString('en-US')} rows (copied before)`)
        total += state.copied
        continue
      }
      total += await copyTable(source, pool, plan, state, options)
    }
    await deriveTargetState(pool, options)
    options.out('Verifying: row counts and checksums of every table…')
    const tables: TableReport[] = []
    for (const plan of plans) {
      const [from, to] = [checksumSqlite(source, plan), await checksumPostgres(pool, plan)]
      if (from.rows !== to.rows || from.checksum !== to.checksum)
        throw new Error(
          `${plan.name} differs after the copy: SQLite ${from.rows} rows (${from.checksum.slice(0, 12)}), PostgreSQL ${to.rows} rows (${to.checksum.slice(0, 12)}). Did the SQLite database change since the copy began? Drop and recreate the PostgreSQL database and run this again.`,
        )
      tables.push({ table: plan.name, ...to })
    }
    const target: Db = {
      db: kysely,
      dialect: 'postgres',
      sqlite: undefined,
      pool,
      pgClientConfig: undefined,
      schema: undefined,
      withSqlite: () => Promise.reject(new Error('withSqlite called on PostgreSQL')),
      close: () => kysely.destroy(),
    }
    const audit = await verifyAudit(target)
    if (!audit.ok)
      throw new Error(`The audit chain does not verify on PostgreSQL: entry ${audit.id}: ${audit.detail}`)
    const secrets = checkSecrets(await targetSecrets(pool), options.key)
    const searchable = await checkSearch(pool)
    await pool.query(`DROP TABLE ${progressTable}`)
    return {
      tables,
      rows: total,
      ms: Date.now() - started,
      resumed,
      auditEntries: audit.entries,
      secrets: { total: secrets.total, readable: secrets.readable },
      searchable,
    }
  } finally {
    source.close()
    await kysely.destroy().catch(() => {})
  }
}

/**
 * An empty database gets the progress table, the migrations and no seeded rows; one with the progress
 * table is an interrupted move, resumed. Anything else is refused. True when resuming.
 */
async function prepareTarget(
  pool: pg.Pool,
  kysely: Kysely<Tables>,
  options: MigrateOptions,
): Promise<boolean> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`,
  )
  const names = rows.map((r) => r.name)
  const resumed = names.includes(progressTable)
  if (!resumed && names.length > 0)
    throw new OperationRefused(
      `The PostgreSQL database is not empty (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}). Give an empty database (createdb openorch), or the one an interrupted migrate-to-postgres left.`,
    )
  if (resumed) {
    const phase = await pool.query<{ phase: string }>(
      `SELECT phase FROM ${progressTable} WHERE table_name = ''`,
    )
    options.out(`Resuming the interrupted move (it stopped while ${phase.rows[0]?.phase ?? 'starting'}).`)
  } else {
    await pool.query(`CREATE TABLE ${progressTable} (
      table_name text PRIMARY KEY,
      phase text,
      last_key text,
      copied bigint NOT NULL DEFAULT 0,
      done boolean NOT NULL DEFAULT false
    )`)
    await pool.query(`INSERT INTO ${progressTable} (table_name, phase) VALUES ('', 'migrating')`)
  }
  const phase = (
    await pool.query<{ phase: string }>(`SELECT phase FROM ${progressTable} WHERE table_name = ''`)
  ).rows[0]?.phase
  if (phase === 'migrating') {
    options.out('Creating the schema on PostgreSQL (our migrations)…')
    await migrateToLatest(kysely, 'postgres', migrations)
    // The migrations seed a few rows (the default workspace, the outbox cursors): the copy brings
    // SQLite's. One transaction with the phase change, so a kill leaves either both or neither.
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const tables = (
        await client.query<{ name: string }>(
          `SELECT table_name AS name FROM information_schema.tables
           WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
             AND table_name NOT LIKE 'kysely_migration%' AND table_name <> '${progressTable}'`,
        )
      ).rows.map((r) => `"${r.name}"`)
      if (tables.length > 0) await client.query(`TRUNCATE ${tables.join(', ')}`)
      await client.query(`UPDATE ${progressTable} SET phase = 'copying' WHERE table_name = ''`)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    } finally {
      client.release()
    }
  } else {
    // A resumed move must find the schema this build makes (an older or newer build started it?).
    const done = (await pool.query<{ name: string }>('SELECT name FROM kysely_migration')).rows.map(
      (r) => r.name,
    )
    const missing = Object.keys(migrations).filter((name) => !done.includes(name))
    if (missing.length > 0 || done.length !== Object.keys(migrations).length)
      throw new OperationRefused(
        'The interrupted move was started by another version of openOrchestrator. Drop and recreate the PostgreSQL database and start again.',
      )
  }
  return resumed
}

async function planTables(source: SqliteDatabase.Database, pool: pg.Pool): Promise<TablePlan[]> {
  const sqliteTables = (
    source
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .pluck()
      .all() as string[]
  ).filter((name) => !sqliteOnly(name))
  const columns = await pool.query<{
    table: string
    name: string
    type: string
    nullable: string
    def: string
  }>(
    `SELECT table_name AS table, column_name AS name, data_type AS type, is_nullable AS nullable,
       column_default AS def
     FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
  )
  const targetColumns = new Map<string, typeof columns.rows>()
  for (const row of columns.rows) targetColumns.set(row.table, [...(targetColumns.get(row.table) ?? []), row])
  const keys = await pool.query<{ table: string; name: string }>(
    `SELECT c.relname AS table, a.attname AS name
     FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname, k.n`,
  )
  const references = await pool.query<{ table: string; parent: string }>(
    `SELECT c.relname AS table, p.relname AS parent FROM pg_constraint f
     JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class p ON p.oid = f.confrelid
     WHERE f.contype = 'f' AND f.connamespace = current_schema()::regnamespace`,
  )
  const problems: string[] = []
  const plans: TablePlan[] = []
  for (const table of sqliteTables) {
    const target = targetColumns.get(table)
    const sourceColumns = source
      .prepare('SELECT name FROM pragma_table_info(?)')
      .pluck()
      .all(table) as string[]
    if (!target) {
      const rows = Number(source.prepare(`SELECT count(*) FROM "${table}"`).pluck().get())
      if (rows > 0) problems.push(`table ${table} (${rows} rows) has no counterpart on PostgreSQL`)
      continue
    }
    for (const name of sourceColumns)
      if (!target.some((c) => c.name === name)) {
        const used = source
          .prepare(`SELECT count(*) FROM "${table}" WHERE "${name}" IS NOT NULL`)
          .pluck()
          .get()
        if (Number(used) > 0) problems.push(`column ${table}.${name} has no counterpart on PostgreSQL`)
      }
    const fixed: TablePlan['fixed'] = []
    for (const column of target) {
      if (sourceColumns.includes(column.name)) continue
      const value = targetOnlyValues[table]?.[column.name]
      if (value !== undefined) fixed.push({ name: column.name, value })
      else if (column.nullable === 'NO' && column.def === null)
        problems.push(`column ${table}.${column.name} exists only on PostgreSQL and has no default`)
    }
    const copied = target
      .filter((c) => sourceColumns.includes(c.name))
      .map((c) => ({ name: c.name, type: c.type }))
    const primaryKey = keys.rows
      .filter((k) => k.table === table)
      .map((k) => copied.find((c) => c.name === k.name))
      .filter((c): c is Column => c !== undefined)
    if (primaryKey.length === 0) problems.push(`table ${table} has no primary key on PostgreSQL`)
    plans.push({ name: table, columns: copied, fixed, primaryKey })
  }
  for (const table of targetColumns.keys())
    if (
      !sqliteTables.includes(table) &&
      !derivedOnPostgres.has(table) &&
      table !== progressTable &&
      !table.startsWith('kysely_migration')
    )
      problems.push(`table ${table} exists only on PostgreSQL`)
  if (problems.length > 0)
    throw new OperationRefused(
      `The two schemas do not match, so this version cannot move the database:\n  ${problems.join('\n  ')}`,
    )
  // Parents before children (the foreign keys); otherwise by name, so every run copies in one order.
  const ordered: TablePlan[] = []
  const placed = new Set<string>()
  const place = (plan: TablePlan, path: string[]) => {
    if (placed.has(plan.name) || path.includes(plan.name)) return
    for (const ref of references.rows.filter((r) => r.table === plan.name && r.parent !== plan.name)) {
      const parent = plans.find((p) => p.name === ref.parent)
      if (parent) place(parent, [...path, plan.name])
    }
    placed.add(plan.name)
    ordered.push(plan)
  }
  for (const plan of plans) place(plan, [])
  return ordered
}

interface Progress {
  lastKey: unknown[] | undefined
  copied: number
  done: boolean
}

async function readProgress(pool: pg.Pool): Promise<Map<string, Progress>> {
  const { rows } = await pool.query<{
    table_name: string
    last_key: string | null
    copied: string
    done: boolean
  }>(`SELECT table_name, last_key, copied, done FROM ${progressTable} WHERE table_name <> ''`)
  return new Map(
    rows.map((r) => [
      r.table_name,
      {
        lastKey: r.last_key === null ? undefined : JSON.parse(r.last_key),
        copied: Number(r.copied),
        done: r.done,
      },
    ]),
  )
}

const integerTypes = new Set(['smallint', 'integer', 'bigint'])
const floatTypes = new Set(['double precision', 'real', 'numeric'])

/** A value read from SQLite, as sent to PostgreSQL. */
function toPostgres(value: unknown, column: Column, table: string): unknown {
  if (value === null || value === undefined) return null
  if (typeof value === 'bigint') {
    if (column.type === 'boolean') return value !== 0n
    return value.toString()
  }
  // SQLite keeps a fraction in an integer column (a duration measured in fractional ms); PostgreSQL's
  // integer would refuse the text '12.5', and rounds a number: rounded here, and so in the checksum.
  if (typeof value === 'number' && integerTypes.has(column.type)) return Math.round(value).toString()
  if (Buffer.isBuffer(value)) {
    if (column.type === 'bytea') return value
    throw new Error(
      `${table}.${column.name} holds binary data in SQLite, but PostgreSQL's column is ${column.type}.`,
    )
  }
  if (typeof value === 'string' && value.includes('\u0000'))
    throw new Error(
      `${table}.${column.name} holds a text with a NUL character, which PostgreSQL's text cannot store. Remove it on SQLite and run this again.`,
    )
  return value
}

/** One value encoded for the checksum, the same from either engine. */
function canonical(value: unknown, column: Column): string | null {
  if (value === null || value === undefined) return null
  if (integerTypes.has(column.type))
    return BigInt(typeof value === 'number' ? Math.round(value) : (value as bigint | string)).toString()
  if (floatTypes.has(column.type)) return String(Number(value))
  if (column.type === 'boolean') return value === true || value === 1n || value === 1 ? '1' : '0'
  if (Buffer.isBuffer(value)) return value.toString('base64')
  return String(value)
}

function rowHash(hash: ReturnType<typeof createHash>, row: Record<string, unknown>, columns: Column[]) {
  hash.update(JSON.stringify(columns.map((c) => canonical(row[c.name], c))))
  hash.update('\n')
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

function sqliteSelect(plan: TablePlan, after: boolean, limit: number): string {
  const columns = plan.columns.map((c) => quote(c.name)).join(', ')
  const key = plan.primaryKey.map((c) => quote(c.name)).join(', ')
  const where = after ? `WHERE (${key}) > (${plan.primaryKey.map(() => '?').join(', ')})` : ''
  return `SELECT ${columns} FROM ${quote(plan.name)} ${where} ORDER BY ${key} LIMIT ${limit}`
}

/** A stored key position back into values SQLite compares like the column's own. */
function keyParams(plan: TablePlan, lastKey: unknown[]): unknown[] {
  return plan.primaryKey.map((c, i) => (integerTypes.has(c.type) ? BigInt(lastKey[i] as string) : lastKey[i]))
}

async function copyTable(
  source: SqliteDatabase.Database,
  pool: pg.Pool,
  plan: TablePlan,
  state: Progress | undefined,
  options: MigrateOptions,
): Promise<number> {
  const width = plan.columns.length + plan.fixed.length
  const batch = Math.max(1, options.batchRows ?? Math.min(2000, Math.floor(20_000 / width)))
  const total = Number(
    source
      .prepare(`SELECT count(*) FROM ${quote(plan.name)}`)
      .pluck()
      .get(),
  )
  let lastKey = state?.lastKey
  let copied = state?.copied ?? 0
  const first = source.prepare(sqliteSelect(plan, false, batch))
  const next = source.prepare(sqliteSelect(plan, true, batch))
  const names = [...plan.columns.map((c) => quote(c.name)), ...plan.fixed.map((f) => quote(f.name))].join(
    ', ',
  )
  const started = Date.now()
  const copiedBefore = copied
  let reported = Date.now()
  const say = (final: boolean) => {
    const rate = ((copied - copiedBefore) / Math.max(1, Date.now() - started)) * 1000
    options.out(
      `  ${plan.name}: ${copied.toLocaleString('en-US')}${final ? '' : ` of ${total.toLocaleString('en-US')}`} rows${
        copied - copiedBefore > 0 ? ` (${Math.round(rate).toLocaleString('en-US')} rows/s)` : ''
      }${final ? ' copied' : ''}`,
    )
  }
  for (;;) {
    const rows = (
      lastKey === undefined ? first.all() : next.all(...(keyParams(plan, lastKey) as unknown[]))
    ) as Record<string, unknown>[]
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      if (rows.length > 0) {
        const values: unknown[] = []
        const tuples = rows.map((row) => {
          const slots = plan.columns.map((c) => {
            values.push(toPostgres(row[c.name], c, plan.name))
            return `$${values.length}`
          })
          for (const f of plan.fixed) {
            values.push(f.value)
            slots.push(`$${values.length}`)
          }
          return `(${slots.join(', ')})`
        })
        await client.query(`INSERT INTO ${quote(plan.name)} (${names}) VALUES ${tuples.join(', ')}`, values)
        const last = rows[rows.length - 1]!
        lastKey = plan.primaryKey.map((c) => {
          const v = last[c.name]
          return typeof v === 'bigint' ? v.toString() : v
        })
        copied += rows.length
      }
      const done = rows.length < batch
      await client.query(
        `INSERT INTO ${progressTable} (table_name, last_key, copied, done) VALUES ($1, $2, $3, $4)
         ON CONFLICT (table_name) DO UPDATE SET last_key = excluded.last_key, copied = excluded.copied, done = excluded.done`,
        [plan.name, lastKey === undefined ? null : JSON.stringify(lastKey), copied, done],
      )
      await client.query('COMMIT')
      if (done) {
        if (copied > 0) say(true)
        return copied
      }
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      const e = toError(error)
      throw new Error(`copying ${plan.name} failed after ${copied} rows: ${e.message}`, { cause: e })
    } finally {
      client.release()
    }
    if (Date.now() - reported >= 1000) {
      say(false)
      reported = Date.now()
    }
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs))
  }
}

/** The queue rows, key counts and sequences PostgreSQL keeps beside the copied tables. */
async function deriveTargetState(pool: pg.Pool, options: MigrateOptions): Promise<void> {
  options.out('Deriving the queue, the sequences and the search statistics…')
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const tables = new Set(
      (
        await client.query<{ name: string }>(
          `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
        )
      ).rows.map((r) => r.name),
    )
    // As migrations 0008 and 0017 built them from `runs`: one queue row per pending or running run
    // (a running run keeps its lease: the rescuer takes it back when it expires), one key row per
    // concurrency key with its leased runs counted.
    if (tables.has('run_queue')) {
      await client.query('DELETE FROM run_queue')
      await client.query(`INSERT INTO run_queue (id, kind, priority, run_at, lease_token, lease_expires_at, concurrency_key, concurrency_limit)
        SELECT id, kind, priority, run_at, lease_token,
          CASE WHEN status = 'running' THEN coalesce(lease_expires_at, 0) END, concurrency_key, concurrency_limit
        FROM runs WHERE status IN ('pending', 'running')`)
    }
    if (tables.has('run_keys')) {
      await client.query('DELETE FROM run_keys')
      await client.query(`INSERT INTO run_keys (key, running)
        SELECT concurrency_key, count(*) FILTER (WHERE lease_expires_at IS NOT NULL)
        FROM run_queue WHERE concurrency_key IS NOT NULL GROUP BY concurrency_key`)
    }
    // Serial and identity columns continue after the largest copied id.
    const sequences = await client.query<{ table: string; column: string; sequence: string }>(
      `SELECT table_name AS table, column_name AS column,
         pg_get_serial_sequence(quote_ident(table_name), column_name) AS sequence
       FROM information_schema.columns
       WHERE table_schema = current_schema() AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')`,
    )
    for (const s of sequences.rows)
      if (s.sequence)
        await client.query(
          `SELECT setval($1, coalesce((SELECT max(${quote(s.column)}) FROM ${quote(s.table)}), 0) + 1, false)`,
          [s.sequence],
        )
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  } finally {
    client.release()
  }
  await pool.query('ANALYZE')
}

function checksumSqlite(
  source: SqliteDatabase.Database,
  plan: TablePlan,
): { rows: number; checksum: string } {
  const hash = createHash('sha256')
  let rows = 0
  const statement = source.prepare(
    `SELECT ${plan.columns.map((c) => quote(c.name)).join(', ')} FROM ${quote(plan.name)} ORDER BY ${plan.primaryKey
      .map((c) => quote(c.name))
      .join(', ')}`,
  )
  for (const row of statement.iterate() as Iterable<Record<string, unknown>>) {
    rowHash(hash, row, plan.columns)
    rows++
  }
  return { rows, checksum: hash.digest('hex') }
}

async function checksumPostgres(pool: pg.Pool, plan: TablePlan): Promise<{ rows: number; checksum: string }> {
  const hash = createHash('sha256')
  let rows = 0
  // Bytewise order for text keys, as SQLite's BINARY collation orders UTF-8.
  const order = plan.primaryKey
    .map((c) => (integerTypes.has(c.type) ? quote(c.name) : `${quote(c.name)} COLLATE "C"`))
    .join(', ')
  const client = await pool.connect()
  try {
    await client.query('BEGIN READ ONLY')
    await client.query(
      `DECLARE openorch_checksum NO SCROLL CURSOR FOR SELECT ${plan.columns
        .map((c) => quote(c.name))
        .join(', ')} FROM ${quote(plan.name)} ORDER BY ${order}`,
    )
    for (;;) {
      const { rows: batch } = await client.query<Record<string, unknown>>('FETCH 5000 FROM openorch_checksum')
      for (const row of batch) rowHash(hash, row, plan.columns)
      rows += batch.length
      if (batch.length < 5000) break
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  } finally {
    client.release()
  }
  return { rows, checksum: hash.digest('hex') }
}

async function targetSecrets(pool: pg.Pool): Promise<Array<{ where: string; value: string }>> {
  const columns = await pool.query<{ table: string; column: string }>(
    `SELECT table_name AS table, column_name AS column FROM information_schema.columns
     WHERE table_schema = current_schema() AND column_name LIKE '%\\_encrypted'`,
  )
  const found: Array<{ where: string; value: string }> = []
  for (const { table, column } of columns.rows) {
    const { rows } = await pool.query<{ value: string }>(
      `SELECT ${quote(column)} AS value FROM ${quote(table)} WHERE ${quote(column)} IS NOT NULL`,
    )
    for (const row of rows) found.push({ where: `${table}.${column}`, value: row.value })
  }
  return found
}

/** Every run with an output is in PostgreSQL's full-text index (the migrations' trigger filled it). */
async function checkSearch(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ runs: string; indexed: string }>(
    `SELECT (SELECT count(*) FROM runs WHERE output IS NOT NULL) AS runs, (SELECT count(*) FROM run_search) AS indexed`,
  )
  const { runs, indexed } = rows[0]!
  if (runs !== indexed)
    throw new Error(
      `The search index on PostgreSQL holds ${indexed} runs, but ${runs} runs have an output: the runs_search_insert trigger did not fire for all of them.`,
    )
  return Number(indexed)
}

export function describeMigration(report: MigrateReport): string[] {
  const rate = Math.round((report.rows / Math.max(1, report.ms)) * 1000)
  return [
    `Moved ${report.rows.toLocaleString('en-US')} rows in ${report.tables.length} tables to PostgreSQL in ${(report.ms / 1000).toFixed(1)} s (${rate.toLocaleString('en-US')} rows/s${report.resumed ? ', resumed' : ''}).`,
    'Verified:',
    `  row counts and SHA-256 checksums of every table match SQLite's`,
    `  audit chain intact (${report.auditEntries} entries)`,
    `  search index: ${report.searchable} runs with an output`,
    report.secrets.total === 0
      ? '  secrets: none stored'
      : `  secrets: ${report.secrets.total} copied as ciphertext, ${report.secrets.readable} readable with the master key here`,
  ]
}
