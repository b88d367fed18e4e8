import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { EnqueueRequest } from '../runs/runs.ts'
import type { ScheduleOwner } from '../schedules/schedules.ts'
import { botRunRequest } from './bot.service.ts'

// The bots as owners of schedules (schedules/, decision 0028): a slot runs the bot; a schedule that
// ends disables its bot and says why.

export const botScheduleOwner: ScheduleOwner = {
  async requests(db, due) {
    const requests = new Map<string, EnqueueRequest>()
    const byTenant = new Map<string, string[]>()
    for (const schedule of due)
      byTenant.set(schedule.tenant_id, [...(byTenant.get(schedule.tenant_id) ?? []), schedule.owner_id])
    for (const [tenantId, ids] of byTenant) {
      const bots = await db
        .selectFrom('bots')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids)
        .execute()
      for (const bot of bots) requests.set(bot.id, botRunRequest(bot, 'schedule', null, null))
    }
    return requests
  },
  async ended(db: Kysely<Tables>, schedule, reason, now) {
    await db
      .updateTable('bots')
      .set({ enabled: 0, paused_reason: reason, updated_at: now })
      .where('tenant_id', '=', schedule.tenant_id)
      .where('id', '=', schedule.owner_id)
      .execute()
  },
}
