import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/databases.ts'
import { createTestKernel, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { ManualClock } from '../platform/clock.ts'
import { RunFailure } from './run.failure.ts'
import { listEventsAfter } from './run.store.ts'
import type { Run } from './run.types.ts'

const tenantId = 'default'

describe.each(dialects)('run kernel on %s', (dialect) => {
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

  function kernel(options: Parameters<typeof createTestKernel>[1] = {}) {
    const k = createTestKernel(database, options)
    cleanups.push(async () => {
      await k.stop(1000)
      await k.bus.close()
    })
    return k
  }

  const finished = (k: ReturnType<typeof kernel>, id: string, status?: Run['status']) =>
    waitFor(
      async () => {
        const run = await k.runs.get(tenantId, id)
        if (
          status
            ? run.status === status
            : ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status)
        )
          return run
        return undefined
      },
      { what: `run ${id} to finish` },
    )

  it('runs an enqueued run, stores pending and completed in the outbox and announces all three live', async () => {
    const k = kernel()
    k.executors.register('echo', async ({ run }) => ({
      output: { echoed: run.input },
      result: { tokensIn: 3 },
    }))
    const live: Array<{ type: string; runId: string; id: number }> = []
    k.bus.subscribe('events', (message) => live.push(...JSON.parse(message)))
    await k.bus.ready()
    k.start()
    const result = await k.runs.enqueue({ tenantId, kind: 'echo', trigger: 'api', input: { hello: 'world' } })
    if (result.status !== 'created') throw new Error('expected a created run')
    const run = await finished(k, result.run.id)
    expect(run).toMatchObject({
      status: 'completed',
      attempt: 1,
      output: { echoed: { hello: 'world' } },
      // The executor's result, stored and returned as it was: the kernel does not read it.
      result: { tokensIn: 3 },
    })
    expect(run.startedAt).not.toBeNull()
    expect(run.finishedAt).not.toBeNull()
    // On PostgreSQL events become readable once every older transaction of the cluster has ended
    // (the relay's horizon, decision 0004): another test's open transaction can hold them back briefly.
    const events = await waitFor(
      async () => {
        const found = await listEventsAfter(database, tenantId, 0, 100)
        return found.length >= 2 ? found : undefined
      },
      { what: 'both events behind the horizon' },
    )
    expect(events.map((e) => e.type)).toEqual(['run.pending', 'run.completed'])
    await waitFor(() => live.length >= 3, { what: 'three live events' })
    const types = live.filter((e) => e.runId === run.id).map((e) => e.type)
    expect(new Set(types)).toEqual(new Set(['run.pending', 'run.running', 'run.completed']))
    expect(live.find((e) => e.type === 'run.running')?.id).toBe(0)
    expect(live.find((e) => e.type === 'run.completed')?.id).toBe(Number(events[1]!.id))
  })

  it('retries transient failures with growing backoff, honours retryAfterMs and dead-letters when exhausted', async () => {
    const starts: number[] = []
    const k = kernel()
    k.executors.register('flaky', async ({ run }) => {
      starts.push(Date.now())
      if (run.attempt === 1) throw new RunFailure('provider_rate_limited', 'slow down', true, 300)
      throw new RunFailure('provider_unavailable', 'server error', true)
    })
    k.start()
    const result = await k.runs.enqueue({
      tenantId,
      kind: 'flaky',
      trigger: 'api',
      maxRetries: 2,
      retryBaseMs: 50,
    })
    if (result.status !== 'created') throw new Error('expected a created run')
    const run = await finished(k, result.run.id)
    expect(run.status).toBe('failed')
    expect(run.attempt).toBe(3)
    expect(run.deadLettered).toBe(true)
    expect(run.error).toMatchObject({ code: 'provider_unavailable', retryable: true })
    // Retry-After of 300 ms is a floor for the first retry.
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(290)
    const dead = await k.runs.list(tenantId, { deadLettered: true, limit: 10 })
    expect(dead.items.map((r) => r.id)).toEqual([run.id])
  })

  it('does not retry a non-retryable failure and lets a person retry it by hand', async () => {
    let calls = 0
    const k = kernel()
    k.executors.register('auth', async () => {
      calls++
      if (calls === 1) throw new RunFailure('provider_auth', 'invalid key', false)
      return { output: 'ok now' }
    })
    k.start()
    const result = await k.runs.enqueue({
      tenantId,
      kind: 'auth',
      trigger: 'api',
      maxRetries: 3,
      retryBaseMs: 10,
    })
    if (result.status !== 'created') throw new Error('expected a created run')
    const failed = await finished(k, result.run.id)
    expect(failed).toMatchObject({ status: 'failed', attempt: 1, deadLettered: true })
    expect(failed.error?.code).toBe('provider_auth')
    await k.runs.retry(tenantId, failed.id)
    const retried = await finished(k, failed.id)
    expect(retried).toMatchObject({
      status: 'completed',
      attempt: 2,
      output: 'ok now',
      deadLettered: false,
      error: null,
    })
    expect(calls).toBe(2)
    await expect(k.runs.retry(tenantId, failed.id)).rejects.toMatchObject({
      code: 'run_not_retriable',
      status: 409,
    })
  })

  it('times out a run through its AbortSignal and discards the late result', async () => {
    let sawAbort = false
    const k = kernel()
    k.executors.register('slow', ({ signal }) => {
      signal.addEventListener('abort', () => {
        sawAbort = true
      })
      return new Promise((resolve) => setTimeout(() => resolve({ output: 'too late' }), 600))
    })
    k.start()
    const result = await k.runs.enqueue({ tenantId, kind: 'slow', trigger: 'api', timeoutMs: 100 })
    if (result.status !== 'created') throw new Error('expected a created run')
    const run = await finished(k, result.run.id)
    expect(run.status).toBe('timeout')
    expect(run.error?.code).toBe('timeout')
    expect(sawAbort).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 700))
    expect((await k.runs.get(tenantId, run.id)).output).toBeNull()
  })

  it('cancels a pending run and a running run; the running executor is aborted', async () => {
    let aborted = false
    const k = kernel({ worker: { concurrency: 1 } })
    k.executors.register('hold', ({ signal }) => {
      return new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true
          reject(signal.reason)
        })
      })
    })
    k.start()
    const first = await k.runs.enqueue({ tenantId, kind: 'hold', trigger: 'api' })
    const second = await k.runs.enqueue({ tenantId, kind: 'hold', trigger: 'api' })
    if (first.status !== 'created' || second.status !== 'created') throw new Error('expected created runs')
    await waitFor(async () => (await k.runs.get(tenantId, first.run.id)).status === 'running')
    const cancelledPending = await k.runs.cancel(tenantId, second.run.id)
    expect(cancelledPending.status).toBe('cancelled')
    const cancelledRunning = await k.runs.cancel(tenantId, first.run.id)
    expect(cancelledRunning.status).toBe('cancelled')
    await waitFor(() => aborted)
    await expect(k.runs.cancel(tenantId, first.run.id)).rejects.toMatchObject({ code: 'run_not_cancellable' })
    expect((await k.runs.get(tenantId, second.run.id)).attempt).toBe(0)
  })

  it('stops waiting for an executor that never reads its signal, and one read later is already aborted', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let abortedWhenRead: boolean | undefined
    let reason: unknown
    const k = kernel({ worker: { concurrency: 1 } })
    // Reads `signal` only after the run was cancelled: the signal is made then, already aborted.
    k.executors.register('late-reader', async (context) => {
      await gate
      abortedWhenRead = context.signal.aborted
      reason = context.signal.reason
      return { output: 'too late' }
    })
    k.start()
    const result = await k.runs.enqueue({ tenantId, kind: 'late-reader', trigger: 'api' })
    if (result.status !== 'created') throw new Error('expected a created run')
    await waitFor(async () => (await k.runs.get(tenantId, result.run.id)).status === 'running')
    await k.runs.cancel(tenantId, result.run.id)
    // The worker no longer waits for the executor: its slot is free for the next run.
    k.executors.register('quick', async () => ({ output: 'ok' }))
    const next = await k.runs.enqueue({ tenantId, kind: 'quick', trigger: 'api' })
    if (next.status !== 'created') throw new Error('expected a created run')
    expect((await finished(k, next.run.id)).status).toBe('completed')
    release()
    await waitFor(() => abortedWhenRead !== undefined)
    expect(abortedWhenRead).toBe(true)
    expect(reason).toMatchObject({ name: 'RunAbort', reason: 'cancelled' })
    expect((await k.runs.get(tenantId, result.run.id)).output).toBeNull()
  })

  it('returns the original run for a repeated idempotency key within 24 h, and a new one after', async () => {
    const clock = new ManualClock(Date.now())
    const k = kernel({ clock })
    const first = await k.runs.enqueue({ tenantId, kind: 'x', trigger: 'api', idempotencyKey: 'abc' })
    const again = await k.runs.enqueue({ tenantId, kind: 'x', trigger: 'api', idempotencyKey: 'abc' })
    expect(first.status).toBe('created')
    expect(again.status).toBe('existing')
    if (first.status === 'dropped' || again.status === 'dropped') throw new Error('unexpected drop')
    expect(again.run.id).toBe(first.run.id)
    const otherTenant = await database.db
      .insertInto('tenants')
      .values({ tenant_id: 'other', name: 'Other', created_at: 0 })
      .execute()
    expect(otherTenant).toBeDefined()
    const elsewhere = await k.runs.enqueue({
      tenantId: 'other',
      kind: 'x',
      trigger: 'api',
      idempotencyKey: 'abc',
    })
    expect(elsewhere.status).toBe('created')
    clock.advance(24 * 60 * 60 * 1000 + 1)
    const later = await k.runs.enqueue({ tenantId, kind: 'x', trigger: 'api', idempotencyKey: 'abc' })
    expect(later.status).toBe('created')
    if (later.status === 'dropped') throw new Error('unexpected drop')
    expect(later.run.id).not.toBe(first.run.id)
  })

  it('never runs more than the global concurrency, and one run per concurrency key', async () => {
    let inFlight = 0
    let maxInFlight = 0
    const perKey = new Map<string, number>()
    let maxPerKey = 0
    const k = kernel({ worker: { concurrency: 3 } })
    k.executors.register('work', async ({ run }) => {
      const key = run.concurrencyKey ?? 'none'
      inFlight++
      perKey.set(key, (perKey.get(key) ?? 0) + 1)
      maxInFlight = Math.max(maxInFlight, inFlight)
      if (run.concurrencyKey) maxPerKey = Math.max(maxPerKey, perKey.get(key)!)
      await new Promise((resolve) => setTimeout(resolve, 15))
      inFlight--
      perKey.set(key, perKey.get(key)! - 1)
      return { output: null }
    })
    const requests = Array.from({ length: 30 }, (_, i) => ({
      tenantId,
      kind: 'work',
      trigger: 'api' as const,
      concurrencyKey: i % 3 === 0 ? null : `bot-${i % 2}`,
    }))
    await k.runs.enqueueMany(requests)
    k.start()
    await waitFor(
      async () => (await k.runs.list(tenantId, { status: 'completed', limit: 200 })).items.length === 30,
    )
    expect(maxInFlight).toBe(3)
    expect(maxPerKey).toBe(1)
  })

  it('takes up the next run behind a concurrency key as soon as the key is free, not at the next poll', async () => {
    // A poll a minute: only the settlement that frees the key can start the next run in time.
    const k = kernel({ worker: { concurrency: 4, pollIntervalMs: 60_000 } })
    k.executors.register('keyed', async () => ({ output: null }))
    k.start()
    await new Promise((resolve) => setTimeout(resolve, 100))
    await k.runs.enqueueMany(
      Array.from({ length: 5 }, () => ({
        tenantId,
        kind: 'keyed',
        trigger: 'api' as const,
        concurrencyKey: 'channel:1',
      })),
    )
    await waitFor(
      async () => (await k.runs.list(tenantId, { status: 'completed', limit: 10 })).items.length === 5,
      { what: 'five runs of one key, one after the other', timeoutMs: 5_000 },
    )
  })

  it('holds prefetched runs in a local queue within the concurrency limit and releases them on stop', async () => {
    let inFlight = 0
    let maxInFlight = 0
    const k = kernel({ worker: { concurrency: 2, localQueueSize: 6 } })
    k.executors.register('slow', async () => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 40))
      inFlight--
      return { output: 'ok' }
    })
    await k.runs.enqueueMany(
      Array.from({ length: 20 }, () => ({ tenantId, kind: 'slow', trigger: 'api' as const })),
    )
    k.start()
    await waitFor(
      async () => (await k.runs.list(tenantId, { status: 'completed', limit: 200 })).items.length >= 4,
    )
    // Up to 2 executing plus 6 leased and waiting locally.
    const running = await k.runs.list(tenantId, { status: 'running', limit: 200 })
    expect(running.items.length).toBeLessThanOrEqual(8)
    await k.stop(0)
    expect(maxInFlight).toBe(2)
    const afterStop = await k.runs.list(tenantId, { limit: 200 })
    expect(afterStop.items.filter((r) => r.status === 'running')).toHaveLength(0)
    for (const run of afterStop.items.filter((r) => r.status === 'pending')) expect(run.attempt).toBe(0)
    expect(afterStop.items.filter((r) => r.status === 'completed').length).toBeGreaterThanOrEqual(4)
  })

  it('with a local queue, claims few large batches and writes results in groups, each run once', async () => {
    const k = kernel({ worker: { concurrency: 4, localQueueSize: 64, settleBatchSize: 500 } })
    const claims: number[] = []
    const writes: number[] = []
    const { claim, settle, settleAndClaim } = k.queue
    k.queue.claim = async (options) => {
      const rows = await claim(options)
      claims.push(rows.length)
      return rows
    }
    k.queue.settle = (settlements, now) => {
      writes.push(settlements.length)
      return settle(settlements, now)
    }
    k.queue.settleAndClaim = async (settlements, now, next) => {
      writes.push(settlements.length)
      const outcome = await settleAndClaim(settlements, now, next)
      claims.push(outcome.claimed.length)
      return outcome
    }
    const seen = new Map<string, number>()
    k.executors.register('noop', async ({ run }) => {
      seen.set(run.id, (seen.get(run.id) ?? 0) + 1)
      return {}
    })
    await k.runs.enqueueMany(
      Array.from({ length: 400 }, () => ({ tenantId, kind: 'noop', trigger: 'api' as const })),
    )
    k.start()
    await waitFor(
      async () => (await k.runs.list(tenantId, { status: 'completed', limit: 500 })).items.length === 400,
      { timeoutMs: 20_000, what: 'all 400 runs to complete' },
    )
    expect(seen.size).toBe(400)
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
    // Claims wait for half the local queue to be free and ask for a power of two (≥ 32 runs each)
    // instead of one small claim per finished run; results finished during a write go into the next.
    const nonEmptyClaims = claims.filter((n) => n > 0)
    expect(nonEmptyClaims.length).toBeLessThanOrEqual(Math.ceil(400 / 32) + 2)
    expect(writes.length).toBeLessThan(400 / 4)
  })

  it.runIf(dialect === 'postgres')(
    'wakes a worker of another process through LISTEN/NOTIFY, without waiting for its poll',
    async () => {
      const other = await testDb.open()
      cleanups.push(() => other.close())
      const worker = kernel({ worker: { pollIntervalMs: 60_000 } })
      const started: number[] = []
      worker.executors.register('ping', async () => {
        started.push(Date.now())
        return {}
      })
      await worker.bus.ready()
      worker.start()
      // The producer has its own pool and bus, like a second process: only NOTIFY can wake the worker.
      const producer = createTestKernel(other)
      cleanups.push(() => producer.bus.close())
      await new Promise((resolve) => setTimeout(resolve, 300)) // past the worker's first claim
      const sent = Date.now()
      await producer.runs.enqueue({ tenantId, kind: 'ping', trigger: 'api' })
      await waitFor(() => started.length === 1, { timeoutMs: 5000, what: 'the worker to wake' })
      expect(started[0]! - sent).toBeLessThan(1000)
    },
  )

  it('settles and claims from 10 concurrent loops without a deadlock or a run claimed twice', async () => {
    const k = kernel()
    await k.runs.enqueueMany(
      Array.from({ length: 2000 }, () => ({ tenantId, kind: 'noop', trigger: 'api' as const })),
    )
    const seen = new Set<string>()
    let duplicates = 0
    await Promise.all(
      Array.from({ length: 10 }, async (_, loop) => {
        const workerId = `loop-${loop}`
        let current = (
          await k.queue.claim({ workerId, kinds: ['noop'], limit: 1, now: Date.now(), leaseMs: 30_000 })
        )[0]
        while (current) {
          if (seen.has(current.id)) duplicates++
          seen.add(current.id)
          const { accepted, claimed } = await k.queue.settleAndClaim(
            [
              {
                id: current.id,
                token: Number(current.lease_token),
                outcome: 'completed',
                output: null,
                durationMs: 0,
              },
            ],
            Date.now(),
            { workerId, kinds: ['noop'], limit: 1, now: Date.now(), leaseMs: 30_000 },
          )
          expect(accepted).toEqual([true])
          current = claimed[0]
        }
      }),
    )
    expect(duplicates).toBe(0)
    expect(seen.size).toBe(2000)
  })

  it('claims by priority, then first in first out', async () => {
    const order: string[] = []
    const k = kernel({ worker: { concurrency: 1 } })
    k.executors.register('p', async ({ run }) => {
      order.push(String(run.input))
      return {}
    })
    await k.runs.enqueue({ tenantId, kind: 'p', trigger: 'api', input: 'low-1' })
    await k.runs.enqueue({ tenantId, kind: 'p', trigger: 'api', input: 'high-1', priority: 10 })
    await k.runs.enqueue({ tenantId, kind: 'p', trigger: 'api', input: 'low-2' })
    await k.runs.enqueue({ tenantId, kind: 'p', trigger: 'api', input: 'high-2', priority: 10 })
    k.start()
    await waitFor(() => order.length === 4)
    expect(order).toEqual(['high-1', 'high-2', 'low-1', 'low-2'])
  })

  it('warns above the pending threshold and drops scheduled runs above the drop threshold, never manual ones', async () => {
    const dropped: string[] = []
    const warnings: string[] = []
    const log = pino(
      { level: 'warn' },
      { write: (line: string) => warnings.push(JSON.parse(line).msg as string) },
    )
    const k = kernel({ backpressure: { warnPending: 2, dropPending: 4 }, log })
    expect(await k.runs.checkQueue()).toEqual({ pending: 0, level: 'ok' })
    const enqueue = (trigger: 'schedule' | 'manual') => k.runs.enqueue({ tenantId, kind: 'idle', trigger })
    for (let i = 0; i < 5; i++) expect((await enqueue('schedule')).status).toBe('created')
    const drop = await enqueue('schedule')
    expect(drop).toMatchObject({ status: 'dropped', pending: 5 })
    if (drop.status === 'dropped') dropped.push(drop.reason)
    expect(dropped[0]).toMatch(/queue_full/)
    expect((await enqueue('manual')).status).toBe('created')
    expect(await k.runs.checkQueue()).toEqual({ pending: 6, level: 'drop' })
    // Warned once when the queue crossed the threshold, not on every enqueue.
    expect(warnings.filter((m) => m === 'run queue is backing up')).toHaveLength(1)
    expect(warnings.filter((m) => m === 'scheduled run dropped')).toHaveLength(1)
  })

  it('parks a run in waiting without holding a slot and resumes it with new input', async () => {
    const k = kernel({ worker: { concurrency: 1 } })
    k.executors.register('approval', async ({ run }) =>
      run.input === 'approved' ? { output: 'done' } : { wait: 'approval' },
    )
    k.executors.register('other', async () => ({ output: 'ran' }))
    k.start()
    const parked = await k.runs.enqueue({ tenantId, kind: 'approval', trigger: 'api' })
    if (parked.status !== 'created') throw new Error('expected created')
    const waiting = await finished(k, parked.run.id, 'waiting')
    expect(waiting.waitReason).toBe('approval')
    const other = await k.runs.enqueue({ tenantId, kind: 'other', trigger: 'api' })
    if (other.status !== 'created') throw new Error('expected created')
    expect((await finished(k, other.run.id)).status).toBe('completed')
    expect(await k.runs.resume(tenantId, { id: parked.run.id }, { input: 'approved' })).toMatchObject({
      resumed: true,
    })
    expect(await finished(k, parked.run.id, 'completed')).toMatchObject({ output: 'done', attempt: 2 })
  })

  it('stops gracefully: finishes runs within the grace period and releases the rest', async () => {
    const k = kernel({ worker: { concurrency: 2 } })
    k.executors.register('short', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100))
      return { output: 'finished' }
    })
    k.executors.register(
      'long',
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    )
    k.start()
    const short = await k.runs.enqueue({ tenantId, kind: 'short', trigger: 'api' })
    const long = await k.runs.enqueue({ tenantId, kind: 'long', trigger: 'api' })
    if (short.status !== 'created' || long.status !== 'created') throw new Error('expected created')
    await waitFor(async () => (await k.runs.get(tenantId, long.run.id)).status === 'running')
    await k.stop(400)
    expect((await k.runs.get(tenantId, short.run.id)).status).toBe('completed')
    expect(await k.runs.get(tenantId, long.run.id)).toMatchObject({ status: 'pending', attempt: 0 })
  })

  it('keeps heart-beating during the grace period, so no other worker takes over a run that is finishing', async () => {
    const leaving = kernel({ worker: { concurrency: 1, leaseMs: 300, heartbeatIntervalMs: 100 } })
    const staying = kernel({
      worker: { concurrency: 1, leaseMs: 300, heartbeatIntervalMs: 100, rescueIntervalMs: 50 },
    })
    const ranBy: string[] = []
    leaving.executors.register('slow', async () => {
      ranBy.push('leaving')
      await new Promise((resolve) => setTimeout(resolve, 900))
      return { output: 'leaving' }
    })
    staying.executors.register('slow', async () => {
      ranBy.push('staying')
      return { output: 'staying' }
    })
    leaving.start()
    const job = await leaving.runs.enqueue({ tenantId, kind: 'slow', trigger: 'api', maxRetries: 2 })
    if (job.status !== 'created') throw new Error('expected created')
    await waitFor(() => ranBy.length === 1)
    staying.start()
    await leaving.stop(3000)
    expect(await leaving.runs.get(tenantId, job.run.id)).toMatchObject({
      status: 'completed',
      output: 'leaving',
      attempt: 1,
    })
    expect(ranBy).toEqual(['leaving'])
  })

  it('rescues an expired lease: pending again while attempts remain, failed lease_expired when none do', async () => {
    const clock = new ManualClock(Date.now())
    const k = kernel({
      clock,
      worker: { concurrency: 2, leaseMs: 1000, heartbeatIntervalMs: 60_000, rescueIntervalMs: 60_000 },
    })
    const retriable = await k.runs.enqueue({ tenantId, kind: 'gone', trigger: 'api', maxRetries: 1 })
    const last = await k.runs.enqueue({ tenantId, kind: 'gone', trigger: 'api' })
    if (retriable.status !== 'created' || last.status !== 'created') throw new Error('expected created')
    const claimed = await k.queue.claim({
      workerId: 'dead',
      kinds: ['gone'],
      limit: 2,
      now: clock.now(),
      leaseMs: 1000,
    })
    expect(claimed).toHaveLength(2)
    expect(await k.queue.rescueExpired(clock.now(), 10)).toHaveLength(0)
    clock.advance(1001)
    const rescued = await k.queue.rescueExpired(clock.now(), 10)
    expect(rescued).toHaveLength(2)
    expect(await k.runs.get(tenantId, retriable.run.id)).toMatchObject({ status: 'pending', attempt: 1 })
    const failed = await k.runs.get(tenantId, last.run.id)
    expect(failed).toMatchObject({ status: 'failed', deadLettered: true })
    expect(failed.error?.code).toBe('lease_expired')
    // The dead worker's completion is refused by the fencing token.
    const accepted = await k.queue.settle(
      claimed.map((row) => ({
        id: row.id,
        token: Number(row.lease_token),
        outcome: 'completed' as const,
        output: 'late',
        durationMs: 1,
      })),
      clock.now(),
    )
    expect(accepted).toEqual([false, false])
  })
})
