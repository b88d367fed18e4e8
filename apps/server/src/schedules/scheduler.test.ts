import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import { botScheduleOwner } from '../bots/bot.schedule-owner.ts'
import { ManualClock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { Run } from '../runs/run.types.ts'
import { putScheduleIn } from './schedule.store.ts'
import { jitterOf } from './schedule-spec.ts'
import { Scheduler } from './scheduler.ts'

const tenantId = 'default'
const start = Date.parse('2026-05-01T10:00:00Z')

describe.each(dialects)('scheduler (bots as owners) on %s', (dialect) => {
  let t: TestApp
  let clock: ManualClock

  async function setUp(options: { dropPending?: number } = {}) {
    clock = new ManualClock(start)
    t = await createTestApp(dialect, {
      kernel: {
        clock,
        ...(options.dropPending !== undefined
          ? { backpressure: { warnPending: 0, dropPending: options.dropPending } }
          : {}),
      },
    })
    await insertProviderRow(t.database, 'ollama', { defaultModel: 'llama3.2' })
  }
  afterEach(async () => {
    await t?.close()
  })

  const createBot = (fields: Record<string, unknown>) =>
    t.bots.service.create(tenantId, {
      name: 'scout',
      prompt: 'Find offers.',
      provider: 'ollama',
      timezone: 'UTC',
      ...fields,
    })
  const runsOf = async (botId: string): Promise<Run[]> =>
    (await t.kernel.runs.list(tenantId, { subjectId: botId, limit: 200 })).items.reverse()

  it('fires a cron slot with seconds once, at its time, with the slot as idempotency key', async () => {
    await setUp()
    const bot = await createBot({ schedule: '*/10 * * * * *' })
    expect(bot.nextRunAt).toBe('2026-05-01T10:00:10.000Z')
    clock.advance(9_999)
    expect(await t.bots.scheduler.tick()).toEqual([])
    clock.advance(1)
    expect(await t.bots.scheduler.tick()).toEqual([
      { kind: 'bot', ownerId: bot.id, slot: start + 10_000, outcome: 'fired' },
    ])
    expect(await t.bots.scheduler.tick()).toEqual([])
    const [run] = await runsOf(bot.id)
    expect(run).toMatchObject({
      trigger: 'schedule',
      status: 'pending',
      kind: 'bot',
      concurrencyKey: `bot:${bot.id}`,
    })
    const row = await t.database.db
      .selectFrom('runs')
      .select('idempotency_key')
      .where('id', '=', run!.id)
      .executeTakeFirstOrThrow()
    expect(row.idempotency_key).toBe(`schedule:${bot.id}:${start + 10_000}`)
    expect((await t.bots.service.get(tenantId, bot.id)).nextRunAt).toBe('2026-05-01T10:00:20.000Z')
  })

  it('fires @every intervals and picks up schedule edits and disabling without a restart', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1m', overlapPolicy: 'allow_all' })
    clock.advance(60_000)
    await t.bots.scheduler.tick()
    await t.bots.service.update(tenantId, bot.id, { schedule: '@every 5m' })
    expect((await t.bots.service.get(tenantId, bot.id)).nextRunAt).toBe('2026-05-01T10:05:00.000Z')
    clock.advance(60_000)
    expect(await t.bots.scheduler.tick()).toEqual([])
    clock.set(start + 5 * 60_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['fired'])
    await t.bots.service.update(tenantId, bot.id, { enabled: false })
    clock.set(start + 10 * 60_000)
    expect(await t.bots.scheduler.tick()).toEqual([])
    expect(await runsOf(bot.id)).toHaveLength(2)
  })

  it('ignores slots missed during downtime by default, and says so on the run list', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1m' })
    clock.advance(10 * 60_000 + 5_000) // down for ten minutes
    const fired = await t.bots.scheduler.tick()
    expect(fired).toEqual([{ kind: 'bot', ownerId: bot.id, slot: start + 10 * 60_000, outcome: 'missed' }])
    const runs = await runsOf(bot.id)
    expect(runs).toHaveLength(1)
    expect(runs[0]).toMatchObject({ status: 'cancelled', error: { code: 'slot_missed' } })
    expect(runs[0]!.error!.message).toContain('10 slots')
    expect((await t.bots.service.get(tenantId, bot.id)).nextRunAt).toBe('2026-05-01T10:11:00.000Z')
  })

  it('catches up missed slots with exactly one run under catch_up_one', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1m', missedRunPolicy: 'catch_up_one' })
    clock.advance(10 * 60_000 + 5_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['caught_up'])
    const runs = await runsOf(bot.id)
    expect(runs.map((r) => r.status)).toEqual(['pending'])
    clock.advance(55_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['skipped_overlap'])
  })

  it('applies jitter: a slot fires at slot + jitter(bot, slot), never before, within the bound', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1h', jitterSeconds: 600 })
    const slot = start + 3_600_000
    const jitter = jitterOf(bot.id, slot, 600_000)
    expect(jitter).toBeGreaterThanOrEqual(0)
    expect(jitter).toBeLessThan(600_000)
    expect(Date.parse((await t.bots.service.get(tenantId, bot.id)).nextRunAt!)).toBe(slot + jitter)
    clock.set(slot + jitter - 1)
    expect(await t.bots.scheduler.tick()).toEqual([])
    clock.set(slot + jitter)
    expect(await t.bots.scheduler.tick()).toEqual([{ kind: 'bot', ownerId: bot.id, slot, outcome: 'fired' }])
  })

  it('applies the overlap policies: skip, buffer_one, allow_all, cancel_other', async () => {
    await setUp()
    const outcomes: Record<string, string[]> = {}
    const statuses: Record<string, string[]> = {}
    for (const policy of ['skip', 'buffer_one', 'allow_all', 'cancel_other']) {
      const bot = await createBot({ name: policy, schedule: '@every 1m', overlapPolicy: policy })
      outcomes[policy] = []
      for (let i = 1; i <= 3; i++) {
        clock.set(start + i * 60_000)
        const fired = await t.bots.scheduler.tick()
        outcomes[policy]!.push(...fired.filter((f) => f.ownerId === bot.id).map((f) => f.outcome))
        // buffer_one: the first run is running, so one more may wait behind it.
        if (policy === 'buffer_one' && i === 1) {
          const [first] = await runsOf(bot.id)
          await t.database.db
            .updateTable('runs')
            .set({ status: 'running' })
            .where('id', '=', first!.id)
            .execute()
        }
      }
      statuses[policy] = (await runsOf(bot.id)).map((r) => r.status)
      await t.bots.service.update(tenantId, bot.id, { enabled: false })
      clock.set(start)
    }
    expect(outcomes).toEqual({
      skip: ['fired', 'skipped_overlap', 'skipped_overlap'],
      buffer_one: ['fired', 'fired', 'skipped_overlap'],
      allow_all: ['fired', 'fired', 'fired'],
      cancel_other: ['fired', 'fired', 'fired'],
    })
    expect(statuses).toEqual({
      skip: ['pending', 'cancelled', 'cancelled'],
      buffer_one: ['running', 'pending', 'cancelled'],
      allow_all: ['pending', 'pending', 'pending'],
      cancel_other: ['cancelled', 'cancelled', 'pending'],
    })
  })

  it('fires a slot once even when a stale view fires it again (the slot key)', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1m', overlapPolicy: 'allow_all' })
    clock.advance(60_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['fired'])
    await t.database.db
      .updateTable('schedules')
      .set({ next_slot_at: start + 60_000, next_fire_at: start + 60_000 })
      .execute()
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['already_fired'])
    expect(await runsOf(bot.id)).toHaveLength(1)
  })

  it('logs a slot dropped by backpressure on the bot’s run list, with its reason', async () => {
    await setUp({ dropPending: 1 })
    for (let i = 0; i < 2; i++) await t.kernel.runs.enqueue({ tenantId, kind: 'noop', trigger: 'api' })
    const bot = await createBot({ schedule: '@every 1m' })
    clock.advance(60_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['dropped'])
    const [run] = await runsOf(bot.id)
    expect(run).toMatchObject({ status: 'cancelled', trigger: 'schedule', error: { code: 'queue_full' } })
    expect(run!.error!.message).toMatch(/2 runs are waiting, more than the limit of 1/)
  })

  // Two SQLite connections in one process would block each other's event loop (better-sqlite3 waits
  // synchronously); SQLite runs one process by design, so the cluster case is PostgreSQL's.
  it.runIf(dialect === 'postgres')(
    'fires each slot once when two processes run the scheduler on the same database',
    async () => {
      await setUp()
      const second = await t.openSecond()
      const other = new Scheduler({ database: second, clock, log: testLog, runs: t.kernel.runs })
      other.own('bot', botScheduleOwner)
      const bots = []
      for (let i = 0; i < 20; i++)
        bots.push(await createBot({ name: `bot ${i}`, schedule: '@every 1m', overlapPolicy: 'allow_all' }))
      for (let minute = 1; minute <= 5; minute++) {
        clock.set(start + minute * 60_000)
        await Promise.all([t.bots.scheduler.tick(), other.tick(), t.bots.scheduler.tick()])
      }
      // A process that read the bot before the other advanced it fires a slot again: the slot key makes it a no-op.
      await t.database.db
        .updateTable('schedules')
        .set({ next_slot_at: start + 5 * 60_000, next_fire_at: start + 5 * 60_000 })
        .execute()
      expect((await other.tick()).every((r) => r.outcome === 'already_fired')).toBe(true)
      const counts = await t.database.db
        .selectFrom('runs')
        .select(['subject_id', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('subject_id')
        .execute()
      expect(counts).toHaveLength(20)
      for (const row of counts) expect(Number(row.n)).toBe(5)
    },
  )

  it('fires the schedules of any owning kind through its owner, and stops one whose owner is gone', async () => {
    await setUp()
    // A second kind's domain (as pipelines will be): its own schedules, its own runs, the same scheduler.
    const asked: string[][] = []
    t.bots.scheduler.own('report', {
      async requests(_db, due) {
        asked.push(due.map((schedule) => schedule.owner_id))
        return new Map(
          due
            .filter((schedule) => schedule.owner_id !== 'gone')
            .map((schedule) => [
              schedule.owner_id,
              { tenantId, kind: 'report', trigger: 'schedule' as const, subjectId: schedule.owner_id },
            ]),
        )
      },
    })
    await writeTransaction(t.database, async (trx) => {
      for (const ownerId of ['weekly', 'gone'])
        await putScheduleIn(
          trx,
          {
            ownerKind: 'report',
            ownerId,
            tenantId,
            spec: '@every 1m',
            timezone: 'UTC',
            jitterSeconds: 0,
            missedPolicy: 'ignore',
            overlapPolicy: 'allow_all',
            active: true,
          },
          start,
        )
    })
    const bot = await createBot({ schedule: '@every 1m', overlapPolicy: 'allow_all' })
    clock.set(start + 60_000)
    const fired = await t.bots.scheduler.tick()
    expect(fired).toEqual(
      expect.arrayContaining([
        { kind: 'report', ownerId: 'weekly', slot: start + 60_000, outcome: 'fired' },
        { kind: 'report', ownerId: 'gone', slot: start + 60_000, outcome: 'owner_gone' },
        { kind: 'bot', ownerId: bot.id, slot: start + 60_000, outcome: 'fired' },
      ]),
    )
    expect(asked).toEqual([expect.arrayContaining(['weekly', 'gone'])])
    const [report] = (await t.kernel.runs.list(tenantId, { subjectId: 'weekly', limit: 5 })).items
    expect(report).toMatchObject({ kind: 'report', trigger: 'schedule', status: 'pending' })
    const gone = await t.database.db
      .selectFrom('schedules')
      .select(['next_fire_at'])
      .where('owner_id', '=', 'gone')
      .executeTakeFirstOrThrow()
    expect(gone.next_fire_at).toBeNull()
    clock.set(start + 120_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.ownerId).sort()).toEqual([bot.id, 'weekly'].sort())
  })

  it('disables a bot whose schedule can no longer be read, and says why', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1m' })
    // As if the time zone database lost the zone after the bot was saved.
    await t.database.db
      .updateTable('schedules')
      .set({ timezone: 'Mars/Olympus_Mons' })
      .where('owner_id', '=', bot.id)
      .execute()
    clock.set(start + 60_000)
    expect((await t.bots.scheduler.tick()).map((r) => r.outcome)).toEqual(['invalid_schedule'])
    const after = await t.bots.service.get(tenantId, bot.id)
    expect(after).toMatchObject({ enabled: false, nextRunAt: null })
    expect(after.pausedReason).toMatch(/can no longer be read/)
    // Enabled again (its settings are valid), the schedule fires again.
    const enabled = await t.bots.service.update(tenantId, bot.id, { enabled: true })
    expect(enabled.nextRunAt).toBe('2026-05-01T10:02:00.000Z')
  })

  it('keeps a bot and its schedule together: edited, disabled and deleted at once', async () => {
    await setUp()
    const bot = await createBot({ schedule: '@every 1m' })
    const row = () =>
      t.database.db.selectFrom('schedules').selectAll().where('owner_id', '=', bot.id).executeTakeFirst()
    expect(await row()).toMatchObject({
      spec: '@every 1m',
      overlap_policy: 'skip',
      next_fire_at: start + 60_000,
    })
    await t.bots.service.update(tenantId, bot.id, {
      overlapPolicy: 'allow_all',
      missedRunPolicy: 'catch_up_one',
    })
    expect(await row()).toMatchObject({ overlap_policy: 'allow_all', missed_policy: 'catch_up_one' })
    await t.bots.service.update(tenantId, bot.id, { schedule: '@every 5m' })
    expect(await row()).toMatchObject({ spec: '@every 5m', next_fire_at: start + 300_000 })
    expect((await t.bots.service.update(tenantId, bot.id, { enabled: false })).nextRunAt).toBeNull()
    expect(await row()).toMatchObject({ next_fire_at: null })
    await t.bots.service.update(tenantId, bot.id, { schedule: null })
    expect(await row()).toBeUndefined()
    await t.bots.service.update(tenantId, bot.id, { schedule: '@every 1m', enabled: true })
    expect(await row()).toMatchObject({ next_fire_at: start + 60_000 })
    await t.bots.service.remove(tenantId, bot.id)
    expect(await row()).toBeUndefined()
  })
})
