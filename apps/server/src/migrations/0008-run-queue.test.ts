import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, migrateTestDatabase, type TestDatabase } from '../../test/databases.ts'
import type { Db } from '../database.ts'
import type { DialectName } from '../platform/db/database.ts'
import { createQueue } from '../runs/kernel.ts'

const now = Date.parse('2026-06-01T00:00:00Z')

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
  let testDatabase: TestDatabase | undefined
  afterEach(async () => {
    await database?.close()
    await testDatabase?.cleanup()
  })

  it('carries the queued and running runs of an existing database over, so they are claimed and rescued', async () => {
    // The shared helpers take turns with other tests' schema drops (Kysely lists every schema).
    testDatabase = await createTestDatabase(dialect, { upTo: '0007-run-search' })
    database = await testDatabase.open()
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

    await migrateTestDatabase(database)

    const queue = createQueue(database)
    const claimed = await queue.claim({ kinds: ['noop'], workerId: 'w', limit: 10, now, leaseMs: 120_000 })
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
    const again = await queue.claim({
      kinds: ['noop'],
      workerId: 'w2',
      limit: 10,
      now: now + 32_000,
      leaseMs: 30_000,
    })
    expect(again.map((r) => [r.id, r.attempt])).toEqual([['r-running', 2]])
    const finished = await database.db
      .selectFrom('runs')
      .select('status')
      .where('id', '=', 'r-done')
      .execute()
    expect(finished).toEqual([{ status: 'completed' }])
  })
})
