import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { toError } from '../platform/errors.ts'
import { FailureStreak } from '../platform/failure-streak.ts'
import type { Logger } from '../platform/logger.ts'
import type { RunService } from '../runs/run.service.ts'
import { jitterOf, parseSchedule, type ScheduleSpec } from '../schedules/schedule-spec.ts'
import { disabledTenantIds } from '../tenants/tenants.ts'
import { botRunRequest } from './bot.service.ts'
import { activeRunsOfBots, advanceBots, type BotAdvance } from './bot.store.ts'
import type { BotRow } from './bot.table.ts'
import { slotKeyOf } from './bot-schedule.ts'

// Fires bots' schedules (DESIGN.md "Scheduling"). Each slot becomes a run with the idempotency key
// `schedule:<botId>:<slot>`, so any number of processes may fire the same slot: one run results.
// The next slot lives in the bot's row (`next_slot_at`, `next_fire_at` with jitter): nothing that
// matters is kept in memory, and a timer sleeps until the earliest `next_fire_at` of all bots.

export interface BotSchedulerDeps {
  database: Db
  clock: Clock
  log: Logger
  runs: Pick<RunService, 'enqueueMany' | 'cancel' | 'recordSkipped'>
  /** Schedules per pass (default 500). */
  batchSize?: number
  /** Longest sleep without looking at the table (another process may have changed it; default 5 s). */
  maxSleepMs?: number
  /** A slot fired later than this after its time counts as missed (default 15 s): its bot's policy decides. */
  missedGraceMs?: number
}

export type SlotOutcome =
  | 'fired'
  | 'already_fired'
  | 'skipped_overlap'
  | 'dropped'
  | 'missed'
  | 'caught_up'
  | 'invalid_schedule'

export class BotScheduler {
  private readonly deps: BotSchedulerDeps
  private timer: NodeJS.Timeout | undefined
  private running = false
  private busy: Promise<void> | undefined
  private again = false
  private readonly specs = new Map<string, ScheduleSpec>()
  private readonly failures: FailureStreak

  constructor(deps: BotSchedulerDeps) {
    this.deps = deps
    this.failures = new FailureStreak(deps.log, 'scheduler pass', deps.clock)
  }

  start(): void {
    this.running = true
    this.nudge()
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.busy
  }

  /** Schedules changed (here or in another process): look again now. */
  nudge(): void {
    if (!this.running) return
    if (this.busy) {
      this.again = true
      return
    }
    clearTimeout(this.timer)
    this.busy = this.loop().finally(() => {
      this.busy = undefined
      if (this.again) {
        this.again = false
        this.nudge()
      }
    })
  }

  private async loop(): Promise<void> {
    const maxSleep = this.deps.maxSleepMs ?? 5000
    let delay = maxSleep
    try {
      let fired = await this.tick()
      while (this.running && fired.length >= (this.deps.batchSize ?? 500)) fired = await this.tick()
      const next = await this.nextFireAt()
      if (next !== null) delay = Math.max(0, Math.min(maxSleep, next - this.deps.clock.now()))
      this.failures.succeeded()
    } catch (error) {
      this.failures.failed(error)
      delay = 1000
    }
    if (!this.running) return
    this.timer = setTimeout(() => this.nudge(), delay)
    this.timer.unref?.()
  }

  private async nextFireAt(): Promise<number | null> {
    const row = await this.deps.database.db
      .selectFrom('bots')
      .select((eb) => eb.fn.min('next_fire_at').as('next'))
      .where('next_fire_at', 'is not', null)
      .where('tenant_id', 'not in', disabledTenantIds(this.deps.database.db))
      .executeTakeFirst()
    return row?.next === null || row?.next === undefined ? null : Number(row.next)
  }

  /**
   * Fires every schedule due at the clock's now; returns what happened to each. On PostgreSQL the
   * due rows are locked (SKIP LOCKED) so processes split the work; correctness rests on the slot key.
   */
  async tick(): Promise<SlotResult[]> {
    const { database } = this.deps
    const now = this.deps.clock.now()
    const limit = this.deps.batchSize ?? 500
    const pass = async (db: Kysely<Tables>) => {
      let query = db
        .selectFrom('bots')
        .selectAll()
        .where('next_fire_at', '<=', now)
        // A disabled workspace's schedules wait (decision 0020); enabled again, the bots' missed-slot
        // policy decides what happens to the slots that passed meanwhile.
        .where('tenant_id', 'not in', disabledTenantIds(db))
        .orderBy('next_fire_at')
        .limit(limit)
      if (database.dialect === 'postgres') query = query.forUpdate().skipLocked()
      return this.fire(db, await query.execute(), now)
    }
    return database.dialect === 'postgres' ? database.db.transaction().execute(pass) : pass(database.db)
  }

  /**
   * Fires the due slots of a pass together: one query for the overlap policies, one enqueue (one
   * transaction) for every run, one update to move the bots on. A slot's cost is then a share of a
   * few statements rather than a handful of round trips of its own, which is what keeps 100,000
   * schedules on time (bench/src/scheduler).
   */
  private async fire(db: Kysely<Tables>, due: BotRow[], now: number): Promise<SlotResult[]> {
    const { log } = this.deps
    const missedGrace = this.deps.missedGraceMs ?? 15_000
    const plans: SlotPlan[] = []
    const skips: Array<{ plan: SlotPlan; code: string; message: string; outcome: SlotOutcome }> = []
    const advances: BotAdvance[] = []

    for (const bot of due) {
      const slot = Number(bot.next_slot_at)
      const fireAt = Number(bot.next_fire_at)
      let spec: ScheduleSpec
      try {
        spec = this.specOf(bot)
      } catch (error) {
        // A schedule valid when saved can only break if the time zone database changed under it.
        log.error({ botId: bot.id, err: toError(error) }, 'schedule no longer valid; disabled')
        plans.push({ bot, slot, outcome: 'invalid_schedule' })
        advances.push({ tenantId: bot.tenant_id, id: bot.id, firedSlot: bot.next_slot_at, next: null })
        continue
      }
      let plan: SlotPlan
      if (now - fireAt <= missedGrace) {
        plan = { bot, slot }
      } else {
        // Down (or stalled) past this slot: the bot's missedRunPolicy decides, for all slots missed.
        const latest = Math.max(slot, spec.latestAtOrBefore(now) ?? slot)
        const missed = countSlots(spec, slot, latest)
        if (bot.missed_run_policy === 'catch_up_one') {
          plan = { bot, slot: latest, catchingUp: missed }
        } else {
          const message = `${missed === 1 ? 'The slot' : `${missed} slots`} from ${new Date(slot).toISOString()}${
            missed > 1 ? ` to ${new Date(latest).toISOString()}` : ''
          } ${missed === 1 ? 'was' : 'were'} missed while the orchestrator was not running; missedRunPolicy "ignore" skips them.`
          plan = { bot, slot: latest, outcome: 'missed' }
          skips.push({ plan, code: 'slot_missed', message, outcome: 'missed' })
          log.info({ botId: bot.id, missed }, 'missed slots ignored')
        }
      }
      plans.push(plan)
      // The next slot after this one; if even that is already past the grace, jump to the first one after now.
      let next = spec.nextAfter(plan.slot)
      if (next !== null && next + jitterOf(bot.id, next, bot.jitter_seconds * 1000) < now - missedGrace)
        next = spec.nextAfter(now)
      advances.push({
        tenantId: bot.tenant_id,
        id: bot.id,
        firedSlot: bot.next_slot_at,
        next:
          next === null
            ? null
            : { slot: next, fireAt: next + jitterOf(bot.id, next, bot.jitter_seconds * 1000) },
      })
    }

    const toFire = plans.filter((p) => p.outcome === undefined)
    await this.applyOverlapPolicies(toFire, skips)
    const firing = toFire.filter((p) => p.outcome === undefined)
    const results = await this.deps.runs.enqueueMany(
      firing.map((p) => ({
        ...botRunRequest(p.bot, 'schedule', null, slotKeyOf(p.bot.id, p.slot)),
        runAt: now,
      })),
    )
    firing.forEach((plan, i) => {
      const result = results[i]!
      if (result.status === 'dropped') {
        plan.outcome = 'dropped'
        skips.push({
          plan,
          code: 'queue_full',
          message: `Slot ${new Date(plan.slot).toISOString()} dropped: ${result.reason}`,
          outcome: 'dropped',
        })
        return
      }
      plan.outcome =
        result.status !== 'created' ? 'already_fired' : plan.catchingUp !== undefined ? 'caught_up' : 'fired'
      if (plan.catchingUp !== undefined) {
        if (result.status === 'created')
          log.info(
            { botId: plan.bot.id, runId: result.run.id },
            `catching up ${plan.catchingUp} missed slot(s)`,
          )
        log.info(
          { botId: plan.bot.id, missed: plan.catchingUp, slot: new Date(plan.slot).toISOString() },
          'missed slots caught up with one run',
        )
      }
    })
    for (const skip of skips) {
      const recorded = await this.deps.runs.recordSkipped(
        botRunRequest(skip.plan.bot, 'schedule', null, slotKeyOf(skip.plan.bot.id, skip.plan.slot)),
        { code: skip.code, message: skip.message },
      )
      // A queue_full record is written whatever happened before; the others only count once.
      if (skip.outcome === 'dropped') continue
      if (recorded.status === 'created' && skip.code === 'skipped_overlap')
        log.info(
          { botId: skip.plan.bot.id, slot: skip.plan.slot, policy: skip.plan.bot.overlap_policy },
          'slot skipped: previous run active',
        )
      skip.plan.outcome =
        skip.outcome === 'skipped_overlap' && recorded.status !== 'created' ? 'already_fired' : skip.outcome
    }
    const { database } = this.deps
    // On SQLite one transaction for the pass's updates: one commit instead of one per bot.
    if (database.dialect === 'sqlite')
      await writeTransaction(database, (trx) => advanceBots(trx, advances, now, 'sqlite'))
    else await advanceBots(db, advances, now, 'postgres')
    return plans.map((p) => ({ botId: p.bot.id, slot: p.slot, outcome: p.outcome! }))
  }

  /** Parsed schedules by text and time zone: parsing checks the time zone, which costs more than firing. */
  private specOf(bot: BotRow): ScheduleSpec {
    const key = `${bot.timezone}\n${bot.schedule ?? ''}`
    let spec = this.specs.get(key)
    if (!spec) {
      spec = parseSchedule(bot.schedule ?? '', bot.timezone)
      if (this.specs.size >= 10_000) this.specs.clear()
      this.specs.set(key, spec)
    }
    return spec
  }

  /** Overlap policies of the slots about to fire, with one query for the active runs of all their bots. */
  private async applyOverlapPolicies(
    plans: SlotPlan[],
    skips: Array<{ plan: SlotPlan; code: string; message: string; outcome: SlotOutcome }>,
  ): Promise<void> {
    const { runs, log } = this.deps
    const checked = plans.filter((p) => p.bot.overlap_policy !== 'allow_all')
    if (checked.length === 0) return
    const active = await activeRunsOfBots(
      this.deps.database.db,
      checked.map((p) => ({ tenantId: p.bot.tenant_id, botId: p.bot.id })),
    )
    for (const plan of checked) {
      const { bot, slot } = plan
      const policy = bot.overlap_policy
      const mine = active.get(bot.id) ?? []
      const blocking =
        policy === 'skip' ? mine : policy === 'buffer_one' ? mine.filter((r) => r.status === 'pending') : []
      if (blocking.length > 0) {
        const message =
          policy === 'skip'
            ? `Slot ${new Date(slot).toISOString()} skipped: run ${blocking[0]!.id} is still ${blocking[0]!.status} (overlapPolicy "skip").`
            : `Slot ${new Date(slot).toISOString()} skipped: run ${blocking[0]!.id} is already waiting to start (overlapPolicy "buffer_one").`
        plan.outcome = 'skipped_overlap'
        skips.push({ plan, code: 'skipped_overlap', message, outcome: 'skipped_overlap' })
        continue
      }
      if (policy === 'cancel_other')
        for (const run of mine)
          await runs
            .cancel(bot.tenant_id, run.id)
            .catch((error) =>
              log.warn(
                { botId: bot.id, runId: run.id, err: toError(error) },
                'could not cancel the previous run',
              ),
            )
    }
  }
}

interface SlotPlan {
  bot: BotRow
  slot: number
  /** Missed slots this one catches up (missedRunPolicy catch_up_one). */
  catchingUp?: number
  outcome?: SlotOutcome
}

export interface SlotResult {
  botId: string
  slot: number
  outcome: SlotOutcome
}

/** Slots in [from, to], counted up to a cap (a long downtime of a per-second schedule). */
function countSlots(spec: ScheduleSpec, from: number, to: number, cap = 10_000): number {
  let count = 1
  let cursor = from
  while (count < cap) {
    const next = spec.nextAfter(cursor)
    if (next === null || next > to) break
    count++
    cursor = next
  }
  return count
}
