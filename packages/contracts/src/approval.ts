import { z } from 'zod'
import { pageQuerySchema, pageSchemaOf } from './pagination.ts'

// Approvals (issue 13): a tool call a person must allow first. The run waits (`waitReason`
// `approval`, no worker slot held) until someone approves or rejects it, or it expires.

export const approvalStatuses = ['pending', 'approved', 'rejected', 'expired'] as const

export const approvalSchema = z
  .object({
    id: z.string(),
    status: z.enum(approvalStatuses),
    runId: z.string(),
    botId: z.string().nullable().describe('The bot whose run asks; null for runs of other kinds.'),
    botName: z.string().nullable(),
    pipelineId: z
      .string()
      .nullable()
      .describe('The pipeline whose step’s output waits; null for other kinds.'),
    pipelineName: z.string().nullable(),
    toolSet: z.string().describe('The tool set of the function, e.g. `files` or `mcp:crm`.'),
    tool: z.string().describe('The function the model wants to call, e.g. `files_delete`.'),
    arguments: z
      .unknown()
      .describe('The arguments it would be called with (secret-looking fields redacted).'),
    reason: z
      .string()
      .nullable()
      .describe('What the model said when it asked for the call (its stated reason); null if nothing.'),
    requestedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime().nullable().describe('Undecided by then, it counts as rejected (`expired`).'),
    decidedAt: z.iso.datetime().nullable(),
    decidedBy: z
      .object({
        type: z.string().describe('`user`, `api_key` or `system` (expiry).'),
        id: z.string().nullable(),
      })
      .nullable(),
    comment: z.string().nullable().describe('The decider’s comment; a rejection’s is told to the model.'),
  })
  .meta({ id: 'Approval', description: 'A tool call waiting for, or decided by, a person.' })

/**
 * An approval as `GET /api/v1/approvals/{id}` returns it.
 *
 * @example
 * const approval: Approval = { id: '6f1c…', status: 'pending', runId: '0b7e…', botId: '9d2a…',
 *   botName: 'Sneaker scout', toolSet: 'files', tool: 'files_delete', arguments: { name: 'seen.json' },
 *   reason: 'The list is outdated; I will start a new one.', requestedAt: '2026-12-04T08:00:00.000Z',
 *   expiresAt: null, decidedAt: null, decidedBy: null, comment: null }
 */
export type Approval = z.infer<typeof approvalSchema>

export const approvalListQuerySchema = pageQuerySchema.extend({
  status: z.enum(approvalStatuses).optional().describe('Only approvals in this state (default: all).'),
  runId: z.string().min(1).max(200).optional().describe('Only the approvals of this run.'),
})

export const approvalPageSchema = pageSchemaOf(approvalSchema).meta({
  id: 'ApprovalPage',
  description: 'A page of approvals, newest first.',
})

export const approvalDecisionSchema = z
  .strictObject({
    comment: z
      .string()
      .max(2000)
      .optional()
      .describe('Why; kept in the audit trail, and a rejection’s comment is told to the model.'),
  })
  .meta({ id: 'ApprovalDecision', description: 'An approval or rejection, with an optional comment.' })

export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>

export const toolPolicySchema = z
  .strictObject({
    requireApproval: z
      .array(z.string().min(1).max(100))
      .max(200)
      .describe(
        'Built-in functions whose every call waits for approval, beside those that always do (`files_delete`).',
      ),
    expiresAfterSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .nullable()
      .describe('An approval undecided this long counts as rejected (`expired`); null: it waits for good.'),
  })
  .meta({ id: 'ToolPolicy', description: 'Which tool calls of this workspace wait for a person.' })

export type ToolPolicy = z.infer<typeof toolPolicySchema>
