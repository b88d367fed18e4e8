import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../../test/databases.ts'
import { testLog as log } from '../../test/output-capture.ts'
import type { Db } from '../database.ts'
import { createLocalBus } from '../platform/bus.ts'
import { ManualClock } from '../platform/clock.ts'
import type { DialectName } from '../platform/db/database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { waitForChildren } from './executor.ts'
import { createQueue } from './kernel.ts'
import type { ClaimOptions, RunQueue } from './queue.ts'
import { createRunService, type RunService } from './run.service.ts'
import type { RunRow } from './run.table.ts'
import type { EnqueueRequest } from './run.types.ts'

// One source of queue semantics (issue 12): the same script drives every write path of the queue on
// SQLite and on PostgreSQL — enqueue (single, many, keyed, inside a caller's transaction), claim
// (keyless, keyed, batched), settle (each outcome), settle-and-claim, rescue, cancel, resume (by id,
// by key, a stale one), manual retry, the parked runs' sweep — and the resulting rows and outbox
// events must be identical. Ids are replaced by the order the runs were created in.

const tenantId = 'default'
const t0 = Date.parse('2026-06-01T00:00:00Z')
const leaseMs = 10_000

interface Snapshot {
  step: string
  runs: Record<string, unknown>[]
  events: Record<string, unknown>[]
  results: unknown
}

async function script(dialect: DialectName, cleanups: Array<() => Promise<void>>): Promise<Snapshot[]> {
  const testDb: TestDatabase = await createTestDatabase(dialect)
  const database: Db = await testDb.open()
  cleanups.push(async () => {
    await database.close()
    await testDb.cleanup()
  })
  const clock = new ManualClock(t0)
  const bus = createLocalBus()
  const queue: RunQueue = createQueue(database)
  const runs: RunService = createRunService({
    database,
    bus,
    clock,
    log,
    backpressure: { warnPending: 1e9, dropPending: 1e9 },
  })
  const labels = new Map<string, string>()
  const label = (id: string | null) => (id === null ? null : (labels.get(id) ?? `?${id}`))
  const snapshots: Snapshot[] = []
  let eventsSeen = 0

  const request = (name: string, extra: Partial<EnqueueRequest> = {}): EnqueueRequest => ({
    tenantId,
    kind: 'work',
    trigger: 'api',
    input: { name },
    // A distinct run_at per run makes claim order (priority, run_at, id) independent of id order.
    runAt: t0 - 1000 + labels.size * 10 + Number(extra.priority ?? 0),
    maxRetries: 1,
    ...extra,
  })
  function remember(result: { status: string; run?: { id: string } }, name: string) {
    if (result.run && !labels.has(result.run.id)) labels.set(result.run.id, name)
  }
  async function enqueue(name: string, extra: Partial<EnqueueRequest> = {}) {
    const result = await runs.enqueue(request(name, extra))
    remember(result, name)
    return result
  }
  const claim = (limit: number, options: Partial<ClaimOptions> = {}) =>
    queue.claim({ workerId: 'w', kinds: ['work', 'other'], limit, now: clock.now(), leaseMs, ...options })
  const names = (rows: RunRow[]) => rows.map((row) => label(row.id))
  const byName = (name: string) => [...labels].find(([, n]) => n === name)![0]
  const lease = async (name: string) => {
    const row = await database.db
      .selectFrom('runs')
      .select(['id', 'lease_token'])
      .where('id', '=', byName(name))
      .executeTakeFirstOrThrow()
    return { id: row.id, token: Number(row.lease_token) }
  }

  async function snapshot(step: string, results: unknown = null) {
    const rows = await database.db.selectFrom('runs').selectAll().orderBy('created_at').execute()
    const events = await database.db
      .selectFrom('run_events')
      .selectAll()
      .where('run_id', 'in', [...labels.keys()])
      .orderBy('id')
      .execute()
    const fresh = events.slice(eventsSeen)
    eventsSeen = events.length
    snapshots.push({
      step,
      results,
      runs: rows
        .map((row) => ({
          name: label(row.id),
          parent: label(row.parent_run_id),
          status: row.status,
          attempt: row.attempt,
          maxAttempts: row.max_attempts,
          leaseToken: Number(row.lease_token),
          leaseOwner: row.lease_owner,
          leaseExpiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
          runAt: Number(row.run_at) - t0,
          output: row.output === null ? null : JSON.parse(row.output),
          result: row.result === null ? null : JSON.parse(row.result),
          error: row.error_code,
          errorRetryable: row.error_retryable,
          deadLettered: row.dead_lettered_at !== null,
          waitReason: row.wait_reason,
          waitUntil: row.wait_until === null ? null : Number(row.wait_until) - t0,
          correlationKey: row.correlation_key,
          finished: row.finished_at !== null,
          started: row.started_at !== null,
          idempotencyKey: row.idempotency_key,
        }))
        .sort((a, b) => String(a.name).localeCompare(String(b.name))),
      // Events of one statement may be numbered in any order: compare them as a set, by run.
      events: fresh
        .map((event) => {
          const payload = JSON.parse(event.payload) as Record<string, unknown>
          return {
            type: event.type,
            run: label(event.run_id),
            payload: {
              ...payload,
              runId: label(payload.runId as string),
              parentRunId: label((payload.parentRunId as string | null) ?? null),
            },
          }
        })
        .sort((a, b) => `${a.run}${a.type}`.localeCompare(`${b.run}${b.type}`)),
    })
  }

  // Enqueue: single, many with keys, idempotent twice, inside a caller's transaction, a future one.
  await enqueue('a', { priority: 5 })
  const many = await runs.enqueueMany([
    request('k1', { concurrencyKey: 'key', priority: 3 }),
    request('k2', { concurrencyKey: 'key', priority: 3 }),
    request('b', { priority: 1 }),
  ])
  for (const [i, result] of many.entries()) remember(result, ['k1', 'k2', 'b'][i]!)
  await enqueue('idem', { idempotencyKey: 'once' })
  const again = await runs.enqueue(request('idem-again', { idempotencyKey: 'once' }))
  const inTrx = await writeTransaction(database, (trx) =>
    runs.enqueueManyIn(trx, [
      request('in-trx', { kind: 'other' }),
      request('idem-in-trx', { idempotencyKey: 'once' }),
    ]),
  )
  for (const [i, result] of inTrx.entries()) remember(result, ['in-trx', 'idem-in-trx'][i]!)
  await enqueue('later', { runAt: t0 + 60_000 })
  await enqueue('parent')
  await snapshot('enqueue', { again: again.status, inTrx: inTrx.map((r) => r.status) })

  // Claims: a kind filter, then a batch that meets the busy key.
  await snapshot('claim kinds', names(await claim(10, { kinds: ['nobody-serves-this'] })))
  await snapshot('claim two', names(await claim(2)))
  await snapshot('claim batch', names(await claim(10)))

  // Settle each outcome.
  clock.advance(100)
  const settled = await queue.settle(
    [
      {
        ...(await lease('a')),
        outcome: 'completed',
        output: { ok: true },
        result: { outputHash: 'h', isNew: true, tokensIn: 7, costUsd: 0.25 },
        durationMs: 100,
      },
      {
        ...(await lease('k1')),
        outcome: 'failed',
        error: { code: 'boom', message: 'It broke.', retryable: false },
        durationMs: 5,
        deadLetter: true,
      },
      {
        ...(await lease('b')),
        outcome: 'retry',
        error: { code: 'flaky', message: 'Try again.', retryable: true },
        runAt: clock.now() + 500,
        durationMs: 5,
      },
      {
        ...(await lease('idem')),
        outcome: 'waiting',
        reason: 'approval',
        until: clock.now() + 5000,
        correlationKey: 'approval:1',
      },
      { ...(await lease('in-trx')), outcome: 'released' },
      { ...(await lease('parent')), outcome: 'waiting', reason: waitForChildren },
      // A stale token changes nothing.
      { id: byName('k2'), token: 99, outcome: 'released' },
    ],
    clock.now(),
  )
  await snapshot('settle outcomes', settled)

  // Children of the parked parent; the freed key lets k2 go; settle-and-claim.
  const child = await runs.enqueue(request('child', { parentRunId: byName('parent') }))
  remember(child, 'child')
  await snapshot('child enqueued')
  await snapshot('claim after settle', names(await claim(1)))
  clock.advance(600)
  const next = await queue.settleAndClaim(
    [
      {
        ...(await lease('k2')),
        outcome: 'timeout',
        error: { code: 'timeout', message: 'Too slow.', retryable: false },
        durationMs: 9,
        deadLetter: false,
      },
    ],
    clock.now(),
    { workerId: 'w2', kinds: ['work', 'other'], limit: 3, now: clock.now(), leaseMs },
  )
  await snapshot('settle and claim', { accepted: next.accepted, claimed: names(next.claimed) })

  // Rescue: the leases run out; cancel a running and a pending run.
  clock.advance(leaseMs + 1)
  await snapshot('rescue', names(await queue.rescueExpired(clock.now(), 10)).sort())
  await snapshot('cancel pending', (await runs.cancel(tenantId, byName('later'))).status)
  const running = await claim(1)
  await snapshot('claim for cancel', names(running))
  await snapshot('cancel running', (await runs.cancel(tenantId, running[0]!.id)).status)

  // Resume by key, then again (a no-op, said so: the key named a parking that is over), by a stale key.
  const byKey = await runs.resume(tenantId, { correlationKey: 'approval:1' }, { input: { approved: true } })
  const twice = await runs.resume(tenantId, { correlationKey: 'approval:1' })
  const stale = await runs.resume(tenantId, { id: byName('parent'), correlationKey: 'approval:1' })
  await snapshot('resume', {
    byKey: [byKey.resumed, label(byKey.run?.id ?? null)],
    twice: [twice.resumed, label(twice.run?.id ?? null)],
    stale: [stale.resumed, label(stale.run?.id ?? null)],
  })

  // Manual retry of the dead letter; the parent resumes when its child finishes; a deadline passes.
  await snapshot('retry', (await runs.retry(tenantId, byName('k1'))).status)
  const childLease = await claim(10)
  await snapshot('claim children', names(childLease))
  for (const row of childLease) {
    await queue.settle(
      [{ id: row.id, token: Number(row.lease_token), outcome: 'completed', output: null, durationMs: 1 }],
      clock.now(),
    )
  }
  await snapshot('children settled', await runs.resumeParentIfDone(tenantId, byName('parent')))
  const parkAgain = await claim(10)
  for (const row of parkAgain)
    await queue.settle(
      [
        {
          id: row.id,
          token: Number(row.lease_token),
          outcome: 'waiting',
          reason: 'later',
          until: clock.now() + 1000,
        },
      ],
      clock.now(),
    )
  clock.advance(1001)
  await snapshot('sweep', { parked: names(parkAgain), swept: await runs.sweepParked() })
  if (dialect === 'postgres') {
    // The key counts (migration 0017) followed every lease taken and ended: one running k1 is left.
    const keys = await database.db.selectFrom('run_keys').selectAll().execute()
    const runningKeyed = await database.db
      .selectFrom('runs')
      .select('id')
      .where('status', '=', 'running')
      .where('concurrency_key', '=', 'key')
      .execute()
    expect(keys).toEqual([{ key: 'key', running: runningKeyed.length }])
    expect(await queue.repair()).toBe(0)
    // The safety net mends a count gone wrong (here by hand) and a queued key without its row.
    await database.db.deleteFrom('run_keys').execute()
    await database.db.insertInto('run_keys').values({ key: 'stray', running: 3 }).execute()
    await sql`INSERT INTO run_queue (id, kind, priority, run_at, lease_token, concurrency_key, concurrency_limit)
      VALUES ('orphan', 'work', 0, ${t0}, 0, 'lost', 1)`.execute(database.db)
    expect(await queue.repair()).toBe(1)
    expect(await database.db.selectFrom('run_keys').selectAll().orderBy('key').execute()).toEqual([
      { key: 'lost', running: 0 },
      { key: 'stray', running: 0 },
    ])
  }
  return snapshots
}

describe.runIf(process.env.OPENORCH_TEST_POSTGRES === '1')('queue semantics on both engines', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('every write path leaves the same rows and events on SQLite and PostgreSQL', async () => {
    const sqlite = await script('sqlite', cleanups)
    const postgres = await script('postgres', cleanups)
    for (const [i, step] of sqlite.entries()) expect(postgres[i], step.step).toEqual(step)
    // And the script says what it should: spot checks of the semantics themselves.
    const at = (name: string) => sqlite.find((s) => s.step === name)!
    expect(at('enqueue').results).toEqual({ again: 'existing', inTrx: ['created', 'existing'] })
    expect(at('claim kinds').results).toEqual([])
    expect(at('claim two').results).toEqual(['a', 'k1'])
    // k2 waits behind the busy key; the future run is not due.
    expect(at('claim batch').results).toEqual(['b', 'idem', 'in-trx', 'parent'])
    expect(at('settle outcomes').results).toEqual([true, true, true, true, true, true, false])
    expect(at('claim after settle').results).toEqual(['k2'])
    expect(at('resume').results).toEqual({
      byKey: [true, 'idem'],
      twice: [false, null],
      stale: [false, 'parent'],
    })
    expect(at('children settled').results).toBe(true)
    expect(at('sweep').runs.find((r) => r.name === 'parent')).toMatchObject({
      status: 'timeout',
      error: 'wait_timeout',
    })
  })
})
