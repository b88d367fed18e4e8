import path from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { cli } from '../../../test/cli-process.ts'
import { dialects } from '../../../test/databases.ts'
import { serverDatabaseEnv } from '../../../test/server-process.ts'
import { migrations } from '../../migrations/index.ts'

// A database migrated by a newer openOrchestrator (a migration name this build does not know) is
// refused by `openorch start` and `openorch migrate` before anything changes, in words that say
// which migrations, why and what to do — not Kysely's "corrupted migrations".

const future = '9999-from-the-future'

describe.each(dialects)('a database from a newer version on %s', (dialect) => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function appliedNames(env: Record<string, string>): Promise<string[]> {
    if (dialect === 'sqlite') {
      const db = new Database(path.join(env.OPENORCH_DATA_DIR!, 'openorch.db'))
      try {
        return (
          db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as Array<{ name: string }>
        ).map((row) => row.name)
      } finally {
        db.close()
      }
    }
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    try {
      return (await client.query('SELECT name FROM kysely_migration ORDER BY name')).rows.map(
        (row) => row.name,
      )
    } finally {
      await client.end()
    }
  }

  async function addFutureMigration(env: Record<string, string>): Promise<void> {
    const at = new Date().toISOString()
    if (dialect === 'sqlite') {
      const db = new Database(path.join(env.OPENORCH_DATA_DIR!, 'openorch.db'))
      db.prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)').run(future, at)
      db.close()
      return
    }
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    await client.query('INSERT INTO kysely_migration (name, timestamp) VALUES ($1, $2)', [future, at])
    await client.end()
  }

  it('start, migrate and audit verify exit 1 naming the unknown migration and what to do; nothing is migrated', async () => {
    const env = await serverDatabaseEnv(dialect, cleanups)
    const first = await cli(['migrate'], env)
    expect(first.code, first.err).toBe(0)
    expect(await appliedNames(env)).toEqual(Object.keys(migrations).sort())

    await addFutureMigration(env)
    const before = await appliedNames(env)
    expect(before).toContain(future)

    const commands = [['start'], ['migrate'], ['audit', 'verify']]
    const results = await Promise.all(
      commands.map((args) =>
        cli(args, { ...env, PORT: '0', OPENORCH_API_KEY: 'oo_newer_schema_owner_key_1234567890' }),
      ),
    )
    for (const [i, run] of results.entries()) {
      const command = commands[i]!.join(' ')
      expect(run.code, `${command}: ${run.err}`).toBe(1)
      expect(run.err).toContain(future)
      expect(run.err).toContain('used by a newer openOrchestrator')
      expect(run.err).toContain('restore a backup taken before the upgrade')
      expect(run.err).not.toContain('corrupted migrations')
      expect(run.out).not.toMatch(/running at|intact/)
    }
    expect(await appliedNames(env)).toEqual(before)
  }, 120_000)
})
