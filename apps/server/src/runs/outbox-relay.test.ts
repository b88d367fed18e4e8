import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/databases.ts'
import { createBus, testLog, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { systemClock } from '../platform/clock.ts'
import { OutboxRelay } from './outbox-relay.ts'
import { createRunService } from './run.service.ts'

describe.each(dialects)('outbox relay on %s', (dialect) => {
  let testDb: TestDatabase
  let database: Db
  let other: Db
  const cleanups: Array<() => Promise<void>> = []

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect)
    database = await testDb.open()
    other = await testDb.open()
  })
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await other.close()
    await database.close()
    await testDb.cleanup()
  })

  function relayOn(db: Db) {
    const bus = createBus(db)
    const relay = new OutboxRelay({
      database: db,
      bus,
      clock: systemClock,
      log: testLog,
      intervalMs: 20,
      batch: 7,
    })
    cleanups.push(async () => {
      await relay.stop()
      await bus.close()
    })
    return { relay, bus }
  }

  const service = (db: Db) =>
    createRunService({
      database: db,
      bus: createBus(db),
      clock: systemClock,
      log: testLog,
      backpressure: { warnPending: 1e9, dropPending: 1e9 },
    })

  it('hands every event to exactly one of two competing relays, in order per relay', async () => {
    const seen = new Map<number, number>()
    for (const db of [database, other]) {
      const { relay } = relayOn(db)
      relay.consume('bots', (events) => {
        for (const event of events) seen.set(event.id, (seen.get(event.id) ?? 0) + 1)
      })
      relay.start()
    }
    const runs = service(database)
    for (let i = 0; i < 10; i++) {
      await runs.enqueueMany(
        Array.from({ length: 10 }, () => ({ tenantId: 'default', kind: 'x', trigger: 'api' as const })),
      )
    }
    await waitFor(() => seen.size === 100, { what: '100 events' })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(seen.size).toBe(100)
    expect([...seen.values()].every((count) => count === 1)).toBe(true)
  })

  it.runIf(dialect === 'postgres')(
    'broadcasts every event exactly once across two relays without handlers (one-statement path)',
    async () => {
      const first = relayOn(database)
      const second = relayOn(other)
      const seen = new Map<number, number>()
      first.bus.subscribe('events', (message) => {
        for (const event of JSON.parse(message) as Array<{ id: number }>)
          seen.set(event.id, (seen.get(event.id) ?? 0) + 1)
      })
      await Promise.all([first.bus.ready(), second.bus.ready()])
      first.relay.start()
      second.relay.start()
      const runs = service(database)
      for (let i = 0; i < 10; i++) {
        await runs.enqueueMany(
          Array.from({ length: 10 }, () => ({ tenantId: 'default', kind: 'x', trigger: 'api' as const })),
        )
        first.relay.kick()
        second.relay.kick()
      }
      await waitFor(() => seen.size === 100, { what: '100 broadcast events' })
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(seen.size).toBe(100)
      expect([...seen.values()].every((count) => count === 1)).toBe(true)
    },
  )

  it('replays a batch whose handler failed, so nothing is lost', async () => {
    const { relay } = relayOn(database)
    let failures = 1
    const delivered: number[] = []
    relay.consume('bots', (events) => {
      if (failures-- > 0) throw new Error('handler down')
      delivered.push(...events.map((e) => e.id))
    })
    await service(database).enqueue({ tenantId: 'default', kind: 'x', trigger: 'api' })
    relay.start()
    await waitFor(() => delivered.length === 1, { what: 'the replayed event' })
    expect(failures).toBeLessThan(0)
  })

  it.runIf(dialect === 'postgres').each(['durable handlers', 'no handlers (one-statement path)'])(
    'does not skip an event whose transaction commits after a later one (xid horizon), with %s',
    async (variant) => {
      const { relay, bus } = relayOn(database)
      const delivered: string[] = []
      if (variant === 'durable handlers') {
        relay.consume('bots', (events) => {
          delivered.push(...events.map((e) => e.runId))
        })
      } else {
        bus.subscribe('events', (message) => {
          delivered.push(...(JSON.parse(message) as Array<{ runId: string }>).map((e) => e.runId))
        })
        await bus.ready()
      }
      relay.start()
      const slow = new pg.Client({
        connectionString: testDb.location.url,
        options: `-c search_path=${testDb.location.schema}`,
      })
      await slow.connect()
      try {
        await slow.query('BEGIN')
        await slow.query('SELECT pg_current_xact_id()') // takes a transaction id now
        await database.db
          .insertInto('run_events')
          .values({ tenant_id: 'default', run_id: 'fast', type: 'run.test', payload: '{}', created_at: 1 })
          .execute()
        relay.kick()
        await new Promise((resolve) => setTimeout(resolve, 300))
        // The fast transaction committed, but an older one is still open: wait for it.
        expect(delivered).toEqual([])
        await slow.query(
          `INSERT INTO run_events (tenant_id, run_id, type, payload, created_at) VALUES ('default', 'slow', 'run.test', '{}', 2)`,
        )
        await slow.query('COMMIT')
        relay.kick()
        await waitFor(() => delivered.length === 2, { what: 'both events' })
        expect(delivered).toEqual(['slow', 'fast'])
      } finally {
        await slow.end()
      }
    },
  )
})
