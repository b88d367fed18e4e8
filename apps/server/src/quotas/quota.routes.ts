import { problemResponse, quotasSchema } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { countBots } from '../bots/bot.store.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { tenantSpendSince } from '../usage/usage.store.ts'
import type { Quotas } from './quotas.ts'

// GET /api/v1/quotas: the caller's workspace's limits and what it uses of them (decision 0019).
export const quotaRoutes: FastifyPluginAsyncZod<{ database: Db; clock: Clock; quotas: Quotas }> = async (
  app,
  { database, clock, quotas },
) => {
  app.get(
    '/quotas',
    {
      schema: {
        tags: ['usage'],
        summary: 'The workspace’s quotas and what it uses of them',
        description:
          'Set per installation (OPENORCH_MAX_BOTS, OPENORCH_MAX_NOTES_PER_BOT, OPENORCH_MAX_NOTE_BYTES_PER_BOT, ' +
          'OPENORCH_MAX_INPUT_BYTES, OPENORCH_MIN_SCHEDULE_SECONDS, OPENORCH_DEFAULT_DAILY_BUDGET_USD), applied to ' +
          'each workspace. A request past one answers 409 `quota_exceeded` with `quota` and `limit`.',
        response: { 200: quotasSchema, 401: problemResponse('No valid API key.') },
      },
    },
    async (request) => {
      const tenantId = request.auth.tenantId
      const midnight = new Date(clock.now())
      midnight.setUTCHours(0, 0, 0, 0)
      return {
        bots: { limit: quotas.bots, used: await countBots(database.db, tenantId) },
        notesPerBot: quotas.notesPerBot,
        noteBytesPerBot: quotas.noteBytesPerBot,
        inputBytes: quotas.inputBytes,
        minScheduleSeconds: quotas.minScheduleSeconds,
        dailyBudget: {
          limitUsd: quotas.dailyBudgetUsd,
          spentTodayUsd: await tenantSpendSince(database.db, tenantId, midnight.getTime()),
        },
      }
    },
  )
}
