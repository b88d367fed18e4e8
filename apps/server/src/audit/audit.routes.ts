import { auditPageSchema, auditQuerySchema, problemResponse } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Db } from '../database.ts'
import { requireRole } from '../platform/http/caller.ts'
import { parseJson } from '../platform/json.ts'
import { listAudit } from './audit.store.ts'

// GET /api/v1/audit: the workspace's audit trail, newest first (admins).
export const auditRoutes: FastifyPluginAsyncZod<{ database: Db }> = async (app, { database }) => {
  app.get(
    '/audit',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['audit'],
        summary: 'The audit trail',
        description:
          'Every change made in this workspace: who, when, what, from where. Hash-chained; `openorch audit verify` checks the chain. Needs admin.',
        querystring: auditQuerySchema,
        response: {
          200: auditPageSchema,
          400: problemResponse('Invalid query (every bad field is listed in `errors`).'),
          401: problemResponse('No valid API key.'),
          403: problemResponse('The API key is below the admin role (`forbidden`).'),
        },
      },
    },
    async (request) => {
      const q = request.query
      const rows = await listAudit(database, request.auth.tenantId, {
        before: q.cursor !== undefined ? Number(q.cursor) : undefined,
        from: q.from ? Date.parse(q.from) : undefined,
        to: q.to ? Date.parse(q.to) : undefined,
        actorId: q.actorId,
        action: q.action,
        targetType: q.targetType,
        targetId: q.targetId,
        limit: q.limit + 1,
      })
      const page = rows.slice(0, q.limit)
      return {
        items: page.map((row) => ({
          id: Number(row.id),
          at: new Date(Number(row.at)).toISOString(),
          actor: { type: row.actor_type, id: row.actor_id, role: row.actor_role },
          action: row.action,
          target: { type: row.target_type, id: row.target_id },
          ip: row.ip,
          requestId: row.request_id,
          status: row.status,
          details: (parseJson(row.details) as Record<string, unknown> | null) ?? null,
          hash: row.hash,
        })),
        nextCursor: rows.length > q.limit ? String(page[page.length - 1]!.id) : null,
      }
    },
  )
}
