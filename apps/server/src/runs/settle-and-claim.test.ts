import { beforeEach, describe, expect, it } from 'vitest'
import { dialects, useTestDatabase } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { createLocalBus } from '../platform/bus.ts'
import { systemClock } from '../platform/clock.ts'
import { createQueue } from './kernel.ts'
import type { RunQueue, Settlement } from './queue.ts'
import { createRunService, type RunService } from './run.service.ts'
import { findRun, listEventsAfter } from './run.store.ts'
import type { RunRow } from './run.table.ts'

const tenantId = 'default'
const leaseMs = 30_000

// settleAndClaim with one settlement and one free slot: on PostgreSQL the run_settle_and_claim function
// (migration 0010), on SQLite one transaction. Every outcome must leave the same rows on both engines.
describe.each(dialects)('settle one run and claim the next on %s', (dialect) => {
  const t = useTestDatabase(dialect)
  let database: Db
  let queue: RunQueue
  let runs: RunService

  beforeEach(() => {
    database = t.database
    queue = createQueue(database)
    runs = createRunService({
      database,
      bus: createLocalBus(),
      clock: systemClock,
      log: testLog,
      backpressure: { warnPending: 1e9, dropPending: 1e9 },
    })
  })

  async function enqueue(count: number, extra: { concurrencyKey?: string } = {}) {
    for (let i = 0; i < count; i++)
      await runs.enqueue({ tenantId, kind: 'noop', trigger: 'api', maxRetries: 2, ...extra })
  }
  const next = (workerId = 'w1') => ({ workerId, kinds: ['noop'], limit: 1, now: Date.now(), leaseMs })
  const lease = (row: RunRow) => ({ id: row.id, token: Number(row.lease_token) })
  const row = async (id: string) => (await findRun(database.db, tenantId, id))!

  async function claimOne(): Promise<RunRow> {
    const [claimed] = await queue.claim(next())
    expect(claimed).toBeDefined()
    return claimed!
  }

  it('completes a run with its outbox event and claims the next, leased to this worker', async () => {
    await enqueue(2)
    const first = await claimOne()
    const before = await listEventsAfter(database, tenantId, 0, 100)
    const { accepted, claimed } = await queue.settleAndClaim(
      [{ ...lease(first), outcome: 'completed', output: { answer: 42 }, durationMs: 7 }],
      Date.now(),
      next(),
    )
    expect(accepted).toEqual([true])
    expect(claimed).toHaveLength(1)
    expect(claimed[0]!.id).not.toBe(first.id)
    expect(claimed[0]!.status).toBe('running')
    expect(claimed[0]!.lease_owner).toBe('w1')
    expect(Number(claimed[0]!.attempt)).toBe(1)
    const done = await row(first.id)
    expect(done).toMatchObject({ status: 'completed', output: '{"answer":42}', duration_ms: 7 })
    expect(done.lease_owner).toBeNull()
    expect(Number(done.finished_at)).toBeGreaterThan(0)
    const events = (await listEventsAfter(database, tenantId, 0, 100)).slice(before.length)
    expect(events.map((e) => [e.run_id, e.type])).toEqual([[first.id, 'run.completed']])
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ runId: first.id, status: 'completed', attempt: 1 })
  })

  it.each([
    ['retry', 'pending'],
    ['released', 'running'],
    ['waiting', 'waiting'],
    ['failed', 'failed'],
    ['timeout', 'timeout'],
  ] as const)('writes a %s settlement as status %s', async (outcome, status) => {
    await enqueue(1)
    const first = await claimOne()
    const error = { code: 'boom', message: 'Größe "zu groß"', retryable: true }
    const settlement: Settlement =
      outcome === 'retry'
        ? { ...lease(first), outcome, error, runAt: Date.now() + 60_000, durationMs: 3 }
        : outcome === 'released'
          ? { ...lease(first), outcome }
          : outcome === 'waiting'
            ? { ...lease(first), outcome, reason: 'approval' }
            : { ...lease(first), outcome, error, durationMs: 3, deadLetter: outcome === 'failed' }
    const { accepted, claimed } = await queue.settleAndClaim([settlement], Date.now(), next())
    expect(accepted).toEqual([true])
    const after = await row(first.id)
    expect(after.status).toBe(status)
    if (outcome === 'waiting') expect(after.wait_reason).toBe('approval')
    if (outcome === 'failed') expect(after.dead_lettered_at).not.toBeNull()
    if (outcome !== 'released' && outcome !== 'waiting') expect(after.error_message).toBe('Größe "zu groß"')
    if (outcome === 'retry') {
      // Pending again, due in a minute: not claimed now.
      expect(Number(after.run_at)).toBeGreaterThan(Date.now() + 50_000)
      expect(claimed).toEqual([])
    } else if (outcome === 'released') {
      // Given back untouched (attempt not counted) and due at once: the same call claims it again.
      expect(claimed.map((r) => r.id)).toEqual([first.id])
      expect(Number(after.attempt)).toBe(1)
      expect(Number(claimed[0]!.lease_token)).toBeGreaterThan(Number(first.lease_token))
    } else expect(claimed).toEqual([])
  })

  it('refuses a settlement whose lease token no longer holds and still claims', async () => {
    await enqueue(2)
    const first = await claimOne()
    const { accepted, claimed } = await queue.settleAndClaim(
      [
        {
          id: first.id,
          token: Number(first.lease_token) + 1,
          outcome: 'completed',
          output: null,
          durationMs: 1,
        },
      ],
      Date.now(),
      next(),
    )
    expect(accepted).toEqual([false])
    expect((await row(first.id)).status).toBe('running')
    expect(claimed).toHaveLength(1)
    // The real holder can still settle it.
    const again = await queue.settleAndClaim(
      [{ ...lease(first), outcome: 'completed', output: null, durationMs: 1 }],
      Date.now(),
      { ...next(), limit: 0 },
    )
    expect(again.accepted).toEqual([true])
  })

  it('respects a concurrency key when the next due run has one', async () => {
    await enqueue(1)
    await enqueue(2, { concurrencyKey: 'mailbox' })
    const first = await claimOne()
    const { claimed } = await queue.settleAndClaim(
      [{ ...lease(first), outcome: 'completed', output: null, durationMs: 1 }],
      Date.now(),
      next(),
    )
    expect(claimed).toHaveLength(1)
    expect(claimed[0]!.concurrency_key).toBe('mailbox')
    // The key's limit is 1 and its one run is running: nothing more of that key.
    const { claimed: more } = await queue.settleAndClaim([], Date.now(), next('w2'))
    expect(more).toEqual([])
  })
})
