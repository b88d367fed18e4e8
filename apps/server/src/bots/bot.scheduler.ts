import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { toError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { RunService } from '../runs/run.service.ts'
import type { EnqueueResult } from '../runs/run.types.ts'
import { jitterOf, parseSchedule } from '../schedules/schedule-spec.ts'
import { botRunRequest } from './bot.service.ts'
import { activeRunsOf } from './bot.store.ts'
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
  runs: Pick<RunService, 'enqueue' | 'cancel' | 'recordSkipped'>
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

  constructor(deps: BotSchedulerDeps) {
    this.deps = deps
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
    } catch (error) {
      this.deps.log.warn({ err: toError(error) }, 'scheduler pass failed; will try again')
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
      .executeTakeFirst()
    return row?.next === null || row?.next === undefined ? null : Number(row.next)
  }

  /**
   * Fires every schedule due at the clock's now; returns what happened to each. On PostgreSQL the
   * due rows are locked (SKIP LOCKED) so processes split the work; correctness rests on the slot key.
   */
  async tick(): Promise<Array<{ botId: string; slot: number; outcome: SlotOutcome }>> {
    const { database } = this.deps
    const now = this.deps.clock.now()
    const limit = this.deps.batchSize ?? 500
    const pass = async (db: Kysely<Tables>) => {
      let query = db
        .selectFrom('bots')
        .selectAll()
        .where('next_fire_at', '<=', now)
        .orderBy('next_fire_at')
        .limit(limit)
      if (database.dialect === 'postgres') query = query.forUpdate().skipLocked()
      const due = await query.execute()
      const results = []
      for (const bot of due) results.push(...(await this.fire(db, bot, now)))
      return results
    }
    return database.dialect === 'postgres' ? database.db.transaction().execute(pass) : pass(database.db)
  }

  private async fire(
    db: Kysely<Tables>,
    bot: BotRow,
    now: number,
  ): Promise<Array<{ botId: string; slot: number; outcome: SlotOutcome }>> {
    const { log } = this.deps
    const slot = Number(bot.next_slot_at)
    const fireAt = Number(bot.next_fire_at)
    const jitterMs = bot.jitter_seconds * 1000
    let spec: ReturnType<typeof parseSchedule>
    try {
      spec = parseSchedule(bot.schedule ?? '', bot.timezone)
    } catch (error) {
      // A schedule valid when saved can only break if the time zone database changed under it.
      log.error({ botId: bot.id, err: toError(error) }, 'schedule no longer valid; disabled')
      await this.advance(db, bot, null, now)
      return [{ botId: bot.id, slot, outcome: 'invalid_schedule' }]
    }

    const results: Array<{ botId: string; slot: number; outcome: SlotOutcome }> = []
    const missedGrace = this.deps.missedGraceMs ?? 15_000
    if (now - fireAt <= missedGrace) {
      results.push({ botId: bot.id, slot, outcome: await this.fireSlot(bot, slot, now) })
    } else {
      // Down (or stalled) past this slot: the bot's missedRunPolicy decides, for all slots missed.
      const latest = Math.max(slot, spec.latestAtOrBefore(now) ?? slot)
      const missed = countSlots(spec, slot, latest)
      if (bot.missed_run_policy === 'catch_up_one') {
        const outcome = await this.fireSlot(bot, latest, now, `catching up ${missed} missed slot(s)`)
        results.push({ botId: bot.id, slot: latest, outcome: outcome === 'fired' ? 'caught_up' : outcome })
        log.info(
          { botId: bot.id, missed, slot: new Date(latest).toISOString() },
          'missed slots caught up with one run',
        )
      } else {
        const message = `${missed === 1 ? 'The slot' : `${missed} slots`} from ${new Date(slot).toISOString()}${
          missed > 1 ? ` to ${new Date(latest).toISOString()}` : ''
        } ${missed === 1 ? 'was' : 'were'} missed while the orchestrator was not running; missedRunPolicy "ignore" skips them.`
        await this.deps.runs.recordSkipped(botRunRequest(bot, 'schedule', null, slotKeyOf(bot.id, latest)), {
          code: 'slot_missed',
          message,
        })
        log.info({ botId: bot.id, missed }, 'missed slots ignored')
        results.push({ botId: bot.id, slot: latest, outcome: 'missed' })
      }
    }

    // The next slot after this one; if even that is already past the grace, jump to the first one after now.
    let next = spec.nextAfter(Math.max(slot, results.at(-1)?.slot ?? slot))
    if (next !== null && next + jitterOf(bot.id, next, jitterMs) < now - missedGrace)
      next = spec.nextAfter(now)
    await this.advance(db, bot, next, now)
    return results
  }

  private async fireSlot(bot: BotRow, slot: number, now: number, note?: string): Promise<SlotOutcome> {
    const { runs, log } = this.deps
    const key = slotKeyOf(bot.id, slot)
    const request = botRunRequest(bot, 'schedule', null, key)
    const policy = bot.overlap_policy
    if (policy !== 'allow_all') {
      const active = await activeRunsOf(this.deps.database.db, bot.tenant_id, bot.id)
      const blocking =
        policy === 'skip'
          ? active
          : policy === 'buffer_one'
            ? active.filter((r) => r.status === 'pending')
            : []
      if (blocking.length > 0) {
        const message =
          policy === 'skip'
            ? `Slot ${new Date(slot).toISOString()} skipped: run ${blocking[0]!.id} is still ${blocking[0]!.status} (overlapPolicy "skip").`
            : `Slot ${new Date(slot).toISOString()} skipped: run ${blocking[0]!.id} is already waiting to start (overlapPolicy "buffer_one").`
        const recorded = await runs.recordSkipped(request, { code: 'skipped_overlap', message })
        if (recorded.status === 'created')
          log.info({ botId: bot.id, slot, policy }, 'slot skipped: previous run active')
        return recorded.status === 'created' ? 'skipped_overlap' : 'already_fired'
      }
      if (policy === 'cancel_other')
        for (const run of active)
          await runs
            .cancel(bot.tenant_id, run.id)
            .catch((error) =>
              log.warn(
                { botId: bot.id, runId: run.id, err: toError(error) },
                'could not cancel the previous run',
              ),
            )
    }
    const result: EnqueueResult = await runs.enqueue({ ...request, runAt: now })
    if (result.status === 'dropped') {
      await runs.recordSkipped(request, {
        code: 'queue_full',
        message: `Slot ${new Date(slot).toISOString()} dropped: ${result.reason}`,
      })
      return 'dropped'
    }
    if (result.status === 'created' && note) log.info({ botId: bot.id, runId: result.run.id }, note)
    return result.status === 'created' ? 'fired' : 'already_fired'
  }

  /** Moves the bot to its next slot, unless someone else changed the schedule meanwhile. */
  private async advance(db: Kysely<Tables>, bot: BotRow, next: number | null, now: number): Promise<void> {
    const jitterMs = bot.jitter_seconds * 1000
    await db
      .updateTable('bots')
      .set({
        next_slot_at: next,
        next_fire_at: next === null ? null : next + jitterOf(bot.id, next, jitterMs),
        ...(next === null
          ? { enabled: 0, paused_reason: 'The schedule has no further slots.', updated_at: now }
          : {}),
      })
      .where('tenant_id', '=', bot.tenant_id)
      .where('id', '=', bot.id)
      .where('next_slot_at', '=', bot.next_slot_at)
      .execute()
  }
}

/** Slots in [from, to], counted up to a cap (a long downtime of a per-second schedule). */
function countSlots(spec: ReturnType<typeof parseSchedule>, from: number, to: number, cap = 10_000): number {
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
