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

// Dead-lettered events (`GET /api/v1/events/dead-letters`): an event a durable consumer failed on
// again and again, parked so the consumer goes on; retriable by hand.
export const deadLetterSchema = z
  .object({
    id: z.string().describe('The dead letter (retry it by this id).'),
    consumer: z.string().describe('Which consumer failed on it (`bots`, `channels`, …).'),
    eventId: z.number().int().describe('The outbox event.'),
    runId: z.string(),
    type: z.string().describe('The event type, e.g. `run.failed`.'),
    payload: runEventPayloadSchema,
    error: z.string().describe('What the consumer failed with, the last time.'),
    attempts: z.number().int().describe('How often the consumer tried it.'),
    parkedAt: z.iso.datetime(),
    retryRequestedAt: z.iso.datetime().nullable().describe('Set while a retry waits for the consumer.'),
  })
  .meta({ id: 'DeadLetter', description: 'An event a consumer could not handle, parked.' })

/**
 * An event parked by its consumer.
 *
 * @example
 * const letter: DeadLetter = {
 *   id: '12', consumer: 'bots', eventId: 4711, runId: '0190d7c1-…', type: 'run.failed',
 *   payload: { runId: '0190d7c1-…', tenantId: 'default', kind: 'bot', botId: 'news' },
 *   error: 'bots table locked', attempts: 5, parkedAt: '2026-01-01T08:00:00.000Z', retryRequestedAt: null,
 * }
 */
export type DeadLetter = z.infer<typeof deadLetterSchema>

export const deadLetterPageSchema = z
  .object({
    items: z.array(deadLetterSchema),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` to get the next page; null on the last page.'),
  })
  .meta({ id: 'DeadLetterPage' })

export const deadLetterQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(200)
    .default(50)
    .describe('Items per page, 1 to 200 (default 50).'),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'must be a nextCursor returned by this list')
    .optional()
    .describe('The `nextCursor` of the previous page.'),
})

export const deadLetterParamsSchema = z.object({
  id: z.string().max(100).describe('The dead letter’s id (from the list).'),
})
