import { spawn } from 'node:child_process'
import path from 'node:path'
import readline from 'node:readline'
import { sql } from 'kysely'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { createTestDatabase, dialects, migrateTestDatabase, type TestDatabase } from '../../test/databases.ts'
import { createBus, createTestKernel, testLog, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { systemClock } from '../platform/clock.ts'
import { ensureCursor, listDeadLetters, parkNextEvent, requestDeadLetterRetry } from './outbox.store.ts'
import { OutboxRelay } from './outbox-relay.ts'
import { pruneEventsOnce } from './retention.ts'
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
    const parkedBy: string[] = []
    relay.onParked = (consumer) => parkedBy.push(consumer)
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
    expect(parkedBy).toEqual(['fragile'])
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

  it('hands a batch whose process died before the commit to the next holder of the cursor, whole and in order', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, '../../test/consumer-child.ts')],
      {
        env: {
          ...process.env,
          OPENORCH_CHILD: JSON.stringify({ location: testDb.location, consumer: 'crashy' }),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    const exited = new Promise((resolve) => child.on('exit', resolve))
    cleanups.push(async () => {
      child.kill('SIGKILL')
      await exited
    })
    const lines: Array<{ event: string; ids?: number[] }> = []
    readline.createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line)))
    await waitFor(() => lines.some((line) => line.event === 'ready'), { what: 'the child' })
    const made = await runs().enqueueMany(
      [1, 2, 3].map((n) => ({ tenantId, kind: 'x', trigger: 'api' as const, input: n })),
    )
    expect(made).toHaveLength(3)
    // The child holds the batch in its open transaction (its handler hangs): then it dies.
    const held = await waitFor(() => lines.find((line) => line.event === 'handling')?.ids, {
      what: 'the child to hold the batch',
    })
    child.kill('SIGKILL')
    await exited

    const { relay } = relayWith()
    const delivered: number[] = []
    relay.consume('crashy', (events) => {
      delivered.push(...events.map((event) => event.id))
    })
    await relay.start()
    await waitFor(() => delivered.length >= held.length, { what: 'the batch again' })
    expect(delivered).toEqual(held)
    expect(held).toHaveLength(3)
    // What the dead transaction wrote is gone; the cursor is past the batch now.
    const uncommitted = await database.db
      .selectFrom('run_events')
      .select('id')
      .where('type', '=', 'test.uncommitted')
      .execute()
    expect(uncommitted).toEqual([])
    const cursor = await database.db
      .selectFrom('event_cursors')
      .select('last_id')
      .where('name', '=', 'crashy')
      .executeTakeFirstOrThrow()
    expect(Number(cursor.last_id)).toBe(held.at(-1))
  })

  it('parks only the event that failed: none if the cursor has moved past it meanwhile', async () => {
    // No relay runs: the test moves the cursor itself.
    expect(await ensureCursor(database, 'mover')).toBe(true)
    expect(await ensureCursor(database, 'mover')).toBe(false)
    await runs().enqueueMany([1, 2].map(() => ({ tenantId, kind: 'x', trigger: 'api' as const })))
    const [first, second] = await database.db.selectFrom('run_events').select('id').orderBy('id').execute()
    // The next event of `mover` is the first one: a park asked for the second finds it moved.
    expect(await parkNextEvent(database, 'mover', Number(second!.id), 'x', 5, Date.now())).toBeUndefined()
    expect(await listDeadLetters(database, tenantId, { limit: 10 })).toEqual([])
    // On PostgreSQL an event is the cursor's next only once every transaction older than it has ended
    // (the xid horizon, decision 0004): another test's open transaction may hold it back a moment.
    const parked = await waitFor(
      () => parkNextEvent(database, 'mover', Number(first!.id), 'boom', 5, Date.now()),
      {
        what: 'the first event parked',
      },
    )
    expect(Number(parked?.id)).toBe(Number(first!.id))
    expect((await listDeadLetters(database, tenantId, { limit: 10 })).map((l) => Number(l.event_id))).toEqual(
      [Number(first!.id)],
    )
  })

  it('keeps outbox events that the slowest cursor has not passed, whichever consumer it is', async () => {
    await ensureCursor(database, 'behind')
    await runs().enqueueMany([1, 2, 3].map(() => ({ tenantId, kind: 'x', trigger: 'api' as const })))
    const events = await database.db.selectFrom('run_events').select('id').orderBy('id').execute()
    expect(events).toHaveLength(3)
    await database.db.updateTable('run_events').set({ created_at: 0 }).execute()
    // Every cursor at the end but `behind`, which is after the first event only. On PostgreSQL a
    // position is (transaction, id).
    const setCursor = async (name: string | null, id: number) => {
      const which = name === null ? sql`true` : sql`name = ${name}`
      if (database.dialect === 'sqlite')
        await sql`UPDATE event_cursors SET last_id = ${id} WHERE ${which}`.execute(database.db)
      else
        await sql`UPDATE event_cursors SET last_id = ${id},
          last_tx = (SELECT tx_id FROM run_events WHERE id = ${id}) WHERE ${which}`.execute(database.db)
    }
    await setCursor(null, Number(events[2]!.id))
    await setCursor('behind', Number(events[0]!.id))
    expect(await pruneEventsOnce(database, Date.now(), 100)).toBe(1)
    const left = await database.db.selectFrom('run_events').select('id').orderBy('id').execute()
    expect(left.map((e) => Number(e.id))).toEqual([Number(events[1]!.id), Number(events[2]!.id)])
    // The live feed's cursor counts too.
    await setCursor('behind', Number(events[2]!.id))
    await setCursor('live', Number(events[1]!.id))
    expect(await pruneEventsOnce(database, Date.now(), 100)).toBe(1)
    expect(await pruneEventsOnce(database, Date.now(), 100)).toBe(0)
  })
})

describe.each(dialects)('upgrade to event consumers on %s', (dialect) => {
  it('puts the bots’ consumer and the live feed where the one relay cursor was: nothing lost, nothing repeated', async () => {
    const testDb = await createTestDatabase(dialect, { upTo: '0017-run-kinds-and-parking' })
    const database = await testDb.open()
    try {
      // Events as the code of that schema wrote them (today's run service writes today's columns).
      for (let n = 0; n < 3; n++)
        await database.db
          .insertInto('run_events')
          .values({
            tenant_id: tenantId,
            run_id: `old-${n}`,
            type: 'run.pending',
            payload: JSON.stringify({
              runId: `old-${n}`,
              tenantId,
              kind: 'x',
              botId: null,
              status: 'pending',
            }),
            created_at: Date.now(),
          })
          .execute()
      const events = await database.db
        .selectFrom('run_events')
        .select(['id', 'run_id'])
        .orderBy('id')
        .execute()
      expect(events).toHaveLength(3)
      // The old relay had passed the first two events.
      const passed = Number(events[1]!.id)
      if (dialect === 'postgres')
        await sql`UPDATE event_cursors SET last_id = ${passed},
          last_tx = (SELECT tx_id FROM run_events WHERE id = ${passed}) WHERE name = 'relay'`.execute(
          database.db,
        )
      else await sql`UPDATE event_cursors SET last_id = ${passed} WHERE name = 'relay'`.execute(database.db)
      await migrateTestDatabase(database)
      const names = await database.db.selectFrom('event_cursors').select('name').orderBy('name').execute()
      expect(names.map((row) => row.name)).toEqual(['bots', 'live'])

      const bus = createBus(database)
      const relay = new OutboxRelay({ database, bus, clock: systemClock, log: testLog, intervalMs: 20 })
      const toBots: string[] = []
      const live: string[] = []
      relay.consume('bots', (batch) => {
        toBots.push(...batch.map((event) => event.runId))
      })
      bus.subscribe('events', (message) =>
        live.push(...(JSON.parse(message) as Array<{ runId: string }>).map((e) => e.runId)),
      )
      await bus.ready()
      await relay.start()
      await waitFor(() => toBots.length >= 1 && live.length >= 1, { what: 'the third event' })
      await new Promise((resolve) => setTimeout(resolve, 200))
      await relay.stop()
      await bus.close()
      expect(toBots).toEqual([events[2]!.run_id])
      expect(live).toEqual([events[2]!.run_id])
    } finally {
      await database.close()
      await testDb.cleanup()
    }
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
    // Audited like every admin change: who asked for which dead letter's retry.
    const audit = await t.database.db
      .selectFrom('audit_log')
      .select(['action', 'target_id', 'actor_role', 'tenant_id'])
      .where('action', 'like', '%dead-letters%')
      .execute()
    expect(audit).toEqual([
      {
        action: 'POST /events/dead-letters/:id/retry',
        target_id: id,
        actor_role: 'admin',
        tenant_id: tenantId,
      },
    ])
    await waitFor(async () => (await list()).json().items.length === 0, {
      what: 'the retried event to be handled',
    })
  })

  it('lists a damaged parked event and refuses a retry no consumer would handle (attack findings a, b)', async () => {
    t.startKernel()
    await t.kernel.relay.whenReady()
    const park = (consumer: string, payload: string, parkedAt: number) =>
      t.database.db
        .insertInto('event_dead_letters')
        .values({
          consumer,
          event_id: 1,
          tenant_id: tenantId,
          run_id: 'r-1',
          type: 'run.failed',
          payload,
          event_created_at: 0,
          error: 'x',
          attempts: 5,
          parked_at: parkedAt,
          retry_requested_at: null,
        })
        .execute()
    // As the attack planted them: a payload that is no run payload, a time beyond what a Date holds.
    await park('bots', '"just a string"', 9e18)
    await park('bots', '{"runId": 7, "kind": ["x"]}', Date.now())
    await park('gone-consumer', '{}', Date.now())
    const answer = await t.app.inject({ url: '/api/v1/events/dead-letters', headers: bearer(t.keys.admin) })
    expect(answer.statusCode, answer.body).toBe(200)
    const items = answer.json().items as Array<{
      id: string
      consumer: string
      payload: unknown
      parkedAt: string
    }>
    expect(items).toHaveLength(3)
    expect(items[2]).toMatchObject({
      payload: { runId: 'r-1', tenantId, kind: '' },
      parkedAt: '1970-01-01T00:00:00.000Z',
    })
    expect(items[1]!.payload).toMatchObject({ runId: 'r-1', tenantId })
    const retry = (id: string) =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/events/dead-letters/${id}/retry`,
        headers: bearer(t.keys.admin),
      })
    expect((await retry(items[2]!.id)).statusCode).toBe(202)
    // Nothing runs a consumer of that name: the retry would wait forever, so it is refused, not accepted.
    const refused = await retry(items[0]!.id)
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'consumer_not_running' })
    expect(refused.json().detail).toContain('gone-consumer')
    const row = await t.database.db
      .selectFrom('event_dead_letters')
      .select('retry_requested_at')
      .where('consumer', '=', 'gone-consumer')
      .executeTakeFirstOrThrow()
    expect(row.retry_requested_at).toBeNull()
  })
})
