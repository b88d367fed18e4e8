import SqliteDatabase from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type ChildHandle, spawnWorkerChild } from '../../test/child-process.ts'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/databases.ts'
import { createTestKernel, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'

// Processes die and freeze at the worst moment; the run still completes exactly once.
const tenantId = 'default'

describe.each(dialects)('crash safety on %s', (dialect) => {
  let testDb: TestDatabase
  let database: Db
  const children: ChildHandle[] = []
  const cleanups: Array<() => Promise<void>> = []

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect)
    database = await testDb.open()
  })
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.process.kill('SIGCONT')
      child.process.kill('SIGKILL')
      await child.exited
    }
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await database.close()
    await testDb.cleanup()
  })

  function child(config: Record<string, unknown>) {
    const handle = spawnWorkerChild({
      location: testDb.location,
      workers: 1,
      concurrency: 1,
      leaseMs: 1000,
      ...config,
    })
    children.push(handle)
    return handle
  }

  /**
   * SIGSTOP, at a moment the child holds no SQLite write lock. SQLite cannot take a lock from a
   * frozen process (PostgreSQL commits a statement whether or not its client is frozen): a child
   * stopped inside its relay's or heartbeat's transaction would block every other writer until
   * SIGCONT, which is not the scenario under test. So on SQLite: stop, try the write lock from
   * outside, and if the child holds it, let it run a moment and stop it again.
   */
  async function freeze(handle: ChildHandle): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      handle.process.kill('SIGSTOP')
      const sqlitePath = testDb.location.sqlitePath
      if (!sqlitePath) return
      const probe = new SqliteDatabase(sqlitePath, { timeout: 100 })
      try {
        probe.exec('BEGIN IMMEDIATE; ROLLBACK')
        return
      } catch (error) {
        if (attempt >= 50) throw error
      } finally {
        probe.close()
      }
      handle.process.kill('SIGCONT')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  function kernel(options: Parameters<typeof createTestKernel>[1] = {}) {
    const k = createTestKernel(database, options)
    cleanups.push(async () => {
      await k.stop(1000)
      await k.bus.close()
    })
    return k
  }

  it('runs 10,000 runs exactly once across 4 workers in 2 processes', async () => {
    const k = kernel()
    const total = 10_000
    const requests = Array.from({ length: total }, () => ({
      tenantId,
      kind: 'noop',
      trigger: 'api' as const,
    }))
    for (let i = 0; i < total; i += 1000) await k.runs.enqueueMany(requests.slice(i, i + 1000))
    const workers = [
      child({ workers: 2, concurrency: 4, leaseMs: 10_000 }),
      child({ workers: 2, concurrency: 4, leaseMs: 10_000 }),
    ]
    await waitFor(
      async () =>
        (await k.runs.list(tenantId, { status: 'completed', limit: 1 })).items.length === 1 &&
        (
          await database.db
            .selectFrom('runs')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('status', '!=', 'completed')
            .executeTakeFirstOrThrow()
        ).n === 0,
      { timeoutMs: 120_000, intervalMs: 250, what: 'all runs to complete' },
    )
    for (const worker of workers) {
      worker.process.kill('SIGTERM')
      await worker.exited
    }
    const executed = workers.flatMap((w) =>
      w.lines.filter((l) => l.event === 'executed').map((l) => String(l.runId)),
    )
    expect(executed).toHaveLength(total)
    expect(new Set(executed).size).toBe(total)
    // Both processes took part.
    for (const worker of workers)
      expect(worker.lines.filter((l) => l.event === 'executed').length).toBeGreaterThan(0)
    const attempts = await database.db.selectFrom('runs').select('attempt').distinct().execute()
    expect(attempts.map((a) => Number(a.attempt))).toEqual([1])
  })

  it('rescues the run of a process killed with SIGKILL and completes it exactly once', async () => {
    const k = kernel({ worker: { leaseMs: 1000, rescueIntervalMs: 200 } })
    k.executors.register('sleep', async () => ({ output: 'finished by the survivor' }))
    const retried = await k.runs.enqueue({ tenantId, kind: 'sleep', trigger: 'api', maxRetries: 1 })
    if (retried.status !== 'created') throw new Error('expected created')
    const victim = child({ sleepMs: 60_000 })
    await victim.waitForLine((l) => l.event === 'started' && l.runId === retried.run.id)
    victim.process.kill('SIGKILL')
    await victim.exited
    k.start()
    const run = await waitFor(async () => {
      const r = await k.runs.get(tenantId, retried.run.id)
      return r.status === 'completed' ? r : undefined
    })
    expect(run).toMatchObject({ status: 'completed', attempt: 2, output: 'finished by the survivor' })
    const completions = await database.db
      .selectFrom('run_events')
      .select('id')
      .where('run_id', '=', run.id)
      .where('type', '=', 'run.completed')
      .execute()
    expect(completions).toHaveLength(1)
  })

  it('fails a killed run with lease_expired when it has no attempts left', async () => {
    const k = kernel({ worker: { leaseMs: 1000, rescueIntervalMs: 200 } })
    const last = await k.runs.enqueue({ tenantId, kind: 'sleep', trigger: 'api' })
    if (last.status !== 'created') throw new Error('expected created')
    const victim = child({ sleepMs: 60_000 })
    await victim.waitForLine((l) => l.event === 'started')
    victim.process.kill('SIGKILL')
    await victim.exited
    k.start()
    const run = await waitFor(async () => {
      const r = await k.runs.get(tenantId, last.run.id)
      return r.status === 'failed' ? r : undefined
    })
    expect(run.error?.code).toBe('lease_expired')
    expect(run.deadLettered).toBe(true)
  })

  it('refuses the heartbeat and completion of a zombie worker frozen past its lease', async () => {
    const k = kernel({ worker: { leaseMs: 1000, rescueIntervalMs: 200 } })
    k.executors.register('sleep', async () => ({ output: 'finished by the survivor' }))
    const job = await k.runs.enqueue({ tenantId, kind: 'sleep', trigger: 'api', maxRetries: 1 })
    if (job.status !== 'created') throw new Error('expected created')
    const zombie = child({ sleepMs: 1500 })
    await zombie.waitForLine((l) => l.event === 'started' && l.runId === job.run.id)
    await freeze(zombie)
    k.start()
    const run = await waitFor(async () => {
      const r = await k.runs.get(tenantId, job.run.id)
      return r.status === 'completed' ? r : undefined
    })
    expect(run).toMatchObject({ attempt: 2, output: 'finished by the survivor' })
    zombie.process.kill('SIGCONT')
    // Awake again, the zombie's heartbeat is refused and it aborts; it never writes its result.
    await zombie.waitForLine(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('heartbeat refused'),
      10_000,
    )
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(zombie.lines.filter((l) => l.event === 'settled' && l.accepted === true)).toHaveLength(0)
    expect(await k.runs.get(tenantId, job.run.id)).toMatchObject({
      status: 'completed',
      output: 'finished by the survivor',
    })
    const completions = await database.db
      .selectFrom('run_events')
      .select('id')
      .where('run_id', '=', job.run.id)
      .where('type', '=', 'run.completed')
      .execute()
    expect(completions).toHaveLength(1)
  })

  it('fences a frozen worker that tries to complete with its old token', async () => {
    const k = kernel()
    const job = await k.runs.enqueue({ tenantId, kind: 'raw', trigger: 'api', maxRetries: 1 })
    if (job.status !== 'created') throw new Error('expected created')
    const now = Date.now()
    const [zombieClaim] = await k.queue.claim({
      kinds: ['raw'],
      workerId: 'zombie',
      limit: 1,
      now,
      leaseMs: 1000,
    })
    // The zombie sleeps past its lease; the rescuer and a second worker take over.
    await k.queue.rescueExpired(now + 1001, 10)
    const [survivorClaim] = await k.queue.claim({
      kinds: ['raw'],
      workerId: 'survivor',
      limit: 1,
      now: now + 1002,
      leaseMs: 1000,
    })
    expect(Number(survivorClaim!.lease_token)).toBeGreaterThan(Number(zombieClaim!.lease_token))
    const zombieLease = { id: zombieClaim!.id, token: Number(zombieClaim!.lease_token) }
    expect(await k.queue.heartbeat([zombieLease], now + 1003, 1000)).toEqual(new Set([zombieClaim!.id]))
    expect(
      await k.queue.settle(
        [{ ...zombieLease, outcome: 'completed', output: 'zombie', durationMs: 1 }],
        now + 1004,
      ),
    ).toEqual([false])
    const survivorLease = { id: survivorClaim!.id, token: Number(survivorClaim!.lease_token) }
    expect(await k.queue.heartbeat([survivorLease], now + 1005, 1000)).toEqual(new Set())
    expect(
      await k.queue.settle(
        [{ ...survivorLease, outcome: 'completed', output: 'survivor', durationMs: 1 }],
        now + 1006,
      ),
    ).toEqual([true])
    expect(await k.runs.get(tenantId, job.run.id)).toMatchObject({
      status: 'completed',
      output: 'survivor',
      attempt: 2,
    })
  })
})
