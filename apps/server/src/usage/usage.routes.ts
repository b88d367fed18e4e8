import { problemResponse, usageQuerySchema, usageSchema } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { UsageService } from './usage.service.ts'

// /api/v1/usage: tokens and cost of the caller's workspace, grouped by bot, provider, model or day.
export const usageRoutes: FastifyPluginAsyncZod<{ usage: UsageService }> = async (app, { usage }) => {
  app.get(
    '/usage',
    {
      schema: {
        tags: ['usage'],
        summary: 'Token usage and cost',
        description:
          'Per provider call (every attempt counts: a failed attempt that used tokens costs too). ' +
          'Calls of models without a known price are counted in `unpricedCalls`, not guessed.',
        querystring: usageQuerySchema,
        response: {
          200: usageSchema,
          400: problemResponse('Invalid query (every bad field is listed in `errors`).'),
          401: problemResponse('No valid API key.'),
        },
      },
    },
    async (request) => usage.report(request.auth.tenantId, request.query),
  )
}
