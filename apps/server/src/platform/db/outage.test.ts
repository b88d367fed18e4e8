import SqliteDatabase from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../../test/app-harness.ts'
import { waitFor } from '../../../test/kernel-harness.ts'
import {
  createAppBehindProxy,
  createAppWithShortBusyTimeout,
  type OutageApp,
} from '../../../test/outage-harness.ts'
import type { Db } from '../../database.ts'

// The database goes away while runs are in flight and comes back. Expected: the API answers 503
// problem+json with Retry-After (not a 500 "our bug"), the process survives, the runs that were
// executing finish exactly once, the queued ones start once the database answers again.
// PostgreSQL: the connection is cut by a TCP proxy in front of the shared server. SQLite: another
// process holds the write lock past the busy timeout.

const tenantId = 'default'
const runCount = 4

describe('database outages', () => {
  let outage: OutageApp | undefined
  let t: TestApp | undefined

  afterEach(async () => {
    await outage?.close()
    await t?.close()
    outage = undefined
    t = undefined
  })

  async function enqueueSlowRuns(app: TestApp): Promise<string[]> {
    app.kernel.executors.register('slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 600))
      return { output: 'done' }
    })
    const ids: string[] = []
    for (let i = 0; i < runCount; i++) {
      const result = await app.kernel.runs.enqueue({ tenantId, kind: 'slow', trigger: 'api', maxRetries: 2 })
      if (result.status !== 'created') throw new Error('expected a created run')
      ids.push(result.run.id)
    }
    return ids
  }

  const statusOf = async (db: Db, ids: string[]) =>
    (await db.db.selectFrom('runs').select(['id', 'status']).where('id', 'in', ids).execute()).map(
      (r) => r.status,
    )

  /** Every run completed, each with exactly one completion event. */
  async function expectEachCompletedOnce(db: Db, ids: string[]) {
    await waitFor(async () => (await statusOf(db, ids)).every((s) => s === 'completed'), {
      timeoutMs: 30_000,
      what: 'every run to complete after the outage',
    })
    const completions = await db.db
      .selectFrom('run_events')
      .select('run_id')
      .where('run_id', 'in', ids)
      .where('type', '=', 'run.completed')
      .execute()
    expect(completions.map((c) => c.run_id).sort()).toEqual([...ids].sort())
  }

  it.skipIf(process.env.OPENORCH_TEST_POSTGRES !== '1')(
    'rides out a PostgreSQL outage: 503 with Retry-After meanwhile, every run completes exactly once',
    async () => {
      outage = await createAppBehindProxy({
        kernel: { worker: { concurrency: 2, leaseMs: 3000, pollIntervalMs: 100 } },
      })
      const { t, proxy } = outage
      const cut = proxy!
      const direct = await t.openSecond()
      const ids = await enqueueSlowRuns(t)
      t.startKernel()
      await waitFor(async () => (await statusOf(direct, ids)).filter((s) => s === 'running').length === 2, {
        what: 'two runs executing',
      })

      await cut.cut()
      const during = await t.app.inject({ url: '/api/v1/runs', headers: bearer(t.keys.viewer) })
      expect(during.statusCode).toBe(503)
      expect(during.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(during.headers['retry-after']).toBe('5')
      expect(during.json()).toMatchObject({ status: 503, code: 'database_unavailable' })
      expect((await t.app.inject({ url: '/ready' })).statusCode).toBe(503)
      // Liveness and metrics need no database: an orchestrator must not restart over an outage.
      expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200)
      expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(200)
      // The executing runs finish while the database is away; their results wait for it.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      await cut.restore()

      await expectEachCompletedOnce(direct, ids)
      expect((await t.app.inject({ url: '/api/v1/runs', headers: bearer(t.keys.viewer) })).statusCode).toBe(
        200,
      )
      // Ready again once the pool has replaced the connections the outage cut (a first `select 1` may
      // still meet one of them on a loaded machine).
      await waitFor(async () => (await t.app.inject({ url: '/ready' })).statusCode === 200, {
        what: '/ready to answer 200 again',
        timeoutMs: 10_000,
      })
    },
  )

  it('answers 503 database_full while the disk is full, reads go on, writes work again once there is room', async () => {
    t = await createTestApp('sqlite')
    const app = t
    await insertProviderRow(app.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    const sqlite = app.database.sqlite!
    const createBot = (name: string) =>
      app.app.inject({
        method: 'POST',
        url: '/api/v1/bots',
        headers: bearer(app.keys.editor),
        payload: { name, prompt: 'Find new offers. '.repeat(1000), provider: 'openai' },
      })
    // The file may not grow: the disk is full.
    const pages = Number(sqlite.pragma('page_count', { simple: true }))
    sqlite.pragma(`max_page_count = ${pages}`)
    const full = await createBot('Scout')
    expect(full.statusCode).toBe(503)
    expect(full.headers['retry-after']).toBe('60')
    expect(full.json()).toMatchObject({ status: 503, code: 'database_full' })
    expect((await app.app.inject({ url: '/api/v1/bots', headers: bearer(app.keys.viewer) })).statusCode).toBe(
      200,
    )
    // Room again.
    sqlite.pragma('max_page_count = 1073741823')
    expect((await createBot('Scout')).statusCode).toBe(201)
  })

  it('rides out SQLite locked by another process: 503 database_busy for writes, reads go on, every run completes once', async () => {
    outage = await createAppWithShortBusyTimeout({
      kernel: { worker: { concurrency: 2, leaseMs: 3000, pollIntervalMs: 100 } },
    })
    const app = outage.t
    const ids = await enqueueSlowRuns(app)
    const pending = (await app.kernel.runs.enqueue({ tenantId, kind: 'slow', trigger: 'api' })) as {
      run: { id: string }
    }
    app.startKernel()
    await waitFor(
      async () => (await statusOf(app.database, ids)).filter((s) => s === 'running').length === 2,
      { what: 'two runs executing' },
    )

    // Another process takes the write lock and keeps it.
    const other = new SqliteDatabase(app.database.sqlite!.name)
    other.exec('BEGIN IMMEDIATE')
    try {
      const write = await app.app.inject({
        method: 'POST',
        url: `/api/v1/runs/${pending.run.id}/cancel`,
        headers: bearer(app.keys.editor),
      })
      expect(write.statusCode).toBe(503)
      expect(write.headers['retry-after']).toBe('5')
      expect(write.json()).toMatchObject({ status: 503, code: 'database_busy' })
      // WAL: readers are not blocked by a writer.
      const read = await app.app.inject({ url: `/api/v1/runs/${ids[0]}`, headers: bearer(app.keys.viewer) })
      expect(read.statusCode).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 1500))
    } finally {
      other.exec('ROLLBACK')
      other.close()
    }

    await expectEachCompletedOnce(app.database, [...ids, pending.run.id])
  })
})
