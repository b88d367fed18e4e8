import { type Kysely, sql } from 'kysely'
import type { Database } from './database.ts'
import { withoutTenantScope } from './tenant-scope.ts'

// Work that must wait until a transaction has committed (waking a worker for the runs it enqueued).
const afterCommitCallbacks = new WeakMap<object, Array<() => void>>()

/**
 * Runs `callback` once the transaction `trx` (opened by writeTransaction) has committed; never if it
 * rolls back. Outside writeTransaction the callback runs on the next turn: a hint, like a wake-up.
 */
export function afterCommit(trx: object, callback: () => void): void {
  const callbacks = afterCommitCallbacks.get(trx)
  if (callbacks) callbacks.push(callback)
  else withoutTenantScope(() => setImmediate(callback))
}

// Wake-ups of the orchestrator's own loops: they run unscoped, whichever workspace's request committed.
function runAfterCommit(callbacks: Array<() => void>): void {
  withoutTenantScope(() => {
    for (const callback of callbacks) callback()
  })
}

/**
 * A transaction that writes. On SQLite it starts with BEGIN IMMEDIATE: it takes the write lock
 * up front, so another process's commit cannot invalidate our snapshot half-way (SQLITE_BUSY_SNAPSHOT).
 */
export async function writeTransaction<DB, T>(
  database: Database<DB>,
  fn: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> {
  const callbacks: Array<() => void> = []
  if (database.dialect === 'postgres') {
    const result = await database.db.transaction().execute((trx) => {
      afterCommitCallbacks.set(trx, callbacks)
      return fn(trx)
    })
    runAfterCommit(callbacks)
    return result
  }
  return database.db.connection().execute(async (connection) => {
    await sql`BEGIN IMMEDIATE`.execute(connection)
    afterCommitCallbacks.set(connection, callbacks)
    try {
      const result = await fn(connection)
      await sql`COMMIT`.execute(connection)
      afterCommitCallbacks.delete(connection)
      runAfterCommit(callbacks)
      return result
    } catch (error) {
      afterCommitCallbacks.delete(connection)
      await sql`ROLLBACK`.execute(connection).catch(() => {})
      throw error
    }
  })
}
