import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { withoutTenantScope } from '../platform/db/tenant-scope.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { toError } from '../platform/errors.ts'
import { FailureStreak } from '../platform/failure-streak.ts'
import type { Logger } from '../platform/logger.ts'
import { activeRunsOfSubjects, type EnqueueRequest, type RunService } from '../runs/runs.ts'
import {
  advanceSchedules,
  dueSchedules,
  earliestFireAt,
  type ScheduleAdvance,
  slotKeyOf,
} from './schedule.store.ts'
import type { ScheduleRow } from './schedule.table.ts'
import { jitterOf, parseSchedule, type ScheduleSpec } from './schedule-spec.ts'

// Fires the schedules of every owning kind (DESIGN.md "Scheduling", decision 0028). Each slot becomes a
// run with the idempotency key `schedule:<ownerId>:<slot>`, so any number of processes may fire the
// same slot: one run results. The next slot lives in the schedule's row (`next_slot_at`,
// `next_fire_at` with jitter): nothing that matters is kept in memory, and a timer sleeps until the
// earliest `next_fire_at` of all schedules. What a slot runs is the owner's business (ScheduleOwner).

/** A kind's domain as the scheduler sees it: what its slots run, and what it records when one ends. */
export interface ScheduleOwner {
  /**
   * The run each firing schedule's owner starts (without idempotency key and time: the scheduler sets
   * them); an owner missing from the map no longer exists, and its schedule ends.
   */
  requests(db: Kysely<Tables>, due: ScheduleRow[]): Promise<Map<string, EnqueueRequest>>
  /** The schedule has no further slot (or cannot be read any more): the owner records why. */
  ended?(db: Kysely<Tables>, schedule: ScheduleRow, reason: string, now: number): Promise<void>
}

export interface SchedulerDeps {
  database: Db
  clock: Clock
  log: Logger
  runs: Pick<RunService, 'enqueueMany' | 'cancel' | 'recordSkipped'>
  /** Schedules per pass (default 500). */
  batchSize?: number
  /** Longest sleep without looking at the table (another process may have changed it; default 5 s). */
  maxSleepMs?: number
  /** A slot fired later than this after its time counts as missed (default 15 s): its policy decides. */
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
  | 'owner_gone'

export interface SlotResult {
  kind: string
  ownerId: string
  slot: number
  outcome: SlotOutcome
}

interface SlotPlan {
  schedule: ScheduleRow
  slot: number
  request?: EnqueueRequest
  /** Missed slots this one catches up (missed policy catch_up_one). */
  catchingUp?: number
  outcome?: SlotOutcome
}

type Skip = { plan: SlotPlan; code: string; message: string; outcome: SlotOutcome }

export class Scheduler {
  private readonly deps: SchedulerDeps
  private readonly owners = new Map<string, ScheduleOwner>()
  private timer: NodeJS.Timeout | undefined
  private running = false
  private busy: Promise<void> | undefined
  private again = false
  private readonly specs = new Map<string, ScheduleSpec>()
  private readonly failures: FailureStreak

  constructor(deps: SchedulerDeps) {
    this.deps = deps
    this.failures = new FailureStreak(deps.log, 'scheduler pass', deps.clock)
  }

  /** Registers the domain that owns the schedules of `kind`. */
  own(kind: string, owner: ScheduleOwner): void {
    if (this.owners.has(kind)) throw new Error(`Schedules of kind "${kind}" already have an owner`)
    this.owners.set(kind, owner)
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
    // A request that changed a schedule nudges in its workspace's scope; the scheduler serves all.
    withoutTenantScope(() => this.nudgeHere())
  }

  private nudgeHere(): void {
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
      const next = await earliestFireAt(this.deps.database.db)
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

  /**
   * Fires every schedule due at the clock's now; returns what happened to each. On PostgreSQL the
   * due rows are locked (SKIP LOCKED) so processes split the work; correctness rests on the slot key.
   */
  async tick(): Promise<SlotResult[]> {
    const { database } = this.deps
    const now = this.deps.clock.now()
    const limit = this.deps.batchSize ?? 500
    const postgres = database.dialect === 'postgres'
    const pass = async (db: Kysely<Tables>) =>
      this.fire(db, await dueSchedules(db, now, limit, postgres), now)
    return postgres ? database.db.transaction().execute(pass) : pass(database.db)
  }

  /**
   * Fires the due slots of a pass together: one query per owning kind for the runs to start, one for
   * the overlap policies, one enqueue (one transaction) for every run, one update to move the
   * schedules on. A slot's cost is then a share of a few statements rather than a handful of round
   * trips of its own, which is what keeps 100,000 schedules on time (bench/src/scheduler).
   */
  private async fire(db: Kysely<Tables>, due: ScheduleRow[], now: number): Promise<SlotResult[]> {
    const { log } = this.deps
    const missedGrace = this.deps.missedGraceMs ?? 15_000
    const plans: SlotPlan[] = []
    const skips: Skip[] = []
    const advances: ScheduleAdvance[] = []
    const ended: Array<{ schedule: ScheduleRow; reason: string }> = []
    const requests = await this.requestsOf(db, due)

    for (const schedule of due) {
      const slot = Number(schedule.next_slot_at)
      const fireAt = Number(schedule.next_fire_at)
      const stop = (outcome: SlotOutcome, reason: string) => {
        plans.push({ schedule, slot, outcome })
        advances.push({
          ownerKind: schedule.owner_kind,
          ownerId: schedule.owner_id,
          firedSlot: slot,
          next: null,
        })
        ended.push({ schedule, reason })
      }
      const request = requests.get(`${schedule.owner_kind}\n${schedule.owner_id}`)
      if (!request) {
        log.warn({ kind: schedule.owner_kind, ownerId: schedule.owner_id }, 'schedule without owner; stopped')
        stop('owner_gone', 'Its owner no longer exists.')
        continue
      }
      let spec: ScheduleSpec
      try {
        spec = this.specOf(schedule)
      } catch (error) {
        // A schedule valid when saved can only break if the time zone database changed under it.
        log.error({ ownerId: schedule.owner_id, err: toError(error) }, 'schedule no longer valid; disabled')
        stop('invalid_schedule', `The schedule can no longer be read: ${toError(error).message}`)
        continue
      }
      let plan: SlotPlan
      if (now - fireAt <= missedGrace) {
        plan = { schedule, slot, request }
      } else {
        // Down (or stalled) past this slot: the missed policy decides, for all slots missed.
        const latest = Math.max(slot, spec.latestAtOrBefore(now) ?? slot)
        const missed = countSlots(spec, slot, latest)
        if (schedule.missed_policy === 'catch_up_one') {
          plan = { schedule, slot: latest, request, catchingUp: missed }
        } else {
          const message = `${missed === 1 ? 'The slot' : `${missed} slots`} from ${new Date(slot).toISOString()}${
            missed > 1 ? ` to ${new Date(latest).toISOString()}` : ''
          } ${missed === 1 ? 'was' : 'were'} missed while the orchestrator was not running; missedRunPolicy "ignore" skips them.`
          plan = { schedule, slot: latest, request, outcome: 'missed' }
          skips.push({ plan, code: 'slot_missed', message, outcome: 'missed' })
          log.info({ ownerId: schedule.owner_id, missed }, 'missed slots ignored')
        }
      }
      plans.push(plan)
      // The next slot after this one; if even that is already past the grace, jump to the first one after now.
      const jitterMs = schedule.jitter_seconds * 1000
      let next = spec.nextAfter(plan.slot)
      if (next !== null && next + jitterOf(schedule.owner_id, next, jitterMs) < now - missedGrace)
        next = spec.nextAfter(now)
      advances.push({
        ownerKind: schedule.owner_kind,
        ownerId: schedule.owner_id,
        firedSlot: slot,
        next:
          next === null ? null : { slot: next, fireAt: next + jitterOf(schedule.owner_id, next, jitterMs) },
      })
      if (next === null) ended.push({ schedule, reason: 'The schedule has no further slots.' })
    }

    const toFire = plans.filter((p) => p.outcome === undefined)
    await this.applyOverlapPolicies(toFire, skips)
    const firing = toFire.filter((p) => p.outcome === undefined)
    const results = await this.deps.runs.enqueueMany(
      firing.map((p) => ({
        ...p.request!,
        idempotencyKey: slotKeyOf(p.schedule.owner_id, p.slot, p.schedule.owner_kind),
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
            { ownerId: plan.schedule.owner_id, runId: result.run.id },
            `catching up ${plan.catchingUp} missed slot(s)`,
          )
        log.info(
          {
            ownerId: plan.schedule.owner_id,
            missed: plan.catchingUp,
            slot: new Date(plan.slot).toISOString(),
          },
          'missed slots caught up with one run',
        )
      }
    })
    for (const skip of skips) {
      const recorded = await this.deps.runs.recordSkipped(
        {
          ...skip.plan.request!,
          idempotencyKey: slotKeyOf(
            skip.plan.schedule.owner_id,
            skip.plan.slot,
            skip.plan.schedule.owner_kind,
          ),
        },
        { code: skip.code, message: skip.message },
      )
      // A queue_full record is written whatever happened before; the others only count once.
      if (skip.outcome === 'dropped') continue
      if (recorded.status === 'created' && skip.code === 'skipped_overlap')
        log.info(
          {
            ownerId: skip.plan.schedule.owner_id,
            slot: skip.plan.slot,
            policy: skip.plan.schedule.overlap_policy,
          },
          'slot skipped: previous run active',
        )
      skip.plan.outcome =
        skip.outcome === 'skipped_overlap' && recorded.status !== 'created' ? 'already_fired' : skip.outcome
    }
    const { database } = this.deps
    const finish = async (q: Kysely<Tables>) => {
      await advanceSchedules(q, advances, now, database.dialect)
      for (const { schedule, reason } of ended)
        await this.owners.get(schedule.owner_kind)?.ended?.(q, schedule, reason, now)
    }
    // On SQLite one transaction for the pass's updates: one commit instead of one per schedule.
    if (database.dialect === 'sqlite') await writeTransaction(database, finish)
    else await finish(db)
    return plans.map((p) => ({
      kind: p.schedule.owner_kind,
      ownerId: p.schedule.owner_id,
      slot: p.slot,
      outcome: p.outcome!,
    }))
  }

  /** The run of each due schedule, one query per owning kind; keyed by kind and owner id. */
  private async requestsOf(db: Kysely<Tables>, due: ScheduleRow[]): Promise<Map<string, EnqueueRequest>> {
    const byKind = new Map<string, ScheduleRow[]>()
    for (const schedule of due)
      byKind.set(schedule.owner_kind, [...(byKind.get(schedule.owner_kind) ?? []), schedule])
    const requests = new Map<string, EnqueueRequest>()
    for (const [kind, schedules] of byKind) {
      const owner = this.owners.get(kind)
      // A kind this process has no owner for (an older process in a rolling deploy): left for one that has.
      if (!owner) continue
      for (const [ownerId, request] of await owner.requests(db, schedules))
        requests.set(`${kind}\n${ownerId}`, request)
    }
    return requests
  }

  /** Parsed schedules by text and time zone: parsing checks the time zone, which costs more than firing. */
  private specOf(schedule: ScheduleRow): ScheduleSpec {
    const key = `${schedule.timezone}\n${schedule.spec}`
    let spec = this.specs.get(key)
    if (!spec) {
      spec = parseSchedule(schedule.spec, schedule.timezone)
      if (this.specs.size >= 10_000) this.specs.clear()
      this.specs.set(key, spec)
    }
    return spec
  }

  /** Overlap policies of the slots about to fire, with one query for the active runs of all their owners. */
  private async applyOverlapPolicies(plans: SlotPlan[], skips: Skip[]): Promise<void> {
    const { runs, log } = this.deps
    const checked = plans.filter((p) => p.schedule.overlap_policy !== 'allow_all')
    if (checked.length === 0) return
    const active = await activeRunsOfSubjects(
      this.deps.database.db,
      checked.map((p) => ({ tenantId: p.schedule.tenant_id, subjectId: p.schedule.owner_id })),
    )
    for (const plan of checked) {
      const { schedule, slot } = plan
      const policy = schedule.overlap_policy
      const mine = active.get(schedule.owner_id) ?? []
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
            .cancel(schedule.tenant_id, run.id)
            .catch((error) =>
              log.warn(
                { ownerId: schedule.owner_id, runId: run.id, err: toError(error) },
                'could not cancel the previous run',
              ),
            )
    }
  }
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
