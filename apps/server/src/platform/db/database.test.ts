import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase, postgresUrl, type TestDatabase } from '../../../test/databases.ts'
import { type Database, openDatabase } from './database.ts'

// A process frozen inside a transaction (SIGSTOP, a paused VM) must not hold its locks for ever:
// PostgreSQL ends the session after the idle-in-transaction timeout and the others go on. SQLite has
// no such thing (a frozen holder of its write lock blocks every writer until it wakes); there the
// design is one process (docs/decisions/0003).
describe.skipIf(process.env.OPENORCH_TEST_POSTGRES !== '1')(
  'PostgreSQL sessions idle in a transaction',
  () => {
    const opened: Array<Database<unknown>> = []
    let testDb: TestDatabase | undefined

    afterEach(async () => {
      for (const database of opened.splice(0)) await database.close()
      // The harness drops test schemas in turn with other tests' migrations (test/databases.ts).
      await testDb?.cleanup()
    })

    it('ends a transaction left idle past the timeout, frees its locks, and keeps the pool usable', async () => {
      testDb = await createTestDatabase('postgres')
      const schema = testDb.location.schema
      const frozen = await openDatabase<unknown>({
        url: postgresUrl,
        schema,
        idleInTransactionTimeoutMs: 300,
      })
      const other = await openDatabase<unknown>({ url: postgresUrl, schema })
      opened.push(other, frozen)
      await sql`CREATE TABLE held (id integer PRIMARY KEY, owner text)`.execute(other.db)
      await sql`INSERT INTO held VALUES (1, 'nobody')`.execute(other.db)

      const transaction = frozen.db.transaction().execute(async (trx) => {
        await sql`SELECT id FROM held WHERE id = 1 FOR UPDATE`.execute(trx)
        // Frozen: no statement for longer than the timeout.
        await new Promise((resolve) => setTimeout(resolve, 1000))
        await sql`UPDATE held SET owner = 'zombie' WHERE id = 1`.execute(trx)
      })
      const refused = transaction.then(
        () => undefined,
        (error: unknown) => error,
      )

      // The other process gets the row once the server ends the frozen session (not after the 1 s sleep).
      const started = Date.now()
      await sql`SELECT id FROM held WHERE id = 1 FOR UPDATE`.execute(other.db)
      await sql`UPDATE held SET owner = 'survivor' WHERE id = 1`.execute(other.db)
      expect(Date.now() - started).toBeLessThan(900)

      // Awake again, the frozen transaction's next statement fails; its write never lands.
      const error = await refused
      expect((error as Error).message).toMatch(/connection error|idle-in-transaction/)
      const row = await sql<{ owner: string }>`SELECT owner FROM held WHERE id = 1`.execute(other.db)
      expect(row.rows[0]?.owner).toBe('survivor')
      // The pool replaced the ended connection.
      const again = await sql<{ one: number }>`SELECT 1 AS one`.execute(frozen.db)
      expect(again.rows[0]?.one).toBe(1)
    })
  },
)
