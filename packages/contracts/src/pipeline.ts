import { z } from 'zod'
import { missedRunPolicies, overlapPolicies } from './bot.ts'
import { pageSchemaOf } from './pagination.ts'
import { runSchema, runStatusSchema } from './run.ts'
import { nameText, symbolText } from './text.ts'

// Pipelines (issue 15): bots chained as a durable workflow. Every step is a bot run whose parent is
// the pipeline's run; steps with the same dependencies run in parallel, a step with several gets
// their outputs labelled by step key.

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

export const pipelineErrorPolicies = ['abort', 'skip', 'retry'] as const
export const pipelineInputModes = ['forward', 'merge', 'independent'] as const
export const pipelineStepStatuses = [
  'pending',
  'running',
  'approval',
  'completed',
  'failed',
  'skipped',
  'cancelled',
] as const

const stepKey = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, `-` and `_`, up to 64 characters')
  .describe('Unique in the pipeline; names the step in conditions, `dependsOn` and run views.')

/**
 * When a step runs: every given test must hold. It looks at one step it depends on (`step`; default:
 * its only dependency).
 *
 * @example
 * const condition: PipelineCondition = { step: 'scout', status: 'completed', contains: 'offer' }
 * const onPrice: PipelineCondition = { pointer: '/offers/0/price', op: 'lt', value: 50 }
 */
export const pipelineConditionSchema = z
  .strictObject({
    step: stepKey.optional().describe('The step looked at; default the only step this one depends on.'),
    status: z
      .enum(['completed', 'failed', 'skipped'])
      .optional()
      .describe('Its status (a failed or skipped step is seen only under the `skip` error policy).'),
    contains: z
      .string()
      .min(1)
      .max(1000)
      .optional()
      .describe('Its output text contains this (case-sensitive).'),
    equals: z.string().max(10_000).optional().describe('Its output text, trimmed, is exactly this.'),
    matches: z
      .string()
      .min(1)
      .max(500)
      .optional()
      .describe(
        'A regular expression its output text matches (JavaScript syntax; 50 ms at most, then false).',
      ),
    pointer: z
      .string()
      .regex(/^(\/([^~/]|~[01])*)*$/, 'a JSON pointer such as /offers/0/price')
      .max(500)
      .optional()
      .describe('A JSON pointer into its structured output (`output.data`), compared with `value` by `op`.'),
    op: z
      .enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'exists'])
      .default('eq')
      .describe('How the pointer’s value is compared (`exists`: it is there and not null).'),
    value: z.unknown().optional().describe('What the pointer’s value is compared with.'),
  })
  .refine(
    (c) =>
      c.status !== undefined ||
      c.contains !== undefined ||
      c.equals !== undefined ||
      c.matches !== undefined ||
      c.pointer !== undefined,
    'a condition needs at least one of status, contains, equals, matches, pointer',
  )
  .meta({ id: 'PipelineCondition', description: 'When a pipeline step runs.' })

export type PipelineCondition = z.infer<typeof pipelineConditionSchema>

export const pipelineStepSchema = z
  .strictObject({
    key: stepKey,
    bot: z.string().min(1).max(200).describe('The id of the bot this step runs.'),
    inputMode: z
      .enum(pipelineInputModes)
      .default('forward')
      .describe(
        '`forward`: the previous output is the step’s input ("The previous step produced: … Your task: …"); `merge`: it goes into the bot’s system context and the bot’s prompt is the task; `independent`: ignored.',
      ),
    dependsOn: z
      .array(stepKey)
      .max(50)
      .optional()
      .describe('Steps that must end first (default: the step before; `[]`: starts with the pipeline).'),
    condition: pipelineConditionSchema.nullable().default(null),
    approval: z
      .strictObject({
        required: z.boolean(),
        expiresAfterSeconds: z
          .number()
          .int()
          .min(60)
          .max(30 * 86400)
          .optional(),
        onExpiry: z.enum(['reject', 'approve']).default('reject'),
      })
      .nullable()
      .default(null)
      .describe('A person approves the step’s output before the steps after it start.'),
    errorPolicy: z
      .enum(pipelineErrorPolicies)
      .nullable()
      .default(null)
      .describe('Overrides the pipeline’s error policy for this step.'),
  })
  .meta({ id: 'PipelineStep', description: 'One bot run of a pipeline.' })

export type PipelineStep = z.infer<typeof pipelineStepSchema>
export type PipelineStepInput = z.input<typeof pipelineStepSchema>

const pipelineFields = {
  name: nameText(1, 100).describe('Unique within the workspace.'),
  description: z.string().max(2000),
  emoji: symbolText(16).nullable(),
  schedule: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .nullable()
    .describe('As a bot’s: cron, `@daily`, `@every 30m`; null: started by hand or API only.'),
  timezone: z.string().min(1).max(64),
  enabled: z.boolean().describe('Whether the schedule fires.'),
  missedRunPolicy: z.enum(missedRunPolicies),
  overlapPolicy: z.enum(overlapPolicies),
  jitterSeconds: z.number().int().min(0).max(3600),
  errorPolicy: z
    .enum(pipelineErrorPolicies)
    .describe(
      '`abort`: a failed step fails the pipeline (running steps cancelled, later ones skipped); `skip`: it is skipped and its dependants get empty input; `retry`: it is retried once after its bot’s retry delay, then abort.',
    ),
  maxRuntimeSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86400)
    .describe('A pipeline run longer than this times out.'),
  steps: z.array(pipelineStepSchema).min(1).max(50),
}

export const pipelineCreateSchema = z
  .strictObject({
    name: pipelineFields.name,
    description: pipelineFields.description.default(''),
    emoji: pipelineFields.emoji.default(null),
    schedule: pipelineFields.schedule.default(null),
    timezone: pipelineFields.timezone.optional(),
    enabled: pipelineFields.enabled.default(true),
    missedRunPolicy: pipelineFields.missedRunPolicy.default('ignore'),
    overlapPolicy: pipelineFields.overlapPolicy.default('skip'),
    jitterSeconds: pipelineFields.jitterSeconds.default(0),
    errorPolicy: pipelineFields.errorPolicy.default('abort'),
    maxRuntimeSeconds: pipelineFields.maxRuntimeSeconds.default(3600),
    steps: pipelineFields.steps,
  })
  .meta({ id: 'PipelineCreate', description: 'A new pipeline.' })

export type PipelineCreate = z.input<typeof pipelineCreateSchema>

export const pipelineUpdateSchema = z
  .strictObject({
    name: pipelineFields.name.optional(),
    description: pipelineFields.description.optional(),
    emoji: pipelineFields.emoji.optional(),
    schedule: pipelineFields.schedule.optional(),
    timezone: pipelineFields.timezone.optional(),
    enabled: pipelineFields.enabled.optional(),
    missedRunPolicy: pipelineFields.missedRunPolicy.optional(),
    overlapPolicy: pipelineFields.overlapPolicy.optional(),
    jitterSeconds: pipelineFields.jitterSeconds.optional(),
    errorPolicy: pipelineFields.errorPolicy.optional(),
    maxRuntimeSeconds: pipelineFields.maxRuntimeSeconds.optional(),
    steps: pipelineFields.steps.optional(),
  })
  .meta({ id: 'PipelineUpdate', description: 'Changes to a pipeline; every edit stores a new version.' })

export type PipelineUpdate = z.input<typeof pipelineUpdateSchema>

export const pipelineLastRunSchema = z
  .object({
    id: z.string(),
    status: runStatusSchema,
    createdAt: isoTime,
    finishedAt: isoTime.nullable(),
  })
  .meta({ id: 'PipelineLastRun', description: 'The newest run of a pipeline, in short.' })

/**
 * The newest run of a pipeline, as its list and detail show it: enough for a card's status and link.
 *
 * @example
 * const last: PipelineLastRun | null = (await api.get(`/pipelines/${id}`)).lastRun
 */
export type PipelineLastRun = z.infer<typeof pipelineLastRunSchema>

/**
 * A pipeline as the API returns it.
 *
 * @example
 * const p: Pipeline = await api.post('/pipelines', { name: 'Newsletter', schedule: '0 9 * * 1',
 *   steps: [{ key: 'write', bot: writerId }, { key: 'check', bot: checkerId, approval: { required: true } },
 *           { key: 'send', bot: senderId, inputMode: 'forward' }] })
 */
export const pipelineSchema = z
  .object({
    id: z.string(),
    version: z
      .number()
      .int()
      .min(1)
      .describe('Raised by every edit; a run keeps the version it started with.'),
    name: z.string(),
    description: z.string(),
    emoji: z.string().nullable(),
    schedule: z.string().nullable(),
    timezone: z.string(),
    enabled: z.boolean(),
    missedRunPolicy: z.enum(missedRunPolicies),
    overlapPolicy: z.enum(overlapPolicies),
    jitterSeconds: z.number().int(),
    errorPolicy: z.enum(pipelineErrorPolicies),
    maxRuntimeSeconds: z.number().int(),
    steps: z.array(pipelineStepSchema),
    nextRunAt: isoTime.nullable(),
    lastRun: pipelineLastRunSchema
      .nullable()
      .describe('The newest run of the pipeline (whatever its status); null before the first.'),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: 'Pipeline', description: 'Bots chained as a durable workflow.' })

export type Pipeline = z.infer<typeof pipelineSchema>

export const pipelinePageSchema = pageSchemaOf(pipelineSchema).meta({
  id: 'PipelinePage',
  description: 'A page of pipelines.',
})

export const pipelineVersionSchema = z
  .object({
    version: z.number().int(),
    steps: z.array(pipelineStepSchema),
    errorPolicy: z.enum(pipelineErrorPolicies),
    maxRuntimeSeconds: z.number().int(),
    createdAt: isoTime,
  })
  .meta({ id: 'PipelineVersion', description: 'The steps of one version of a pipeline.' })

export const pipelineVersionListSchema = z
  .object({ items: z.array(pipelineVersionSchema) })
  .meta({ id: 'PipelineVersionList', description: 'Every version of a pipeline, newest first.' })

export const pipelineRunRequestSchema = z
  .strictObject({
    input: z.unknown().optional().describe('Given to the first steps as the previous output.'),
    trigger: z
      .enum(['api', 'manual'])
      .default('api')
      .describe('`manual` when a person started it (the dashboard), `api` for programs.'),
  })
  .meta({ id: 'PipelineRunRequest', description: 'Start a pipeline run.' })

export const pipelineRunStepSchema = z
  .object({
    key: z.string(),
    status: z.enum(pipelineStepStatuses),
    attempt: z.number().int().describe('1, or 2 after the `retry` policy ran it again.'),
    runId: z.string().nullable().describe('The step’s bot run (its latest attempt).'),
    approvalId: z.string().nullable().describe('The approval of its output, when it needs one.'),
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
    skippedReason: z.string().nullable().describe('Why it did not run, or was skipped after failing.'),
  })
  .meta({ id: 'PipelineRunStep', description: 'One step of a pipeline run.' })

export type PipelineRunStep = z.infer<typeof pipelineRunStepSchema>

export const pipelineRunSchema = runSchema
  .extend({
    pipelineId: z.string(),
    pipelineVersion: z.number().int(),
    steps: z.array(pipelineRunStepSchema),
  })
  .meta({ id: 'PipelineRun', description: 'A run of kind `pipeline` with its steps.' })

export type PipelineRun = z.infer<typeof pipelineRunSchema>

export const pipelineRunPageSchema = pageSchemaOf(pipelineRunSchema).meta({
  id: 'PipelineRunPage',
  description: 'A page of a pipeline’s runs.',
})

/**
 * A pipeline as JSON to move between installations: its settings and steps, each step naming its bot
 * by id and by name (an import finds the bot by id, else by name).
 *
 * @example
 * const doc: PipelineExport = await api.get(`/pipelines/${id}/export`)
 * await other.post('/pipelines/import', doc)
 */
export const pipelineExportSchema = z
  .strictObject({
    format: z.literal('openorch.pipeline').describe('Marks a pipeline export.'),
    version: z.literal(1),
    pipeline: pipelineCreateSchema.extend({
      steps: z
        .array(pipelineStepSchema.extend({ botName: z.string().max(100).optional() }))
        .min(1)
        .max(50),
    }),
  })
  .meta({ id: 'PipelineExport', description: 'A pipeline as JSON: no ids of its own, no state, no runs.' })

export type PipelineExport = z.input<typeof pipelineExportSchema>
export type PipelineExportDocument = z.output<typeof pipelineExportSchema>
