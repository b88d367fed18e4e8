import { z } from 'zod'
import { runStatusSchema } from './run.ts'

// The live feed (`GET /api/v1/events`, server-sent events): one event per run state change.
// Each SSE message is `id: <event id>`, `event: run.<status>`, `data: <RunEventPayload as JSON>`.

export const runEventPayloadSchema = z
  .object({
    runId: z.string(),
    tenantId: z.string(),
    kind: z.string(),
    botId: z.string().nullable(),
    status: runStatusSchema,
    attempt: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'RunEventPayload', description: 'The `data` of a live-feed event: the run after its change.' })

/**
 * The data of a live-feed event (`event: run.completed`, …).
 *
 * @example
 * const payload: RunEventPayload = {
 *   runId: '0190d7c1-…', tenantId: 'default', kind: 'bot', botId: 'news',
 *   status: 'completed', attempt: 1, error: null,
 * }
 */
export type RunEventPayload = z.infer<typeof runEventPayloadSchema>

export const eventStreamHeadersSchema = z.object({
  'last-event-id': z
    .string()
    .regex(/^\d{1,18}$/, 'must be the id of an event this feed sent')
    .optional()
    .describe('Replays every event after this id before going live (browsers send it on reconnect).'),
})

export const eventStreamQuerySchema = z.object({
  lastEventId: z
    .string()
    .regex(/^\d{1,18}$/, 'must be the id of an event this feed sent')
    .optional()
    .describe('Same as the Last-Event-ID header, for clients that cannot set headers.'),
})
