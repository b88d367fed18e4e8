import { type Kysely, sql } from 'kysely'
import type { Tables } from '../database.ts'
import { disabledTenantIds } from '../tenants/tenants.ts'
import type { ScheduleRow } from './schedule.table.ts'
import { jitterOf, parseSchedule } from './schedule-spec.ts'

type Q = Kysely<Tables>

/** What an owner sets: the schedule, its policies, and whether it fires at all. */
export interface ScheduleSettings {
  ownerKind: string
  ownerId: string
  tenantId: string
  spec: string
  timezone: string
  jitterSeconds: number
  missedPolicy: string
  overlapPolicy: string
  /** False: kept but not firing (a disabled or paused owner). */
  active: boolean
}

/** The slot a schedule fires next after `after`, and when (jitter included); nulls when it does not fire. */
export function nextFireOf(
  schedule: { ownerId: string; spec: string; timezone: string; jitterSeconds: number },
  after: number,
): { next_slot_at: number | null; next_fire_at: number | null } {
  const slot = parseSchedule(schedule.spec, schedule.timezone).nextAfter(after)
  if (slot === null) return { next_slot_at: null, next_fire_at: null }
  return {
    next_slot_at: slot,
    next_fire_at: slot + jitterOf(schedule.ownerId, slot, schedule.jitterSeconds * 1000),
  }
}

/** The idempotency key of a slot: a second firing of the same slot, by any process, is a no-op. */
export function slotKeyOf(ownerId: string, slot: number, ownerKind = 'bot'): string {
  // Bots keep the key they always had; other owners name their kind (`schedule:pipeline:<id>:<slot>`).
  return ownerKind === 'bot' ? `schedule:${ownerId}:${slot}` : `schedule:${ownerKind}:${ownerId}:${slot}`
}

/** The slot a run's idempotency key names when a schedule fired it (slotKeyOf's key), else undefined. */
export function slotOfKey(key: string | null): number | undefined {
  if (!key?.startsWith('schedule:')) return undefined
  const slot = Number(key.slice(key.lastIndexOf(':') + 1))
  return Number.isSafeInteger(slot) && slot > 0 ? slot : undefined
}

/** Creates or replaces an owner's schedule, inside the owner's transaction; returns when it fires next. */
export async function putScheduleIn(trx: Q, settings: ScheduleSettings, now: number): Promise<number | null> {
  const next = settings.active ? nextFireOf(settings, now) : { next_slot_at: null, next_fire_at: null }
  const row: ScheduleRow = {
    owner_kind: settings.ownerKind,
    owner_id: settings.ownerId,
    tenant_id: settings.tenantId,
    spec: settings.spec,
    timezone: settings.timezone,
    jitter_seconds: settings.jitterSeconds,
    missed_policy: settings.missedPolicy,
    overlap_policy: settings.overlapPolicy,
    ...next,
    updated_at: now,
  }
  const { owner_kind: _kind, owner_id: _id, ...changes } = row
  await trx
    .insertInto('schedules')
    .values(row)
    .onConflict((oc) => oc.columns(['owner_kind', 'owner_id']).doUpdateSet(changes))
    .execute()
  return next.next_fire_at
}

/** Sets an owner's policies without moving its next slot (an owner's settings changed, not its schedule). */
export async function updatePoliciesIn(
  trx: Q,
  ownerKind: string,
  ownerId: string,
  policies: { missedPolicy: string; overlapPolicy: string },
  now: number,
): Promise<void> {
  await trx
    .updateTable('schedules')
    .set({ missed_policy: policies.missedPolicy, overlap_policy: policies.overlapPolicy, updated_at: now })
    .where('owner_kind', '=', ownerKind)
    .where('owner_id', '=', ownerId)
    .execute()
}

export async function removeScheduleIn(trx: Q, ownerKind: string, ownerId: string): Promise<void> {
  await trx
    .deleteFrom('schedules')
    .where('owner_kind', '=', ownerKind)
    .where('owner_id', '=', ownerId)
    .execute()
}

/** Stops a schedule firing (the owner paused it); enabling it again is a `putScheduleIn`. */
export async function pauseScheduleIn(
  trx: Q,
  ownerKind: string,
  ownerId: string,
  now: number,
): Promise<void> {
  await trx
    .updateTable('schedules')
    .set({ next_slot_at: null, next_fire_at: null, updated_at: now })
    .where('owner_kind', '=', ownerKind)
    .where('owner_id', '=', ownerId)
    .execute()
}

/** When each of `ownerIds` fires next (absent: no schedule, or not firing). */
export async function nextFireTimes(
  db: Q,
  ownerKind: string,
  ownerIds: string[],
): Promise<Map<string, number>> {
  if (ownerIds.length === 0) return new Map()
  const rows = await db
    .selectFrom('schedules')
    .select(['owner_id', 'next_fire_at'])
    .where('owner_kind', '=', ownerKind)
    .where('owner_id', 'in', ownerIds)
    .where('next_fire_at', 'is not', null)
    .execute()
  return new Map(rows.map((row) => [row.owner_id, Number(row.next_fire_at)]))
}

/** The schedules due at `now`, oldest fire time first; locked (SKIP LOCKED) on PostgreSQL. */
export async function dueSchedules(db: Q, now: number, limit: number, lock: boolean): Promise<ScheduleRow[]> {
  let query = db
    .selectFrom('schedules')
    .selectAll()
    .where('next_fire_at', '<=', now)
    // A disabled workspace's schedules wait (decision 0020); enabled again, the missed-slot policy
    // decides what happens to the slots that passed meanwhile.
    .where('tenant_id', 'not in', disabledTenantIds(db))
    .orderBy('next_fire_at')
    .limit(limit)
  if (lock) query = query.forUpdate().skipLocked()
  return query.execute()
}

/** The earliest fire time of all schedules of enabled workspaces; null: nothing fires. */
export async function earliestFireAt(db: Q): Promise<number | null> {
  const row = await db
    .selectFrom('schedules')
    .select((eb) => eb.fn.min('next_fire_at').as('next'))
    .where('next_fire_at', 'is not', null)
    .where('tenant_id', 'not in', disabledTenantIds(db))
    .executeTakeFirst()
  return row?.next === null || row?.next === undefined ? null : Number(row.next)
}

/** A schedule moving on from `firedSlot` to its next slot and fire time; null: none left. */
export interface ScheduleAdvance {
  ownerKind: string
  ownerId: string
  firedSlot: number | null
  next: { slot: number; fireAt: number } | null
}

/**
 * Moves schedules to their next slot, each unless someone changed it meanwhile (its `next_slot_at`
 * is no longer the one fired). A schedule without a next slot stops firing.
 */
export async function advanceSchedules(
  db: Q,
  advances: ScheduleAdvance[],
  now: number,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  for (const ended of advances.filter((a) => a.next === null))
    await db
      .updateTable('schedules')
      .set({ next_slot_at: null, next_fire_at: null, updated_at: now })
      .where('owner_kind', '=', ended.ownerKind)
      .where('owner_id', '=', ended.ownerId)
      .where('next_slot_at', '=', ended.firedSlot)
      .execute()
  const moving = advances.filter((a) => a.next !== null)
  if (dialect === 'sqlite') {
    // SQLite plans UPDATE … FROM (VALUES …) with bound parameters as a scan per value row (~1 s per
    // 500 rows at 100,000 schedules); one update by primary key per row costs microseconds.
    for (const a of moving)
      await db
        .updateTable('schedules')
        .set({ next_slot_at: a.next!.slot, next_fire_at: a.next!.fireAt })
        .where('owner_kind', '=', a.ownerKind)
        .where('owner_id', '=', a.ownerId)
        .where('next_slot_at', '=', a.firedSlot)
        .execute()
    return
  }
  // 5 parameters a row: 500 rows stay far below the limits.
  for (let i = 0; i < moving.length; i += 500) {
    const values = moving
      .slice(i, i + 500)
      .map(
        (a) =>
          sql`(${a.ownerKind}, ${a.ownerId}, CAST(${a.firedSlot} AS bigint), CAST(${a.next!.slot} AS bigint), CAST(${a.next!.fireAt} AS bigint))`,
      )
    await sql`
      WITH v (owner_kind, owner_id, fired_slot, next_slot_at, next_fire_at) AS (VALUES ${sql.join(values)})
      UPDATE schedules SET next_slot_at = v.next_slot_at, next_fire_at = v.next_fire_at
      FROM v
      WHERE schedules.owner_kind = v.owner_kind AND schedules.owner_id = v.owner_id
        AND schedules.next_slot_at = v.fired_slot`.execute(db)
  }
}
