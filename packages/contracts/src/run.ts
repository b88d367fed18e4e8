import { z } from 'zod'
import { pageQuerySchema, pageSchemaOf } from './pagination.ts'

// The run as the API shows it: DESIGN.md "Run JSON". Times are ISO-8601 strings (UTC).

export const runStatuses = [
  'pending',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
  'timeout',
] as const
export const runTriggers = ['manual', 'api', 'schedule', 'pipeline', 'webhook', 'channel', 'event'] as const

export const runStatusSchema = z.enum(runStatuses).meta({
  id: 'RunStatus',
  description:
    '`pending → running → completed | failed | cancelled | timeout`, plus `waiting` (parked outside a worker).',
})
export const runTriggerSchema = z
  .enum(runTriggers)
  .meta({ id: 'RunTrigger', description: 'What created the run.' })

/**
 * A run's lifecycle state.
 *
 * @example
 * const status: RunStatus = 'completed'
 */
export type RunStatus = z.infer<typeof runStatusSchema>

/**
 * What created a run.
 *
 * @example
 * const trigger: RunTrigger = 'schedule'
 */
export type RunTrigger = z.infer<typeof runTriggerSchema>

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

export const runErrorSchema = z.object({ code: z.string(), message: z.string() }).meta({
  id: 'RunError',
  description: 'Why the run failed (null unless it failed, timed out or was cancelled).',
})

export const runSearchSnippetSchema = z
  .object({
    text: z
      .string()
      .describe(
        'About 200 characters of the output’s text around its first match, whitespace collapsed; `…` marks a cut.',
      ),
    highlights: z
      .array(
        z.object({
          start: z.number().int().min(0),
          end: z.number().int().min(0),
        }),
      )
      .describe(
        'The matching words in `text`: offsets in UTF-16 code units (JavaScript string indexes), `end` exclusive, in order. Plain offsets, never markup.',
      ),
  })
  .meta({
    id: 'RunSearchSnippet',
    description: 'Where a search (`GET /runs?q=`) matched a run’s output.',
  })

/**
 * Where a search matched: render `text` as text and wrap each highlight (never as HTML).
 *
 * @example
 * const snippet: RunSearchSnippet = { text: '…the weekly summary of offers', highlights: [{ start: 15, end: 22 }] }
 * const marked = snippet.highlights.map((h) => snippet.text.slice(h.start, h.end)) // ['summary']
 */
export type RunSearchSnippet = z.infer<typeof runSearchSnippetSchema>

export const runSchema = z
  .object({
    id: z.string(),
    kind: z.string().describe('Which executor runs it: `bot`, `pipeline`, `agent.task`, …'),
    botId: z.string().nullable(),
    pipelineId: z.string().nullable().describe('For runs of kind `pipeline`: the pipeline; null otherwise.'),
    parentRunId: z
      .string()
      .nullable()
      .describe('The run that started this one (a pipeline step, a notification, an agent task), if any.'),
    status: runStatusSchema,
    trigger: runTriggerSchema,
    input: z.unknown().describe('Any JSON; null when the run has none.'),
    output: z.unknown().describe('Any JSON; null until the run completes.'),
    outputHash: z
      .string()
      .nullable()
      .describe('Hash of the output; equal hashes mean nothing new was found.'),
    isNew: z
      .boolean()
      .nullable()
      .describe('Whether the output differs from the previous run of the same bot.'),
    attempt: z.number().int().min(0).describe('1 for the first try; 0 while the run was never claimed.'),
    maxAttempts: z.number().int().min(1),
    priority: z.number().int(),
    tokensIn: z.number().int().nullable(),
    tokensOut: z.number().int().nullable(),
    costUsd: z.number().nullable(),
    durationMs: z.number().int().nullable(),
    error: runErrorSchema.nullable(),
    waitReason: z.string().nullable().describe('What a `waiting` run waits for.'),
    correlationKey: z
      .string()
      .nullable()
      .describe("The name of a `waiting` run's current parking: it can be resumed by this key."),
    waitUntil: isoTime
      .nullable()
      .describe('When a `waiting` run times out (`wait_timeout`), if it has a deadline.'),
    deadLettered: z
      .boolean()
      .describe('True when the run failed for good after its retries; retriable by hand.'),
    traceId: z
      .string()
      .nullable()
      .describe(
        'The OpenTelemetry trace the run belongs to (32 hex digits): look it up in your tracing backend. Null when tracing is off (no `OTEL_EXPORTER_OTLP_ENDPOINT`) or the trace is unknown.',
      ),
    createdAt: isoTime,
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
    snippet: runSearchSnippetSchema
      .optional()
      .describe('Only in search results (`GET /runs?q=`), when the output has text: where it matched.'),
  })
  .meta({ id: 'Run', description: 'One execution: of a bot, a pipeline step, an agent task, …' })

/**
 * A run, as returned by `GET /api/v1/runs/{id}`.
 *
 * @example
 * const run: Run = {
 *   id: '0190d7c1-5f7e-7cc2-9a43-6f1b2c3d4e5f', kind: 'bot', botId: 'news', parentRunId: null,
 *   status: 'completed',
 *   trigger: 'schedule', input: null, output: { text: '…' }, outputHash: 'ab12…', isNew: true,
 *   attempt: 1, maxAttempts: 3, priority: 0, tokensIn: 812, tokensOut: 240, costUsd: 0.0031,
 *   durationMs: 4120, error: null, waitReason: null, correlationKey: null, waitUntil: null,
 *   deadLettered: false, traceId: null,
 *   createdAt: '2026-01-01T08:00:00.000Z', startedAt: '2026-01-01T08:00:00.120Z',
 *   finishedAt: '2026-01-01T08:00:04.240Z',
 * }
 */
export type Run = z.infer<typeof runSchema>

export const runPageSchema = pageSchemaOf(runSchema).meta({
  id: 'RunPage',
  description: 'A page of runs, newest first.',
})

/**
 * A page of runs.
 *
 * @example
 * const page: RunPage = { items: [], nextCursor: null }
 */
export type RunPage = z.infer<typeof runPageSchema>

export const runListQuerySchema = pageQuerySchema.extend({
  status: runStatusSchema.optional().describe('Only runs in this state.'),
  botId: z.string().min(1).max(200).optional().describe('Only runs of this bot.'),
  q: z
    .string()
    .trim()
    .min(2)
    .max(200)
    .optional()
    .describe(
      'Full-text search: only runs whose output has every word of this text, the last word as a prefix (`summ` finds “summary”). Case and accents are ignored (`uber` finds “Über”); punctuation and operators are not syntax, they separate words. Results stay newest first; each has a `snippet`.',
    ),
})

/**
 * The query of `GET /api/v1/runs`.
 *
 * @example
 * const query: RunListQuery = { status: 'failed', limit: 20 }
 */
export type RunListQuery = z.input<typeof runListQuerySchema>

export const runIdParamsSchema = z.object({ id: z.string().min(1).max(200).describe('The run id.') })

export const runLogEntrySchema = z
  .object({
    at: isoTime,
    attempt: z.number().int(),
    level: z.enum(['debug', 'info', 'warn', 'error']),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'RunLogEntry', description: 'One line of a run’s log.' })

export const runLogSchema = z.object({ items: z.array(runLogEntrySchema) }).meta({
  id: 'RunLog',
  description: 'What a run did: context size, truncations, provider, model, attempts, errors.',
})

/**
 * The log of a run, as `GET /api/v1/runs/{id}/log` returns it.
 *
 * @example
 * const log: RunLog = { items: [{ at: '2026-01-01T08:00:00.000Z', attempt: 1, level: 'info', message: 'context built', data: { tokens: 812 } }] }
 */
export type RunLog = z.infer<typeof runLogSchema>
