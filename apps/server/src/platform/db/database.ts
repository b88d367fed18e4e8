import path from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import { createPrivateFile, ensurePrivateDir } from '../private-files.ts'
import { postgresConnectionString } from './postgres-tls.ts'
import { currentTenantScope } from './tenant-scope.ts'

export type DialectName = 'sqlite' | 'postgres'

export interface DatabaseOptions {
  /** postgres://… — unset means SQLite at `sqlitePath`. */
  url?: string | undefined
  sqlitePath?: string
  /** NORMAL survives a process crash; FULL also survives a power cut (docs/decisions/0003). */
  sqliteSynchronous?: 'NORMAL' | 'FULL'
  /** PostgreSQL schema to live in (tests give each database its own). */
  schema?: string
  poolSize?: number
  /**
   * PostgreSQL ends a session left idle inside a transaction this long (default 60 s): a process
   * frozen mid-transaction (SIGSTOP, a stalled VM) would otherwise hold its row locks until it wakes.
   */
  idleInTransactionTimeoutMs?: number
  /** How long a new PostgreSQL connection may take (default 10 s): an unreachable host fails, not hangs. */
  connectTimeoutMs?: number
  /** How long SQLite waits for another process's write lock before SQLITE_BUSY (default 5 s). */
  sqliteBusyTimeoutMs?: number
}

const defaultIdleInTransactionTimeoutMs = 60_000

export interface Database<DB> {
  db: Kysely<DB>
  dialect: DialectName
  /** Raw handle for the SQLite queue hot path; use only inside `withSqlite`. */
  sqlite: SqliteDatabase.Database | undefined
  pool: pg.Pool | undefined
  /** Connection settings for extra PostgreSQL clients (LISTEN). */
  pgClientConfig: pg.ClientConfig | undefined
  schema: string | undefined
  /** Runs `fn` while holding the single SQLite connection, so no Kysely transaction interleaves. */
  withSqlite<T>(fn: (sqlite: SqliteDatabase.Database) => T): Promise<T>
  close(): Promise<void>
}

const INT8_OID = 20
const NUMERIC_OID = 1700

// Counts and epoch milliseconds fit in a double; parse them as numbers, not strings.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format)
  },
}

export async function openDatabase<DB>(options: DatabaseOptions): Promise<Database<DB>> {
  if (options.url) return openPostgres<DB>(options.url, options)
  if (!options.sqlitePath) throw new Error('openDatabase needs a DATABASE_URL or a SQLite path')
  return openSqlite<DB>(
    options.sqlitePath,
    options.sqliteSynchronous ?? 'NORMAL',
    options.sqliteBusyTimeoutMs ?? 5000,
  )
}

function openSqlite<DB>(file: string, synchronous: 'NORMAL' | 'FULL', busyTimeoutMs: number): Database<DB> {
  if (file !== ':memory:' && file !== '') {
    // The directory 0700 and the database 0600 when they are new; SQLite creates the -wal and -shm
    // files with the database file's mode (platform/private-files.ts).
    ensurePrivateDir(path.dirname(file))
    createPrivateFile(file)
  }
  const sqlite = new SqliteDatabase(file)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma(`synchronous = ${synchronous}`)
  sqlite.pragma('foreign_keys = ON')
  // 8 MB of pages (better-sqlite3 builds SQLite with 16 MB): the operating system caches the file as
  // well, and the server's memory stays under 100 MB under load (decision 0014).
  sqlite.pragma('cache_size = -8000')
  // Other processes (a CLI, a second server) may hold the write lock for a moment.
  sqlite.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: sqlite }) })
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    pool: undefined,
    pgClientConfig: undefined,
    schema: undefined,
    // `fn` is synchronous. Outside a transaction nothing can interleave with it, so it runs at once;
    // going through Kysely's connection mutex cost ~5 KB of garbage per call on the queue's hot path.
    // Inside a transaction (a Kysely transaction is between two awaits) it waits for the connection.
    withSqlite: (fn) => {
      if (sqlite.inTransaction) return db.connection().execute(async () => fn(sqlite))
      try {
        return Promise.resolve(fn(sqlite))
      } catch (error) {
        return Promise.reject(error)
      }
    },
    close: () => db.destroy(),
  }
}

// The workspace each pooled connection was last scoped to ('' unscoped: a new session is).
const scopedTo = new WeakMap<pg.PoolClient, string>()

/**
 * A pool whose every checkout (Kysely's, and `pool.query`'s on the queue's hot path) carries the
 * current tenant scope as `openorch.tenant_id`, the setting the row-level security policies read
 * (migration 0038, decision 0042). Set only when it changes on that connection: the orchestrator's
 * own unscoped work pays nothing, a request pays one statement when its connection served another.
 */
class TenantScopedPool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>
  override connect(
    callback: (
      error: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): void
  override connect(
    callback?: (
      error: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): Promise<pg.PoolClient> | undefined {
    // Read now, in the caller's async context (pool.query calls connect synchronously).
    const tenantId = currentTenantScope()
    const scoped = super.connect().then(async (client) => {
      if ((scopedTo.get(client) ?? '') === tenantId) return client
      try {
        await client.query(`SELECT set_config('openorch.tenant_id', $1, false)`, [tenantId])
      } catch (error) {
        // A connection whose scope is unknown is not given out again.
        client.release(error instanceof Error ? error : new Error(String(error)))
        throw error
      }
      scopedTo.set(client, tenantId)
      return client
    })
    if (!callback) return scoped
    scoped.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (error: Error) => callback(error, undefined, () => {}),
    )
    return undefined
  }
}

async function openPostgres<DB>(url: string, options: DatabaseOptions): Promise<Database<DB>> {
  const schema = options.schema
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema))
    throw new Error(`Invalid schema name ${schema}`)
  // sslmode and its files as libpq reads them; a URL that cannot work is refused here, saying why.
  const connectionString = postgresConnectionString(url)
  const clientConfig: pg.ClientConfig = {
    connectionString,
    types: pgTypes,
    idle_in_transaction_session_timeout:
      options.idleInTransactionTimeoutMs ?? defaultIdleInTransactionTimeoutMs,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  }
  if (schema) {
    const admin = new pg.Client({ connectionString })
    await admin.connect()
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    } finally {
      await admin.end()
    }
  }
  const pool = new TenantScopedPool({
    ...clientConfig,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
  })
  // A client that loses its connection must not crash the process: an idle one the pool replaces,
  // one checked out (between two statements of a transaction, when the server ends an idle
  // transaction or restarts) fails its next query, and the pool drops it on release.
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  return {
    db,
    dialect: 'postgres',
    sqlite: undefined,
    pool,
    pgClientConfig: clientConfig,
    schema,
    withSqlite: () => Promise.reject(new Error('withSqlite called on PostgreSQL')),
    close: () => db.destroy(),
  }
}
