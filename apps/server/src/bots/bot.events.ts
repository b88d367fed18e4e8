import type { Kysely } from 'kysely'
import { appendAuditIn, systemEntry } from '../audit/audit.ts'
import type { Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { DialectName } from '../platform/db/database.ts'
import type { Logger } from '../platform/logger.ts'
import type { EventHandler } from '../runs/outbox-relay.ts'
import { appendEventsIn } from '../runs/runs.ts'
import { pauseScheduleIn } from '../schedules/schedules.ts'
import { botRunView } from './bot.run-view.ts'

// Bots react to their runs' events (never the other way round): failures in a row are counted and,
// at the bot's `pauseAfterFailures`, its schedule is disabled with a `bot.paused` event. Runs inside
// the outbox relay's transaction, so each event is counted exactly once.

const failed = new Set(['run.failed', 'run.timeout'])

interface Deps {
  clock: Clock
  log: Logger
  dialect: DialectName
}

export function createBotEventHandler(deps: Deps): EventHandler {
  return async (events, trx) => {
    for (const event of events) {
      // A bot run's subject is its bot (bot.run-view.ts); events stored before migration 0019 name it botId.
      const botId = (event.payload.subjectId ?? event.payload.botId) as string | null | undefined
      if (event.payload.kind !== botRunView.kind || !botId) continue
      if (event.type === 'run.completed') await resetFailures(trx, event.tenantId, botId)
      else if (failed.has(event.type))
        await countFailure(trx, deps, event.tenantId, botId, event.runId, event.payload)
    }
  }
}

async function resetFailures(trx: Kysely<Tables>, tenantId: string, botId: string): Promise<void> {
  await trx
    .updateTable('bots')
    .set({ consecutive_failures: 0 })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', botId)
    .where('consecutive_failures', '>', 0)
    .execute()
}

async function countFailure(
  trx: Kysely<Tables>,
  deps: Deps,
  tenantId: string,
  botId: string,
  runId: string,
  payload: { error: { code: string; message: string } | null },
): Promise<void> {
  const bot = await trx
    .updateTable('bots')
    .set((eb) => ({ consecutive_failures: eb('consecutive_failures', '+', 1) }))
    .where('tenant_id', '=', tenantId)
    .where('id', '=', botId)
    .returning(['consecutive_failures', 'pause_after_failures', 'enabled', 'name'])
    .executeTakeFirst()
  if (!bot || bot.pause_after_failures === null || bot.enabled !== 1) return
  if (bot.consecutive_failures < bot.pause_after_failures) return
  const now = deps.clock.now()
  const reason = `${bot.consecutive_failures} runs failed in a row (last: ${payload.error?.code ?? 'failed'}); the schedule was paused. Fix the cause, then enable the bot again.`
  await trx
    .updateTable('bots')
    .set({ enabled: 0, paused_reason: reason, updated_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', botId)
    .execute()
  await pauseScheduleIn(trx, botRunView.kind, botId, now)
  await appendEventsIn(trx, [
    {
      tenantId,
      runId,
      type: 'bot.paused',
      payload: {
        runId,
        tenantId,
        kind: 'bot',
        subjectId: botId,
        botId,
        botName: bot.name,
        consecutiveFailures: bot.consecutive_failures,
        reason,
      },
      createdAt: now,
    },
  ])
  // A change nobody asked for: the audit trail says the scheduler made it, and why.
  await appendAuditIn(trx, deps.dialect, [
    systemEntry({
      tenantId,
      at: now,
      actorId: 'scheduler',
      action: 'bot.paused',
      targetType: 'bots',
      targetId: botId,
      details: {
        consecutiveFailures: bot.consecutive_failures,
        lastError: payload.error?.code ?? null,
        runId,
      },
    }),
  ])
  deps.log.warn(
    { botId, tenantId, failures: bot.consecutive_failures },
    'bot schedule paused after failures in a row',
  )
}
