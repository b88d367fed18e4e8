import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterEach, beforeEach } from 'vitest'
import type { Db, Tables } from '../src/database.ts'
import { migrations } from '../src/migrations/index.ts'
import { type DialectName, openDatabase } from '../src/platform/db/database.ts'
import { migrateToLatest } from '../src/platform/db/migrator.ts'

// Every database test runs on SQLite and on PostgreSQL. scripts/test.mjs probes PostgreSQL and sets
// OPENORCH_TEST_POSTGRES=1 when it answers; without it the PostgreSQL half is skipped (and said so).
// The application role scripts/test.mjs prepares (no superuser, no BYPASSRLS): row-level security binds it.
export const postgresUrl = process.env.OPENORCH_TEST_PG_URL ?? 'postgres://openorch_app@127.0.0.1:5432/test'
export const dialects: DialectName[] =
  process.env.OPENORCH_TEST_POSTGRES === '1' ? ['sqlite', 'postgres'] : ['sqlite']

export interface TestDatabase {
  dialect: DialectName
  /** What a second process needs to open the same database. */
  location: { url?: string; sqlitePath?: string; schema?: string }
  open(): Promise<Db>
  cleanup(): Promise<void>
}

/**
 * A fresh, migrated, empty database of the given dialect. `upTo` stops after that migration (to test
 * an upgrade: fill it, then `migrateTestDatabase`).
 */
export async function createTestDatabase(
  dialect: DialectName,
  options: { upTo?: string } = {},
): Promise<TestDatabase> {
  const wanted = migrationsUpTo(options.upTo)
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-test-'))
    const sqlitePath = path.join(dir, 'test.db')
    const first = await openDatabase<Tables>({ sqlitePath })
    await migrateToLatest(first.db, 'sqlite', wanted)
    await first.close()
    return {
      dialect,
      location: { sqlitePath },
      open: () => openDatabase<Tables>({ sqlitePath }),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    }
  }
  const schema = `t_${randomBytes(6).toString('hex')}`
  // Kysely's migrator lists the tables of every schema; a schema dropped by a parallel test at that
  // moment makes the listing fail. Migrations and drops of test schemas therefore take turns.
  await withSchemaLock(async () => {
    const first = await openDatabase<Tables>({ url: postgresUrl, schema, poolSize: 2 })
    try {
      await migrateToLatest(first.db, 'postgres', wanted)
    } finally {
      await first.close()
    }
  })
  return {
    dialect,
    location: { url: postgresUrl, schema },
    open: () => openDatabase<Tables>({ url: postgresUrl, schema, poolSize: 8 }),
    cleanup: () =>
      withSchemaLock(async (client) => {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      }),
  }
}

function migrationsUpTo(last: string | undefined): typeof migrations {
  if (last === undefined) return migrations
  const names = Object.keys(migrations)
  if (!names.includes(last)) throw new Error(`No migration ${last}`)
  return Object.fromEntries(Object.entries(migrations).slice(0, names.indexOf(last) + 1))
}

/** Applies the migrations a database created with `upTo` lacks (or of `wanted`); returns their names. */
export async function migrateTestDatabase(
  database: Db,
  wanted: typeof migrations = migrations,
): Promise<string[]> {
  if (database.dialect === 'sqlite') return migrateToLatest(database.db, 'sqlite', wanted)
  return withSchemaLock(() => migrateToLatest(database.db, 'postgres', wanted))
}

const schemaLockId = 7_042_001

async function withSchemaLock<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    // Polled: a statement waiting for the lock would be a transaction that the CREATE INDEX
    // CONCURRENTLY of a migration's backfill under this lock waits for (decision 0041).
    while (!(await client.query('SELECT pg_try_advisory_lock($1) AS locked', [schemaLockId])).rows[0].locked)
      await new Promise((resolve) => setTimeout(resolve, 50))
    return await fn(client)
  } finally {
    await client.end()
  }
}

/**
 * A fresh migrated database for each test of the enclosing `describe`: `const t = useTestDatabase(d)`,
 * then `t.database` inside a test. Opened before each test, closed and removed after it.
 */
export function useTestDatabase(dialect: DialectName): { readonly database: Db } {
  let testDb: TestDatabase | undefined
  let database: Db | undefined
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect)
    database = await testDb.open()
  })
  afterEach(async () => {
    await database?.close()
    await testDb?.cleanup()
    database = undefined
    testDb = undefined
  })
  return {
    get database() {
      if (!database) throw new Error('useTestDatabase: only inside a test')
      return database
    },
  }
}
