import type { ScheduleSettings } from '../schedules/schedules.ts'
import { botRunView } from './bot.run-view.ts'
import type { BotRow } from './bot.table.ts'

// A bot with a schedule has one in schedules/ (decision 0028), firing while the bot is enabled.

/** The schedule a bot's settings describe (null: the bot has none). */
export function scheduleOfBot(bot: BotRow): ScheduleSettings | null {
  if (!bot.schedule) return null
  return {
    ownerKind: botRunView.kind,
    ownerId: bot.id,
    tenantId: bot.tenant_id,
    spec: bot.schedule,
    timezone: bot.timezone,
    jitterSeconds: bot.jitter_seconds,
    missedPolicy: bot.missed_run_policy,
    overlapPolicy: bot.overlap_policy,
    active: bot.enabled === 1,
  }
}
