import {
  type Approval,
  approvalDecisionSchema,
  approvalListQuerySchema,
  approvalPageSchema,
  approvalSchema,
  problemResponse,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../platform/http/caller.ts'
import { parseJson } from '../platform/json.ts'
import type { ApprovalRow } from './approval.table.ts'
import type { Approvals, Decider } from './approvals.ts'

// /api/v1/approvals: what waits for a person, and their decisions. Deciding needs the editor role.

const idParams = z.object({ id: z.string().min(1).max(200).describe('The approval id.') })
const iso = (ms: number | string | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

export function approvalJsonOf(row: ApprovalRow): Approval {
  return {
    id: row.id,
    status: row.status === 'parking' ? 'pending' : row.status,
    runId: row.run_id,
    botId: row.subject_kind === 'bot' ? row.subject_id : null,
    botName: row.subject_kind === 'bot' ? row.subject_name : null,
    pipelineId: row.subject_kind === 'pipeline' ? row.subject_id : null,
    pipelineName: row.subject_kind === 'pipeline' ? row.subject_name : null,
    toolSet: row.tool_set,
    tool: row.tool,
    arguments: parseJson(row.arguments),
    reason: row.reason,
    requestedAt: iso(row.requested_at)!,
    expiresAt: iso(row.expires_at),
    decidedAt: iso(row.decided_at),
    decidedBy: row.decided_by_type ? { type: row.decided_by_type, id: row.decided_by_id } : null,
    comment: row.comment,
  }
}

const oneErrors = {
  401: problemResponse('No valid API key.'),
  404: problemResponse('No such approval in your workspace (`approval_not_found`).'),
}

export const approvalRoutes: FastifyPluginAsyncZod<{ approvals: Approvals }> = async (app, { approvals }) => {
  app.get(
    '/approvals',
    {
      schema: {
        tags: ['approvals'],
        summary: 'List approvals',
        description:
          'Tool calls that wait for a person (`status=pending`) and the decisions made, newest first. Cursor pagination.',
        querystring: approvalListQuerySchema,
        response: {
          200: approvalPageSchema,
          400: problemResponse('Invalid query (every bad field is listed in `errors`).'),
          401: problemResponse('No valid API key.'),
        },
      },
    },
    async (request) => {
      const { status, runId, limit, cursor } = request.query
      const rows = await approvals.list(request.auth.tenantId, {
        status,
        runId,
        before: cursor,
        limit: limit + 1,
      })
      const page = rows.slice(0, limit)
      return {
        items: page.map(approvalJsonOf),
        nextCursor: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null,
      }
    },
  )

  app.get(
    '/approvals/:id',
    {
      schema: {
        tags: ['approvals'],
        summary: 'Get an approval',
        description:
          'What is asked: the bot, the run, the tool, its arguments and the model’s stated reason.',
        params: idParams,
        response: { 200: approvalSchema, ...oneErrors },
      },
    },
    async (request) => approvalJsonOf(await approvals.get(request.auth.tenantId, request.params.id)),
  )

  for (const action of ['approve', 'reject'] as const) {
    app.post(
      `/approvals/:id/${action}`,
      {
        preValidation: requireRole('editor'),
        schema: {
          tags: ['approvals'],
          summary: action === 'approve' ? 'Approve a tool call' : 'Reject a tool call',
          description:
            action === 'approve'
              ? 'The run goes on and the call is made, once. Recorded in the audit trail with the comment. Needs editor.'
              : 'The run goes on without the call: the model is told “rejected by a person: <comment>”. Recorded in the audit trail. Needs editor.',
          params: idParams,
          body: approvalDecisionSchema.nullish(),
          response: {
            200: approvalSchema,
            ...oneErrors,
            400: problemResponse('Invalid body.'),
            403: problemResponse('The API key is below the editor role (`forbidden`).'),
            409: problemResponse('Someone decided already (`approval_decided`); nothing changed.'),
          },
        },
      },
      async (request) => {
        const { auth } = request
        const decider: Decider = {
          type: auth.keyId.startsWith('user:') ? 'user' : 'api_key',
          id: auth.keyId.replace(/^user:/, ''),
          role: auth.role,
          ip: request.ip,
          requestId: request.id,
        }
        const comment = request.body?.comment?.trim() || null
        const row = await approvals.decide(
          auth.tenantId,
          request.params.id,
          action === 'approve' ? 'approved' : 'rejected',
          decider,
          comment,
        )
        return approvalJsonOf(row)
      },
    )
  }
}
