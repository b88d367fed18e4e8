import { jitterOf, parseSchedule } from '../schedules/schedule-spec.ts'
import type { BotRow } from './bot.table.ts'

/** The slot a bot's schedule fires next after `after`, and when (jitter included); nulls when it does not fire. */
export function nextFireOf(
  bot: Pick<BotRow, 'id' | 'schedule' | 'timezone' | 'enabled' | 'jitter_seconds'>,
  after: number,
): { next_slot_at: number | null; next_fire_at: number | null } {
  if (bot.enabled !== 1 || !bot.schedule) return { next_slot_at: null, next_fire_at: null }
  const slot = parseSchedule(bot.schedule, bot.timezone).nextAfter(after)
  if (slot === null) return { next_slot_at: null, next_fire_at: null }
  return { next_slot_at: slot, next_fire_at: slot + jitterOf(bot.id, slot, bot.jitter_seconds * 1000) }
}

/** The idempotency key of a slot: a second firing of the same slot, by any process, is a no-op. */
export function slotKeyOf(botId: string, slot: number): string {
  return `schedule:${botId}:${slot}`
}
