import {
  deadLetterPageSchema,
  deadLetterParamsSchema,
  deadLetterQuerySchema,
  deadLetterSchema,
  problemResponse,
  type RunEventPayload,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { notFound } from '../platform/errors.ts'
import { requireRole } from '../platform/http/caller.ts'
import { parseJson } from '../platform/json.ts'
import type { EventDeadLettersTable } from '../runs/runs.ts'
import { listDeadLetters, requestDeadLetterRetry } from '../runs/runs.ts'

// The events a durable consumer parked after failing on them again and again (decision 0025): the
// workspace's admins see them and send them back to their consumer once the cause is fixed.

type Row = { [K in keyof EventDeadLettersTable]: K extends 'id' ? number | string : EventDeadLettersTable[K] }

function toJson(row: Row) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString())
  return {
    id: String(row.id),
    consumer: row.consumer,
    eventId: Number(row.event_id),
    runId: row.run_id,
    type: row.type,
    payload: parseJson(row.payload) as RunEventPayload,
    error: row.error,
    attempts: row.attempts,
    parkedAt: iso(row.parked_at)!,
    retryRequestedAt: iso(row.retry_requested_at),
  }
}

export const deadLetterRoutes: FastifyPluginAsyncZod<{
  database: Db
  clock: Clock
  /** Wakes the consumers at once (they also pass every half second). */
  kick: () => void
}> = async (app, { database, clock, kick }) => {
  app.get(
    '/events/dead-letters',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['events'],
        summary: 'Events a consumer parked',
        description:
          'Events of this workspace that a durable consumer (the bots’ failure counter, notification channels, …) failed on again and again: parked so the consumer goes on. Newest first. Needs admin.',
        querystring: deadLetterQuerySchema,
        response: {
          200: deadLetterPageSchema,
          400: problemResponse('Invalid query (every bad field is listed in `errors`).'),
          401: problemResponse('No valid API key.'),
          403: problemResponse('The API key is below the admin role (`forbidden`).'),
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const rows = await listDeadLetters(database, request.auth.tenantId, {
        limit: limit + 1,
        before: cursor === undefined ? undefined : Number(cursor),
      })
      const page = rows.slice(0, limit)
      return {
        items: page.map(toJson),
        nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null,
      }
    },
  )

  app.post(
    '/events/dead-letters/:id/retry',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['events'],
        summary: 'Hand a parked event to its consumer again',
        description:
          'The consumer handles the event again at its next pass (within a second), in its own transaction. Handled: the dead letter is gone. Failed again: it stays, with the new error and one more attempt. Needs admin.',
        params: deadLetterParamsSchema,
        response: {
          202: deadLetterSchema,
          401: problemResponse('No valid API key.'),
          403: problemResponse('The API key is below the admin role (`forbidden`).'),
          404: problemResponse('No such dead letter in your workspace (`dead_letter_not_found`).'),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const row = /^\d{1,15}$/.test(id)
        ? await requestDeadLetterRetry(database, request.auth.tenantId, Number(id), clock.now())
        : undefined
      if (!row)
        throw notFound(
          'dead_letter_not_found',
          `Dead letter ${request.params.id} does not exist in this workspace.`,
        )
      kick()
      return reply.code(202).send(toJson(row))
    },
  )
}
