import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { dialects, postgresUrl } from '../../test/databases.ts'
import type { Db, Tables } from '../database.ts'
import { type DialectName, openDatabase } from '../platform/db/database.ts'
import { migrateToLatest } from '../platform/db/migrator.ts'
import { createQueue } from '../runs/kernel.ts'
import { migrations } from './index.ts'

const now = Date.parse('2026-06-01T00:00:00Z')
const before0008 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0008'))

function runRow(id: string, status: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    tenant_id: 'default',
    kind: 'noop',
    status,
    trigger: 'api',
    run_at: now - 1000,
    attempt: 0,
    max_attempts: 3,
    lease_token: 0,
    lease_owner: null,
    lease_expires_at: null,
    started_at: null,
    finished_at: null,
    created_at: now - 1000,
    updated_at: now - 1000,
    ...extra,
  }
}

describe.each(dialects)('migration 0008 (run queue) on %s', (dialect: DialectName) => {
  let database: Db | undefined
  let cleanup: (() => Promise<void>) | undefined
  afterEach(async () => {
    await database?.close()
    await cleanup?.()
  })

  async function open(): Promise<Db> {
    if (dialect === 'sqlite') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-0008-'))
      cleanup = async () => fs.rmSync(dir, { recursive: true, force: true })
      return openDatabase<Tables>({ sqlitePath: path.join(dir, 'test.db') })
    }
    const schema = `t_${randomBytes(6).toString('hex')}`
    cleanup = async () => {
      const client = new pg.Client({ connectionString: postgresUrl })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await client.end()
    }
    return openDatabase<Tables>({ url: postgresUrl, schema, poolSize: 2 })
  }

  it('carries the queued and running runs of an existing database over, so they are claimed and rescued', async () => {
    database = await open()
    await migrateToLatest(database.db, dialect, before0008)
    await database.db
      .insertInto('runs')
      .values([
        runRow('r-pending', 'pending'),
        runRow('r-running', 'running', {
          attempt: 1,
          lease_token: 3,
          lease_owner: 'gone',
          lease_expires_at: now + 30_000,
          started_at: now - 500,
        }),
        runRow('r-done', 'completed', { attempt: 1, finished_at: now - 100 }),
      ] as never)
      .execute()

    await migrateToLatest(database.db, dialect, migrations)

    const queue = createQueue(database)
    const claimed = await queue.claim({ workerId: 'w', limit: 10, now, leaseMs: 120_000 })
    expect(claimed.map((r) => r.id)).toEqual(['r-pending'])
    expect(claimed[0]).toMatchObject({ status: 'running', attempt: 1 })
    // The running run's lease came along: held until it expires, then rescued (attempts remain).
    expect(await queue.rescueExpired(now + 10_000, 10)).toEqual([])
    const rescued = await queue.rescueExpired(now + 31_000, 10)
    expect(rescued.map((r) => [r.id, r.status])).toEqual([['r-running', 'pending']])
    // Its old lease (token 3) is fenced out.
    expect(await queue.settle([{ id: 'r-running', token: 3, outcome: 'released' }], now + 31_000)).toEqual([
      false,
    ])
    const again = await queue.claim({ workerId: 'w2', limit: 10, now: now + 32_000, leaseMs: 30_000 })
    expect(again.map((r) => [r.id, r.attempt])).toEqual([['r-running', 2]])
    const finished = await database.db
      .selectFrom('runs')
      .select('status')
      .where('id', '=', 'r-done')
      .execute()
    expect(finished).toEqual([{ status: 'completed' }])
  })
})
