import { type OperatingMode, operatingModeSchema } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import { appendAuditIn, systemEntry } from '../audit/audit.ts'
import type { Db, Tables } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, toError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import type { Admission } from '../runs/worker.ts'

// The cluster's operating mode (issue 16, decision 0040): `normal`; `degraded`, where only runs of at
// least a priority start and the rest wait; `paused`, where nothing new starts and running runs
// finish. One row in the database is the truth for every process; a change is announced on the bus
// (`control`, at once) and every process also reads the row every few seconds (a missed notification,
// a change made by `openorch mode` while the bus was down).

export type ModeName = OperatingMode['mode']

/** The level `degraded` takes when none is given: every bot of priority 1 and above. */
export const defaultDegradedPriority = 1

const modeChanged = JSON.stringify({ type: 'mode' })

export interface ModeChange {
  mode: ModeName
  minPriority?: number | null | undefined
  reason?: string | null | undefined
}

export interface ModeActor {
  type: 'user' | 'api_key' | 'cli'
  id: string | null
  tenantId: string
  role?: string | null
  requestId?: string | null
  ip?: string | null
}

const normal: OperatingMode = {
  mode: 'normal',
  minPriority: null,
  reason: null,
  changedAt: null,
  changedBy: null,
}

export async function readMode(db: Kysely<Tables>): Promise<OperatingMode> {
  const row = await db.selectFrom('system_mode').selectAll().where('id', '=', 1).executeTakeFirst()
  if (!row) return normal
  return operatingModeSchema.parse({
    mode: row.mode,
    minPriority: row.mode === 'degraded' ? row.min_priority : null,
    reason: row.reason,
    changedAt: new Date(Number(row.changed_at)).toISOString(),
    changedBy: { type: row.changed_by_type, id: row.changed_by_id },
  })
}

/**
 * Writes the mode with its audit entry in one transaction; returns what was and what is now. The
 * caller tells the processes (`bus.publish('control', …)` or `pg_notify` from the command line).
 */
export async function writeMode(
  database: Db,
  change: ModeChange,
  actor: ModeActor,
  now: number,
): Promise<{ before: OperatingMode; after: OperatingMode }> {
  if (change.mode !== 'degraded' && change.minPriority !== undefined && change.minPriority !== null)
    throw new AppError(
      'validation_failed',
      `minPriority applies to the degraded mode only; leave it out for "${change.mode}".`,
      400,
    )
  const minPriority = change.mode === 'degraded' ? (change.minPriority ?? defaultDegradedPriority) : null
  return writeTransaction(database, async (trx) => {
    const before = await readMode(trx)
    const row = {
      mode: change.mode,
      min_priority: minPriority,
      reason: change.reason?.trim() || null,
      changed_by_type: actor.type,
      changed_by_id: actor.id,
      changed_at: now,
    }
    await trx
      .insertInto('system_mode')
      .values({ id: 1, ...row })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute()
    await appendAuditIn(trx, database.dialect, [
      {
        ...systemEntry({
          tenantId: actor.tenantId,
          at: now,
          actorId: actor.id,
          actorRole: actor.role ?? null,
          action: 'system.mode_changed',
          targetType: 'system',
          targetId: 'mode',
          requestId: actor.requestId ?? null,
          ip: actor.ip ?? null,
          details: { from: before.mode, to: change.mode, minPriority, reason: row.reason },
        }),
        actor_type: actor.type,
      },
    ])
    return { before, after: await readMode(trx) }
  })
}

/** What a worker may claim in a mode. */
export function admissionOf(mode: OperatingMode): Admission {
  if (mode.mode === 'paused') return { claims: false }
  if (mode.mode === 'degraded')
    return { claims: true, minPriority: mode.minPriority ?? defaultDegradedPriority }
  return { claims: true }
}

/**
 * This process's view of the mode: read at start, on every `mode` message of the bus, and every
 * `pollMs`. `onChange` is called when it changes (the worker claims again when the mode widens).
 */
export function createOperatingMode(deps: {
  database: Db
  bus: Bus
  clock: Clock
  log: Logger
  pollMs?: number
}) {
  let current = normal
  const listeners: Array<(mode: OperatingMode, before: OperatingMode) => void> = []
  let timer: NodeJS.Timeout | undefined
  let unsubscribe: (() => void) | undefined

  async function refresh(): Promise<OperatingMode> {
    const next = await readMode(deps.database.db)
    const before = current
    current = next
    if (before.mode !== next.mode || before.minPriority !== next.minPriority) {
      deps.log.warn(
        { mode: next.mode, minPriority: next.minPriority, reason: next.reason, from: before.mode },
        next.mode === 'normal' ? 'operating mode back to normal' : `operating mode is now ${next.mode}`,
      )
      for (const listener of listeners) listener(next, before)
    }
    return next
  }

  const refreshQuietly = () =>
    void refresh().catch((error) =>
      deps.log.warn({ err: toError(error) }, 'could not read the operating mode; keeping the last one'),
    )

  return {
    current: () => current,
    admission: () => admissionOf(current),
    onChange(listener: (mode: OperatingMode, before: OperatingMode) => void): void {
      listeners.push(listener)
    },
    async start(): Promise<void> {
      await refresh()
      unsubscribe = deps.bus.subscribe('control', (message) => {
        if (message === modeChanged) refreshQuietly()
      })
      timer = setInterval(refreshQuietly, deps.pollMs ?? 5_000)
      timer.unref()
    },
    stop(): void {
      clearInterval(timer)
      unsubscribe?.()
    },
    /** Changes the mode for the whole cluster, audited; every process follows within moments. */
    async set(change: ModeChange, actor: ModeActor): Promise<OperatingMode> {
      const { after } = await writeMode(deps.database, change, actor, deps.clock.now())
      await deps.bus.publish('control', modeChanged).catch(() => {})
      await refresh()
      return after
    },
  }
}

export type OperatingModeService = ReturnType<typeof createOperatingMode>

/** The bus message that makes every process read the mode again (for `pg_notify` from the CLI). */
export const modeChangedMessage = modeChanged
