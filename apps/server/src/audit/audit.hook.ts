import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Db } from '../database.ts'
import { toError } from '../platform/errors.ts'
import { apiPrefix } from '../platform/http/openapi.ts'
import { type AuditEntry, appendAudit } from './audit.store.ts'

// Every change made through the API goes to the audit trail: a request that changes something
// (POST, PUT, PATCH, DELETE) and succeeded. Written before the answer is sent, so a caller never
// sees success for a change the trail missed. Bodies are never recorded (they may hold secrets);
// the route, its ids and the caller are.

const changing = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

function targetIdOf(request: FastifyRequest, reply: FastifyReply, payload: unknown): string | null {
  const params = (request.params ?? {}) as Record<string, unknown>
  if (typeof params.id === 'string') return params.id
  if (typeof params.name === 'string') return params.name
  // A create answers with what it made.
  if (
    (reply.statusCode === 201 || reply.statusCode === 202) &&
    typeof payload === 'string' &&
    payload.startsWith('{')
  ) {
    try {
      const id = (JSON.parse(payload) as { id?: unknown }).id
      return typeof id === 'string' || typeof id === 'number' ? String(id) : null
    } catch {
      return null
    }
  }
  return null
}

export function entryOf(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  at: number,
): AuditEntry | undefined {
  if (!changing.has(request.method) || reply.statusCode >= 400 || !request.auth) return undefined
  const route = (request.routeOptions.url ?? request.url).replace(apiPrefix, '') || '/'
  const params = { ...((request.params ?? {}) as Record<string, unknown>) }
  delete params.id
  return {
    tenant_id: request.auth.tenantId,
    at,
    actor_type: request.auth.keyId.startsWith('user:') ? 'user' : 'api_key',
    actor_id: request.auth.keyId.replace(/^user:/, ''),
    actor_role: request.auth.role,
    action: `${request.method} ${route}`,
    target_type: route.split('/')[1] ?? null,
    target_id: targetIdOf(request, reply, payload),
    ip: request.ip,
    request_id: request.id,
    status: reply.statusCode,
    details: Object.keys(params).length > 0 ? JSON.stringify({ params }) : null,
  }
}

/** Registers the audit hook on an authenticated scope. */
export function registerAuditTrail(app: FastifyInstance, deps: { database: Db; now: () => number }): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const entry = entryOf(request, reply, payload, deps.now())
    if (!entry) return payload
    try {
      await appendAudit(deps.database, [entry])
    } catch (error) {
      // The change is committed; say loudly that its audit entry is missing.
      request.log.error(
        { err: toError(error), action: entry.action, targetId: entry.target_id },
        'audit entry not written',
      )
    }
    return payload
  })
}
