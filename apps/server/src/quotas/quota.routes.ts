import {
  problemResponse,
  type Quotas as QuotasView,
  quotaOverridesSchema,
  quotasSchema,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { withTenantScope } from '../platform/db/tenant-scope.ts'
import { notFound } from '../platform/errors.ts'
import { tenantSpendSince } from '../usage/usage.ts'
import { requireInstallationAdmin } from '../workspaces/workspace.routes.ts'
import { setQuotaOverrides } from './quota.store.ts'
import type { QuotasOf } from './quotas.ts'

// GET /api/v1/quotas: the caller's workspace's limits and what it uses of them; PUT
// /api/v1/workspaces/{id}/quotas: an installation admin sets a workspace's own (decision 0019).
// The bots domain enforces its quota through quotas/, so the count of bots is passed in rather than
// imported (no bots ⇄ quotas cycle, decision 0026).
export const quotaRoutes: FastifyPluginAsyncZod<{
  database: Db
  clock: Clock
  quotasOf: QuotasOf
  countBots: (tenantId: string) => Promise<number>
}> = async (app, { database, clock, quotasOf, countBots }) => {
  async function viewOf(tenantId: string): Promise<QuotasView> {
    const quotas = await quotasOf(tenantId)
    const midnight = new Date(clock.now())
    midnight.setUTCHours(0, 0, 0, 0)
    return {
      bots: { limit: quotas.bots, used: await countBots(tenantId) },
      notesPerBot: quotas.notesPerBot,
      noteBytesPerBot: quotas.noteBytesPerBot,
      inputBytes: quotas.inputBytes,
      minScheduleSeconds: quotas.minScheduleSeconds,
      dailyBudget: {
        limitUsd: quotas.dailyBudgetUsd,
        spentTodayUsd: await tenantSpendSince(database.db, tenantId, midnight.getTime()),
      },
    }
  }

  app.get(
    '/quotas',
    {
      schema: {
        tags: ['usage'],
        summary: 'The workspace’s quotas and what it uses of them',
        description:
          'The installation’s limits (OPENORCH_MAX_BOTS, OPENORCH_MAX_NOTES_PER_BOT, OPENORCH_MAX_NOTE_BYTES_PER_BOT, ' +
          'OPENORCH_MAX_INPUT_BYTES, OPENORCH_MIN_SCHEDULE_SECONDS, OPENORCH_DEFAULT_DAILY_BUDGET_USD) with the ' +
          'workspace’s own on top. A request past one answers 409 `quota_exceeded` with `quota` and `limit`.',
        response: { 200: quotasSchema, 401: problemResponse('No valid API key.') },
      },
    },
    async (request) => viewOf(request.auth.tenantId),
  )

  app.put(
    '/workspaces/:id/quotas',
    {
      preValidation: requireInstallationAdmin,
      schema: {
        tags: ['workspaces'],
        summary: 'Set a workspace’s own quotas',
        description:
          'Replaces the workspace’s overrides: a field left out or null takes the installation’s value; ' +
          '`dailyBudgetUsd: 0` means no budget. Applies from the next request on every process. Audited. ' +
          'Installation admins only.',
        params: z.object({ id: z.string().min(1).max(100) }),
        body: quotaOverridesSchema,
        response: {
          200: quotasSchema,
          400: problemResponse('Invalid request (every bad field is listed in `errors`).'),
          401: problemResponse('No valid API key or session.'),
          403: problemResponse('Not an installation admin (`forbidden`).'),
          404: problemResponse('No such workspace (`workspace_not_found`).'),
        },
      },
    },
    // An installation admin acts on another workspace: its figures are read in its scope (decision 0042).
    async (request) =>
      withTenantScope(request.params.id, async () => {
        if (!(await setQuotaOverrides(database.db, request.params.id, request.body)))
          throw notFound('workspace_not_found', `There is no workspace ${request.params.id}.`)
        return viewOf(request.params.id)
      }),
  )
}
