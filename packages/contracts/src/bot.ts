import { z } from 'zod'
import { pageSchemaOf } from './pagination.ts'
import { runStatusSchema } from './run.ts'
import { nameText, symbolText } from './text.ts'

// Bots: a prompt, a provider/model and a schedule (DESIGN.md "Bots, memory and providers").

export const botProviderNames = ['openai', 'anthropic', 'google', 'mistral', 'ollama'] as const
export const missedRunPolicies = ['ignore', 'catch_up_one'] as const
export const overlapPolicies = ['skip', 'buffer_one', 'allow_all', 'cancel_other'] as const

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

/** The fields a person sets; every one optional on PATCH. */
const botFields = {
  name: nameText(1, 100).describe(
    'Unique within the workspace; no control, bidi-control or invisible characters.',
  ),
  description: z.string().max(2000).describe('What the bot is for; part of every run’s context.'),
  emoji: symbolText(16).nullable().describe('Shown on the bot’s card.'),
  prompt: z.string().min(1).max(20000).describe('What the bot does on every run.'),
  provider: z.enum(botProviderNames).describe('A configured LLM provider.'),
  model: nameText(1, 200).describe(
    'Model id; defaults to the provider’s `defaultModel` when omitted on create.',
  ),
  schedule: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .nullable()
    .describe(
      'Cron with 5 or 6 fields (seconds optional), `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`, ' +
        'or `@every 30s` (s, m, h, d). Null: runs only when started by hand or API.',
    ),
  timezone: z.string().min(1).max(64).describe('IANA time zone of the schedule (default: the server’s).'),
  enabled: z.boolean().describe('Whether the schedule fires. Manual runs work either way.'),
  maxRuntimeSeconds: z.number().int().min(1).max(86400).describe('A run longer than this times out.'),
  maxRetries: z.number().int().min(0).max(10).describe('Retries of transient failures after the first try.'),
  retryDelaySeconds: z
    .number()
    .int()
    .min(0)
    .max(86400)
    .describe('First retry delay; grows exponentially, with jitter.'),
  missedRunPolicy: z
    .enum(missedRunPolicies)
    .describe(
      'Slots missed while the orchestrator was down: `ignore`, or `catch_up_one` (one run for them).',
    ),
  overlapPolicy: z
    .enum(overlapPolicies)
    .describe(
      'A slot whose previous run is still pending or running: `skip` it, `buffer_one` (at most one waiting), ' +
        '`allow_all`, or `cancel_other` (cancel the previous run).',
    ),
  pauseAfterFailures: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .nullable()
    .describe('This many failed runs in a row disable the schedule (null: never).'),
  jitterSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .describe('Each slot starts up to this many seconds late, spreading schedules that share a slot.'),
  maxCostPerRunUsd: z
    .number()
    .positive()
    .max(10000)
    .nullable()
    .describe('A run that would cost more does not start.'),
  dailyBudgetUsd: z
    .number()
    .positive()
    .max(100000)
    .nullable()
    .describe(
      'Spend per day (in the bot’s time zone); at 80 % an event is emitted, above it runs do not start.',
    ),
  maxOutputTokens: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .nullable()
    .describe('Cap on tokens the model writes per run.'),
  tools: z
    .array(
      z
        .string()
        .min(1)
        .max(120)
        .regex(/^[a-z][a-z0-9_-]*(:[A-Za-z0-9_.-]+)?$/, 'a tool-set name such as `web` or `mcp:github`'),
    )
    .max(20)
    .refine((names) => new Set(names).size === names.length, 'each tool set once')
    .describe(
      'Tool sets the bot may use (`GET /api/v1/tools` lists them): `web`, `search`, `files`, `code`, `browser`, `mcp:<name>`. Empty: no tools.',
    ),
  maxToolIterations: z
    .number()
    .int()
    .min(1)
    .max(50)
    .describe('Rounds of tool calls a run may make before it fails with `tool_iterations_exceeded`.'),
  outputSchema: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe(
      'A JSON Schema (an object) the answer must match: stored as `output.data` beside `output.text`, and `isNew` compares the data. Null: free text.',
    ),
  onComplete: z
    .array(
      z.strictObject({
        start: z.union([
          z.strictObject({ botId: z.string().min(1).max(200) }),
          z.strictObject({ pipelineId: z.string().min(1).max(200) }),
        ]),
        when: z
          .enum(['always', 'on_new', 'on_results'])
          .default('always')
          .describe('`on_new`: the result differs from the last one; `on_results`: the run found something.'),
        passOutput: z.boolean().default(true).describe('The output becomes the started run’s input.'),
      }),
    )
    .max(10)
    .describe(
      'Bots or pipelines started when a run of this bot completes. A chain deeper than 10 is refused and logged.',
    ),
  priority: z
    .number()
    .int()
    .min(-100)
    .max(100)
    .describe(
      'Higher runs first when runs wait for a worker. In the `degraded` operating mode only bots of at least the mode’s level start; the others’ runs wait (default 0).',
    ),
  fallbacks: z
    .array(
      z.strictObject({
        provider: z.enum(botProviderNames),
        model: nameText(1, 200),
      }),
    )
    .max(3)
    .describe(
      'Tried in order while the provider’s circuit breaker is open (it failed again and again); empty: the run waits (`provider_open`) until the provider answers again.',
    ),
}

export const botCreateSchema = z
  .strictObject({
    name: botFields.name,
    description: botFields.description.default(''),
    emoji: botFields.emoji.default(null),
    prompt: botFields.prompt,
    provider: botFields.provider,
    model: botFields.model.optional(),
    schedule: botFields.schedule.default(null),
    timezone: botFields.timezone.optional(),
    enabled: botFields.enabled.default(true),
    maxRuntimeSeconds: botFields.maxRuntimeSeconds.default(120),
    maxRetries: botFields.maxRetries.default(1),
    retryDelaySeconds: botFields.retryDelaySeconds.default(30),
    missedRunPolicy: botFields.missedRunPolicy.default('ignore'),
    overlapPolicy: botFields.overlapPolicy.default('skip'),
    pauseAfterFailures: botFields.pauseAfterFailures.default(null),
    jitterSeconds: botFields.jitterSeconds.default(0),
    maxCostPerRunUsd: botFields.maxCostPerRunUsd.default(null),
    dailyBudgetUsd: botFields.dailyBudgetUsd.default(null),
    maxOutputTokens: botFields.maxOutputTokens.default(null),
    tools: botFields.tools.default([]),
    maxToolIterations: botFields.maxToolIterations.default(10),
    outputSchema: botFields.outputSchema.default(null),
    fallbacks: botFields.fallbacks.default([]),
    onComplete: botFields.onComplete.default([]),
    priority: botFields.priority.default(0),
  })
  .meta({ id: 'BotCreate', description: 'A new bot. Unknown fields are rejected.' })

/**
 * The body of `POST /api/v1/bots`.
 *
 * @example
 * const bot: BotCreate = {
 *   name: 'eBay scout', prompt: 'Find new offers of Nike Air Max 90 under 40 €.',
 *   provider: 'openai', model: 'gpt-4o-mini', schedule: '@hourly', timezone: 'Europe/Berlin',
 * }
 */
export type BotCreate = z.input<typeof botCreateSchema>

export const botUpdateSchema = z
  .strictObject(
    Object.fromEntries(Object.entries(botFields).map(([k, v]) => [k, v.optional()])) as {
      [K in keyof typeof botFields]: z.ZodOptional<(typeof botFields)[K]>
    },
  )
  .meta({ id: 'BotUpdate', description: 'Fields to change; the rest stay. Unknown fields are rejected.' })

/**
 * The body of `PATCH /api/v1/bots/{id}`.
 *
 * @example
 * const patch: BotUpdate = { schedule: '0 8 * * 1-5', enabled: true }
 */
export type BotUpdate = z.input<typeof botUpdateSchema>

export const botLastRunSchema = z
  .object({
    id: z.string(),
    status: runStatusSchema,
    isNew: z.boolean().nullable(),
    summary: z
      .string()
      .nullable()
      .describe('The first line of the output (or the error), at most 200 characters.'),
    costUsd: z.number().nullable(),
    createdAt: isoTime,
    finishedAt: isoTime.nullable(),
  })
  .meta({ id: 'BotLastRun', description: 'The latest run of a bot, in short.' })

export const botSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    emoji: z.string().nullable(),
    prompt: z.string(),
    provider: z.enum(botProviderNames),
    model: z.string(),
    schedule: z.string().nullable(),
    timezone: z.string(),
    enabled: z.boolean(),
    maxRuntimeSeconds: z.number().int(),
    maxRetries: z.number().int(),
    retryDelaySeconds: z.number().int(),
    missedRunPolicy: z.enum(missedRunPolicies),
    overlapPolicy: z.enum(overlapPolicies),
    pauseAfterFailures: z.number().int().nullable(),
    jitterSeconds: z.number().int(),
    maxCostPerRunUsd: z.number().nullable(),
    dailyBudgetUsd: z.number().nullable(),
    maxOutputTokens: z.number().int().nullable(),
    tools: z.array(z.string()).describe('The tool sets the bot may use.'),
    maxToolIterations: z.number().int(),
    outputSchema: z.record(z.string(), z.unknown()).nullable(),
    fallbacks: z.array(z.object({ provider: z.enum(botProviderNames), model: z.string() })),
    priority: z.number().int(),
    onComplete: z.array(
      z.object({
        start: z.union([z.object({ botId: z.string() }), z.object({ pipelineId: z.string() })]),
        when: z.enum(['always', 'on_new', 'on_results']),
        passOutput: z.boolean(),
      }),
    ),
    nextRunAt: isoTime.nullable().describe('When the schedule fires next (null: no schedule, or disabled).'),
    pausedReason: z
      .string()
      .nullable()
      .describe('Why the schedule was disabled by the orchestrator (failures in a row); null otherwise.'),
    consecutiveFailures: z.number().int(),
    lastRun: botLastRunSchema.nullable(),
    recentRuns: z
      .array(z.object({ id: z.string(), status: runStatusSchema, isNew: z.boolean().nullable() }))
      .describe('The latest runs (up to 5), newest first: the card’s row of ✅/❌.'),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: 'Bot', description: 'A bot: a prompt, a model and a schedule.' })

/**
 * A bot as the API returns it.
 *
 * @example
 * const name: Bot['name'] = 'eBay scout'
 */
export type Bot = z.infer<typeof botSchema>

export const botPageSchema = pageSchemaOf(botSchema).meta({ id: 'BotPage', description: 'A page of bots.' })
export type BotPage = z.infer<typeof botPageSchema>

export const botIdParamsSchema = z.object({ id: z.string().min(1).max(200).describe('The bot id.') })

export const botExportSchema = z
  .strictObject({
    format: z.literal('openorch.bot').describe('Marks a bot export.'),
    version: z.literal(1),
    bot: botCreateSchema,
  })
  .meta({
    id: 'BotExport',
    description: 'A bot as a portable JSON document: its settings, no ids, no state, no secrets.',
  })

/**
 * What `GET /api/v1/bots/{id}/export` returns and `POST /api/v1/bots/import` takes.
 *
 * @example
 * const doc: BotExport = { format: 'openorch.bot', version: 1, bot: { name: 'Scout', prompt: '…', provider: 'ollama', model: 'llama3.2' } }
 */
export type BotExport = z.input<typeof botExportSchema>

export const botRunRequestSchema = z
  .strictObject({
    input: z.unknown().optional().describe('Any JSON; shown to the model before the bot’s prompt.'),
    trigger: z
      .enum(['manual', 'api'])
      .default('api')
      .describe('`manual` for a person pressing "run now" (dashboard, CLI), `api` otherwise.'),
  })
  .meta({ id: 'BotRunRequest', description: 'Starts a run of a bot now.' })

export type BotRunRequest = z.input<typeof botRunRequestSchema>

// Notes: the bot's docs, part of every run's context (newest first, within a token budget).
export const noteNamePattern = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/

export const noteParamsSchema = z.object({
  id: z.string().min(1).max(200),
  name: z
    .string()
    .min(1)
    .max(100)
    .describe('File name inside the bot’s folder: letters, digits, space, `.`, `_`, `-`; no path.'),
})

export const notePutSchema = z
  .strictObject({
    content: z
      .string()
      .max(256 * 1024)
      .describe('The note’s text (Markdown), at most 256 KiB.'),
  })
  .meta({ id: 'NotePut', description: 'The new content of a note.' })

export const noteSchema = z
  .object({ name: z.string(), content: z.string(), size: z.number().int(), updatedAt: isoTime })
  .meta({ id: 'Note', description: 'A note of a bot.' })

export const noteSummarySchema = z
  .object({ name: z.string(), size: z.number().int(), updatedAt: isoTime })
  .meta({ id: 'NoteSummary', description: 'A note without its content.' })

export const noteListSchema = z
  .object({ items: z.array(noteSummarySchema) })
  .meta({ id: 'NoteList', description: 'A bot’s notes, newest first.' })

export type Note = z.infer<typeof noteSchema>
export type NoteSummary = z.infer<typeof noteSummarySchema>

// Files: what the bot's tools keep between runs (the files tool set's texts, browser screenshots).
// Unlike notes they are not part of the context; people read them here.
export const botFileNamePattern = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,199}$/

export const botFileParamsSchema = z.object({
  id: z.string().min(1).max(200),
  name: z
    .string()
    .min(1)
    .max(200)
    .describe('A file name of the bot: letters, digits, space, `.`, `_`, `-`; no path.'),
})

export const botFileSummarySchema = z
  .object({
    name: z.string(),
    size: z.number().int().describe('In bytes.'),
    contentType: z
      .string()
      .describe('`text/plain; charset=utf-8` for text; e.g. `image/png` for a browser screenshot.'),
    updatedAt: isoTime,
  })
  .meta({ id: 'BotFileSummary', description: 'A file of a bot, without its content.' })

export const botFileListSchema = z
  .object({ items: z.array(botFileSummarySchema) })
  .meta({ id: 'BotFileList', description: 'A bot’s files, newest first.' })

/**
 * A file the bot's tools keep, as listed by `GET /bots/{id}/files`; `GET /bots/{id}/files/{name}`
 * gives its bytes.
 * @example
 * const shot: BotFileSummary = { name: 'screenshot-20250101T120000Z-1a2b3c4d.png', size: 48213, contentType: 'image/png', updatedAt: '2025-01-01T12:00:00.000Z' }
 */
export type BotFileSummary = z.infer<typeof botFileSummarySchema>

/** A complete export document, as the server writes it (every field present). */
export type BotExportDocument = z.output<typeof botExportSchema>
