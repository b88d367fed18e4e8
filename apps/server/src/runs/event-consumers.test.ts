import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/databases.ts'
import { createBus, createTestKernel, testLog, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { systemClock } from '../platform/clock.ts'
import { listDeadLetters, requestDeadLetterRetry } from './outbox.store.ts'
import { OutboxRelay } from './outbox-relay.ts'
import { createRunService } from './run.service.ts'

// Issue 12: each durable consumer has its own cursor, failure count and parking place; one that
// fails stops neither another consumer nor the live feed; handlers enqueue inside their transaction.

const tenantId = 'default'

describe.each(dialects)('event consumers on %s', (dialect) => {
  let testDb: TestDatabase
  let database: Db
  const cleanups: Array<() => Promise<void>> = []

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect)
    database = await testDb.open()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await database.close()
    await testDb.cleanup()
  })

  function relayWith(log = testLog) {
    const bus = createBus(database)
    const relay = new OutboxRelay({ database, bus, clock: systemClock, log, intervalMs: 50 })
    cleanups.push(async () => {
      await relay.stop()
      await bus.close()
    })
    return { relay, bus }
  }
  const runs = () =>
    createRunService({
      database,
      bus: createBus(database),
      clock: systemClock,
      log: testLog,
      backpressure: { warnPending: 1e9, dropPending: 1e9 },
    })

  it('parks the event a consumer keeps failing on; the other consumer and the live feed go on; a retry hands it back', async () => {
    const { relay, bus } = relayWith()
    let broken = true
    const handled: string[] = []
    const healthy: string[] = []
    const live: string[] = []
    let poison: string | undefined
    relay.consume(
      'fragile',
      (events) => {
        for (const event of events) {
          if (broken && event.runId === poison) throw new Error('cannot handle this one')
          handled.push(event.runId)
        }
      },
      { maxAttempts: 3 },
    )
    relay.consume('steady', (events) => {
      healthy.push(...events.map((event) => event.runId))
    })
    bus.subscribe('events', (message) =>
      live.push(...(JSON.parse(message) as Array<{ runId: string }>).map((e) => e.runId)),
    )
    await bus.ready()
    await relay.start()
    const service = runs()
    const made = await service.enqueueMany(
      [1, 2, 3].map((n) => ({ tenantId, kind: 'x', trigger: 'api' as const, input: n })),
    )
    const ids = made.map((result) => (result.status === 'created' ? result.run.id : ''))
    poison = ids[1]
    relay.kick()
    // The steady consumer and the live feed have every event while the fragile one is still failing.
    await waitFor(() => healthy.length === 3 && live.length >= 3, {
      what: 'the steady consumer and the feed',
    })
    // The fragile one parks the poison event and handles the rest.
    await waitFor(() => handled.includes(ids[2]!), {
      what: 'the fragile consumer to go past the poison event',
    })
    // At least once: the first event may be handled again when its batch is rolled back.
    expect([...new Set(handled)]).toEqual([ids[0], ids[2]])
    const letters = await waitFor(async () => {
      const found = await listDeadLetters(database, tenantId, { limit: 10 })
      return found.length === 1 ? found : undefined
    })
    expect(letters[0]).toMatchObject({
      consumer: 'fragile',
      run_id: poison,
      type: 'run.pending',
      attempts: 3,
    })
    expect(letters[0]!.error).toContain('cannot handle this one')
    const cursor = await database.db
      .selectFrom('event_cursors')
      .select(['failures', 'last_error'])
      .where('name', '=', 'fragile')
      .executeTakeFirstOrThrow()
    expect(cursor).toEqual({ failures: 0, last_error: null })

    // Retried while still broken: it stays, one attempt more. Fixed and retried: handled, gone.
    await requestDeadLetterRetry(database, tenantId, Number(letters[0]!.id), Date.now())
    relay.kick()
    await waitFor(async () => (await listDeadLetters(database, tenantId, { limit: 10 }))[0]?.attempts === 4)
    broken = false
    await requestDeadLetterRetry(database, tenantId, Number(letters[0]!.id), Date.now())
    relay.kick()
    await waitFor(async () => (await listDeadLetters(database, tenantId, { limit: 10 })).length === 0)
    expect([...new Set(handled)]).toEqual([ids[0], ids[2], poison])
  })

  it('logs a handler that takes too long in its transaction as a defect', async () => {
    const lines: Array<{ msg: string; consumer?: string }> = []
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    const { relay } = relayWith(log)
    relay.consume('slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 250))
    })
    await relay.start()
    await runs().enqueue({ tenantId, kind: 'x', trigger: 'api' })
    relay.kick()
    await waitFor(() => lines.some((line) => line.consumer === 'slow' && line.msg.includes('a defect')), {
      what: 'the slow handler to be logged',
    })
  })

  it('a consumer enqueues follow-up runs in its transaction: no hang, and a replayed batch enqueues once', async () => {
    const kernel = createTestKernel(database)
    cleanups.push(async () => {
      await kernel.stop(1000)
      await kernel.bus.close()
    })
    let replays = 1
    kernel.relay.consume('follow-ups', async (events, trx) => {
      const finished = events.filter(
        (event) => event.type === 'run.completed' && event.payload.kind === 'first',
      )
      await kernel.runs.enqueueManyIn(
        trx,
        finished.map((event) => ({
          tenantId: event.tenantId,
          kind: 'second',
          trigger: 'api' as const,
          parentRunId: event.runId,
          idempotencyKey: `follow-up:${event.id}`,
        })),
      )
      // The first time, the batch fails after enqueueing: rolled back, handed over again.
      if (finished.length > 0 && replays-- > 0) throw new Error('crash after the enqueue')
    })
    const seconds: string[] = []
    kernel.executors.register('first', async () => ({ output: 'one' }))
    kernel.executors.register('second', async ({ run }) => {
      seconds.push(run.parentRunId!)
      return { output: 'two' }
    })
    kernel.start()
    await kernel.relay.whenReady()
    const first = await kernel.runs.enqueue({ tenantId, kind: 'first', trigger: 'api' })
    if (first.status !== 'created') throw new Error('expected created')
    await waitFor(() => seconds.length === 1, { what: 'the follow-up run' })
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(seconds).toEqual([first.run.id])
    const all = await database.db.selectFrom('runs').select('kind').where('kind', '=', 'second').execute()
    expect(all).toHaveLength(1)
    expect(replays).toBeLessThan(0)
  })
})

describe.each(dialects)('dead letters in the API on %s', (dialect) => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(() => t.close())

  it('lists a workspace’s parked events to its admins only, and retries one', async () => {
    let broken = true
    t.kernel.relay.consume(
      'api-test',
      () => {
        if (broken) throw new Error('downstream refused')
      },
      { maxAttempts: 1 },
    )
    t.startKernel()
    await t.kernel.relay.whenReady()
    await t.kernel.runs.enqueue({ tenantId, kind: 'nothing-serves-this', trigger: 'api' })
    t.kernel.relay.kick()
    const list = () => t.app.inject({ url: '/api/v1/events/dead-letters', headers: bearer(t.keys.admin) })
    const page = await waitFor(async () => {
      const answer = (await list()).json() as { items: Array<Record<string, unknown>> }
      return answer.items.length === 1 ? answer : undefined
    })
    expect(page.items[0]).toMatchObject({
      consumer: 'api-test',
      type: 'run.pending',
      error: 'downstream refused',
      attempts: 1,
      retryRequestedAt: null,
      payload: { kind: 'nothing-serves-this', tenantId },
    })
    // Editors and other workspaces see nothing of it.
    expect(
      (await t.app.inject({ url: '/api/v1/events/dead-letters', headers: bearer(t.keys.editor) })).statusCode,
    ).toBe(403)
    const other = await t.app.inject({
      url: '/api/v1/events/dead-letters',
      headers: bearer(t.keys.otherTenant),
    })
    expect(other.json().items).toEqual([])
    const id = page.items[0]!.id as string
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: `/api/v1/events/dead-letters/${id}/retry`,
          headers: bearer(t.keys.otherTenant),
        })
      ).statusCode,
    ).toBe(404)
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/events/dead-letters/abc/retry',
          headers: bearer(t.keys.admin),
        })
      ).statusCode,
    ).toBe(404)
    broken = false
    const retried = await t.app.inject({
      method: 'POST',
      url: `/api/v1/events/dead-letters/${id}/retry`,
      headers: bearer(t.keys.admin),
    })
    expect(retried.statusCode).toBe(202)
    expect(retried.json().retryRequestedAt).not.toBeNull()
    await waitFor(async () => (await list()).json().items.length === 0, {
      what: 'the retried event to be handled',
    })
  })
})
