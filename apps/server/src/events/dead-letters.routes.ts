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
import { AppError, notFound } from '../platform/errors.ts'
import { requireRole } from '../platform/http/caller.ts'
import { parseJson } from '../platform/json.ts'
import type { EventDeadLettersTable } from '../runs/runs.ts'
import {
  eventPayloadJsonOf,
  findDeadLetter,
  listDeadLetters,
  type RunKindView,
  requestDeadLetterRetry,
} from '../runs/runs.ts'

// The events a durable consumer parked after failing on them again and again (decision 0025): the
// workspace's admins see them and send them back to their consumer once the cause is fixed.

type Row = { [K in keyof EventDeadLettersTable]: K extends 'id' ? number | string : EventDeadLettersTable[K] }

// A stored time as ISO; a damaged value (beyond what a Date holds) shows as the epoch, never a 500.
function iso(ms: number | null): string | null {
  if (ms === null) return null
  const date = new Date(Number(ms))
  return Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString()
}

function toJsonWith(present: (payload: unknown) => Record<string, unknown>) {
  return (row: Row) => {
    // The payload as the live feed shows it; the fields every payload has come from the row itself, so
    // a damaged payload (not an object, a field of the wrong type) still lists and can be retried.
    const payload = present(parseJson(row.payload))
    if (typeof payload.runId !== 'string') payload.runId = row.run_id
    if (typeof payload.tenantId !== 'string') payload.tenantId = row.tenant_id
    if (typeof payload.kind !== 'string') payload.kind = ''
    return {
      id: String(row.id),
      consumer: row.consumer,
      eventId: Number(row.event_id),
      runId: row.run_id,
      type: row.type,
      payload: deadLetterSchema.shape.payload.safeParse(payload).success
        ? (payload as RunEventPayload)
        : ({
            ...present({}),
            runId: row.run_id,
            tenantId: row.tenant_id,
            kind: String(payload.kind),
          } as RunEventPayload),
      error: row.error,
      attempts: row.attempts,
      parkedAt: iso(row.parked_at)!,
      retryRequestedAt: iso(row.retry_requested_at),
    }
  }
}

export const deadLetterRoutes: FastifyPluginAsyncZod<{
  database: Db
  clock: Clock
  /** Wakes the consumers at once (they also pass every half second). */
  kick: () => void
  /** The durable consumers this installation runs (every process runs the same). */
  consumers: () => readonly string[]
  /** How each kind's domain names its subject in a payload (run-view.ts). */
  views: readonly RunKindView[]
}> = async (app, { database, clock, kick, consumers, views }) => {
  const toJson = toJsonWith(eventPayloadJsonOf(views))
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
          409: problemResponse(
            'No consumer of that name runs in this version, so nothing would handle it (`consumer_not_running`).',
          ),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const tenantId = request.auth.tenantId
      const parked = /^\d{1,15}$/.test(id) ? await findDeadLetter(database, tenantId, Number(id)) : undefined
      if (!parked)
        throw notFound(
          'dead_letter_not_found',
          `Dead letter ${request.params.id} does not exist in this workspace.`,
        )
      // Every process runs the same consumers: one this process does not know is not run anywhere (an
      // upgrade removed it), and a retry would wait forever. Say so instead of accepting it.
      if (!consumers().includes(parked.consumer))
        throw new AppError(
          'consumer_not_running',
          `No consumer "${parked.consumer}" runs in this version of openOrchestrator, so nothing would handle the event again; it stays parked. Remove it from the database or run a version that has this consumer.`,
          409,
        )
      const row = await requestDeadLetterRetry(database, tenantId, Number(id), clock.now())
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
