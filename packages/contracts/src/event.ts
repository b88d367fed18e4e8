import { z } from 'zod'
import { runStatusSchema } from './run.ts'

// The live feed (`GET /api/v1/events`, server-sent events): one event per run state change.
// Each SSE message is `id: <event id>`, `event: run.<status>`, `data: <RunEventPayload as JSON>`.

// Besides `run.<status>`: `run.output` (live only, id 0: streamed text, `delta` from `offset`),
// `bot.budget_warning` and `bot.paused` (stored, with the bot's details as extra fields).
export const runEventPayloadSchema = z
  .looseObject({
    runId: z.string(),
    tenantId: z.string(),
    kind: z.string(),
    botId: z.string().nullable(),
    parentRunId: z
      .string()
      .nullable()
      .optional()
      .describe('The run that started this one, if any (on `run.<status>` events).'),
    status: runStatusSchema.optional(),
    attempt: z.number().int().optional(),
    error: z.object({ code: z.string(), message: z.string() }).nullable().optional(),
    delta: z.string().optional().describe('`run.output`: the next piece of streamed text.'),
    offset: z.number().int().optional().describe('`run.output`: where `delta` starts in the output text.'),
  })
  .meta({
    id: 'RunEventPayload',
    description:
      'The `data` of a live-feed event: the run after its change (`run.<status>`), streamed text (`run.output`) or a bot event.',
  })

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
