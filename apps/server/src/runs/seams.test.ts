import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, type TestDatabase } from '../../test/databases.ts'
import { createTestKernel, waitFor } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { waitForChildren } from './executor.ts'
import type { Run } from './run.types.ts'

// The kernel's seams (issue 12): claims by kind, parking and resuming (fenced, by key, with a
// deadline), parents waiting for their children, enqueueing inside a caller's transaction.

const tenantId = 'default'

describe.each(dialects)('kernel seams on %s', (dialect) => {
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

  const status = (k: ReturnType<typeof kernel>, id: string, wanted: Run['status']) =>
    waitFor(
      async () => {
        const run = await k.runs.get(tenantId, id)
        return run.status === wanted ? run : undefined
      },
      { what: `run ${id} to be ${wanted}` },
    )

  it('leaves a run of a kind no process serves waiting, says so, and runs it once a process serves it', async () => {
    const lines: Array<{ msg: string; kind?: string }> = []
    const log = pino(
      { level: 'warn' },
      { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; kind?: string }) },
    )
    const first = kernel({ log, queueCheckIntervalMs: 50, presenceIntervalMs: 50 })
    first.executors.register('mail', async () => ({ output: 'sent' }))
    first.start()
    // Due a minute ago: long enough to count as unserved at once.
    const made = await first.runs.enqueue({
      tenantId,
      kind: 'report',
      trigger: 'api',
      runAt: Date.now() - 60_000,
    })
    if (made.status !== 'created') throw new Error('expected created')
    await waitFor(() => first.unserved.get('report') === 1, { what: 'the unserved kind to be reported' })
    expect(
      lines.some((line) => line.kind === 'report' && line.msg.includes('no running process serves')),
    ).toBe(true)
    // Not failed (no executor_missing): it waits.
    expect((await first.runs.get(tenantId, made.run.id)).status).toBe('pending')

    const second = kernel({ queueCheckIntervalMs: 50, presenceIntervalMs: 50 })
    second.executors.register('report', async () => ({ output: 'reported' }))
    second.start()
    expect(await status(second, made.run.id, 'completed')).toMatchObject({ output: 'reported', attempt: 1 })
    await waitFor(() => !first.unserved.has('report'), { what: 'the kind to count as served' })
  })

  it('narrows the kinds a process claims with the kinds option (OPENORCH_RUN_KINDS)', async () => {
    const narrow = kernel({ worker: { kinds: ['a'] } })
    const ran: string[] = []
    narrow.executors.register('a', async () => {
      ran.push('a')
      return { output: 'a' }
    })
    narrow.executors.register('b', async () => {
      ran.push('b')
      return { output: 'b' }
    })
    narrow.start()
    const b = await narrow.runs.enqueue({ tenantId, kind: 'b', trigger: 'api' })
    const a = await narrow.runs.enqueue({ tenantId, kind: 'a', trigger: 'api' })
    if (a.status !== 'created' || b.status !== 'created') throw new Error('expected created')
    await status(narrow, a.run.id, 'completed')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(ran).toEqual(['a'])
    expect((await narrow.runs.get(tenantId, b.run.id)).status).toBe('pending')
  })

  it('resumes a parking by its correlation key once; a later parking is not woken by the stale key', async () => {
    const k = kernel()
    const inputs: unknown[] = []
    k.executors.register('approve', async ({ run }) => {
      inputs.push(run.input)
      if (run.attempt === 1) return { wait: 'approval', correlationKey: `approval:${run.id}:1` }
      if (run.attempt === 2) return { wait: 'approval', correlationKey: `approval:${run.id}:2` }
      return { output: 'done' }
    })
    k.start()
    const made = await k.runs.enqueue({ tenantId, kind: 'approve', trigger: 'api', input: 'start' })
    if (made.status !== 'created') throw new Error('expected created')
    const id = made.run.id
    expect(await status(k, id, 'waiting')).toMatchObject({
      waitReason: 'approval',
      correlationKey: `approval:${id}:1`,
    })
    const first = await k.runs.resume(tenantId, { correlationKey: `approval:${id}:1` }, { input: 'yes' })
    expect(first).toMatchObject({ resumed: true })
    // A second resume of the same parking (a double click, a replayed message) is a no-op, said so.
    expect(await k.runs.resume(tenantId, { correlationKey: `approval:${id}:1` })).toMatchObject({
      resumed: false,
    })
    await waitFor(async () => (await k.runs.get(tenantId, id)).correlationKey === `approval:${id}:2`, {
      what: 'the second parking',
    })
    // The first parking's key, even addressed with the run's id, cannot wake the second parking.
    expect(await k.runs.resume(tenantId, { id, correlationKey: `approval:${id}:1` })).toMatchObject({
      resumed: false,
      run: { status: 'waiting' },
    })
    expect(await k.runs.resume(tenantId, { id })).toMatchObject({ resumed: true })
    expect(await status(k, id, 'completed')).toMatchObject({
      output: 'done',
      attempt: 3,
      correlationKey: null,
    })
    expect(inputs).toEqual(['start', 'yes', 'yes'])
  })

  it('times a parking out at its deadline', async () => {
    const k = kernel({ presenceIntervalMs: 50 })
    k.executors.register('patient', async () => ({ wait: 'signature', until: Date.now() + 200 }))
    k.start()
    const made = await k.runs.enqueue({ tenantId, kind: 'patient', trigger: 'api' })
    if (made.status !== 'created') throw new Error('expected created')
    const waiting = await status(k, made.run.id, 'waiting')
    expect(waiting.waitUntil).toBeGreaterThan(Date.now() - 1000)
    const timedOut = await status(k, made.run.id, 'timeout')
    expect(timedOut.error).toMatchObject({ code: 'wait_timeout' })
    expect(await k.runs.resume(tenantId, { id: made.run.id })).toMatchObject({ resumed: false })
  })

  it('resumes a parent when the last of its children has finished, and it reads their outcomes', async () => {
    const k = kernel({ worker: { concurrency: 4 } })
    let parentAttempts = 0
    let seen: Array<[unknown, string]> = []
    k.executors.register('parent', async ({ run }) => {
      parentAttempts++
      if (run.attempt === 1) {
        await k.runs.enqueueMany(
          [1, 2, 3].map((n) => ({
            tenantId,
            kind: 'child',
            trigger: 'api' as const,
            input: n,
            parentRunId: run.id,
          })),
        )
        return { wait: waitForChildren }
      }
      seen = (await k.runs.children(tenantId, run.id)).map((child) => [child.output, child.status])
      return { output: 'joined' }
    })
    k.executors.register('child', async ({ run }) => {
      await new Promise((resolve) => setTimeout(resolve, 50 * Number(run.input)))
      if (run.input === 3) throw new Error('child three fails')
      return { output: Number(run.input) * 10 }
    })
    k.start()
    const made = await k.runs.enqueue({ tenantId, kind: 'parent', trigger: 'api' })
    if (made.status !== 'created') throw new Error('expected created')
    expect(await status(k, made.run.id, 'completed')).toMatchObject({ output: 'joined', attempt: 2 })
    expect(parentAttempts).toBe(2)
    expect(seen).toEqual([
      [10, 'completed'],
      [20, 'completed'],
      [null, 'failed'],
    ])
    const children = await k.runs.children(tenantId, made.run.id)
    expect(children.map((child) => child.parentRunId)).toEqual([made.run.id, made.run.id, made.run.id])
  })

  it('a parent whose children all finished before it parked is resumed at once', async () => {
    const k = kernel()
    k.executors.register('fast-child', async () => ({ output: 'ok' }))
    k.executors.register('slow-parent', async ({ run }) => {
      if (run.attempt > 1) return { output: 'joined' }
      const child = await k.runs.enqueue({
        tenantId,
        kind: 'fast-child',
        trigger: 'api',
        parentRunId: run.id,
      })
      if (child.status !== 'created') throw new Error('expected created')
      await status(k, child.run.id, 'completed')
      return { wait: waitForChildren }
    })
    k.start()
    const made = await k.runs.enqueue({ tenantId, kind: 'slow-parent', trigger: 'api' })
    if (made.status !== 'created') throw new Error('expected created')
    expect(await status(k, made.run.id, 'completed')).toMatchObject({ output: 'joined', attempt: 2 })
  })

  it('the sweep resumes a parent whose last child finished while nobody resumed it (a crash in between)', async () => {
    const k = kernel({ presenceIntervalMs: 50 })
    k.executors.register('orphaned-parent', async ({ run }) =>
      run.attempt > 1 ? { output: 'joined' } : { wait: waitForChildren },
    )
    // The child is enqueued of a kind nobody serves, then finished behind the kernel's back.
    const parent = await k.runs.enqueue({ tenantId, kind: 'orphaned-parent', trigger: 'api' })
    if (parent.status !== 'created') throw new Error('expected created')
    const child = await k.runs.enqueue({
      tenantId,
      kind: 'elsewhere',
      trigger: 'api',
      parentRunId: parent.run.id,
    })
    if (child.status !== 'created') throw new Error('expected created')
    k.start()
    await status(k, parent.run.id, 'waiting')
    // The child ends behind the kernel's back (as if the process died before resuming the parent).
    await database.db
      .updateTable('runs')
      .set({ status: 'completed', finished_at: Date.now() })
      .where('id', '=', child.run.id)
      .execute()
    // The sweep (every 50 ms here, 10 s in production) finds the parent and resumes it.
    expect(await status(k, parent.run.id, 'completed')).toMatchObject({ output: 'joined', attempt: 2 })
  })

  it('enqueues inside a caller’s transaction: the run exists only if that transaction commits, and runs after it', async () => {
    const k = kernel()
    k.executors.register('follow-up', async ({ run }) => ({ output: run.input }))
    k.start()
    await expect(
      writeTransaction(database, async (trx) => {
        await k.runs.enqueueIn(trx, { tenantId, kind: 'follow-up', trigger: 'api', input: 'rolled back' })
        throw new Error('the caller changed its mind')
      }),
    ).rejects.toThrow('changed its mind')
    const kept = await writeTransaction(database, (trx) =>
      k.runs.enqueueIn(trx, {
        tenantId,
        kind: 'follow-up',
        trigger: 'api',
        input: 'kept',
        idempotencyKey: 'follow-up:1',
      }),
    )
    if (kept.status !== 'created') throw new Error('expected created')
    // The same key again in another transaction (a replayed batch): the existing run, not a second one.
    const replayed = await writeTransaction(database, (trx) =>
      k.runs.enqueueIn(trx, {
        tenantId,
        kind: 'follow-up',
        trigger: 'api',
        input: 'kept',
        idempotencyKey: 'follow-up:1',
      }),
    )
    expect(replayed).toMatchObject({ status: 'existing', run: { id: kept.run.id } })
    expect(await status(k, kept.run.id, 'completed')).toMatchObject({ output: 'kept' })
    const all = await k.runs.list(tenantId, { limit: 10 })
    expect(all.items.map((run) => run.input)).toEqual(['kept'])
  })
})
