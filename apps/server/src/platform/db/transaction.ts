import { type Kysely, sql } from 'kysely'
import type { Database } from './database.ts'

/**
 * A transaction that writes. On SQLite it starts with BEGIN IMMEDIATE: it takes the write lock
 * up front, so another process's commit cannot invalidate our snapshot half-way (SQLITE_BUSY_SNAPSHOT).
 */
export async function writeTransaction<DB, T>(
  database: Database<DB>,
  fn: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> {
  if (database.dialect === 'postgres') return database.db.transaction().execute(fn)
  return database.db.connection().execute(async (connection) => {
    await sql`BEGIN IMMEDIATE`.execute(connection)
    try {
      const result = await fn(connection)
      await sql`COMMIT`.execute(connection)
      return result
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => {})
      throw error
    }
  })
}
