import cors from '@fastify/cors'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { scrubValues, secretScrubber } from '../secret-scrubber.ts'
import { docsCsp, isDocsPath } from './openapi.ts'

// Browser safety for the API (issue 5). The dashboard's own files carry their CSP (web-app.ts), the
// docs UI its own (`docsCsp` in openapi.ts, set here, not framed either); every API and probe answer
// gets a CSP that loads nothing and may not be framed, nosniff, no referrer, and no caching of what
// may be personal data.

const apiCsp = "default-src 'none'; frame-ancestors 'none'"
const apiPaths = ['/api/', '/health', '/ready', '/metrics']

/**
 * Answers of a signed-in request are scrubbed of its workspace's secrets, except the audit trail's:
 * it reports what was recorded, and nobody may erase themselves from it.
 */
function scrubsSecrets(request: FastifyRequest): boolean {
  return Boolean(request.auth?.tenantId) && !request.url.startsWith('/api/v1/audit')
}

const isJson = (reply: FastifyReply) => /\bjson\b/.test(String(reply.getHeader('content-type') ?? ''))

export async function registerSecurityHeaders(
  app: FastifyInstance,
  options: { corsOrigins: readonly string[] },
): Promise<void> {
  app.addHook('onSend', async (request, reply, payload) => {
    if (!reply.hasHeader('x-content-type-options')) reply.header('x-content-type-options', 'nosniff')
    if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'no-referrer')
    if (apiPaths.some((p) => request.url.startsWith(p))) {
      // A route's own policy (a bot file served with `sandbox`) is kept, never framed either.
      const own = reply.getHeader('content-security-policy')
      reply.header(
        'content-security-policy',
        typeof own !== 'string'
          ? apiCsp
          : own.includes('frame-ancestors')
            ? own
            : `${own}; frame-ancestors 'none'`,
      )
      reply.header('x-frame-options', 'DENY')
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    } else if (isDocsPath(request.url)) {
      reply.header('content-security-policy', docsCsp)
      reply.header('x-frame-options', 'DENY')
    }
    // No answer carries a stored secret of its workspace, whatever path it took (secret-scrubber.ts).
    if (typeof payload !== 'string' || !scrubsSecrets(request)) return payload
    const tenantId = request.auth?.tenantId
    if (!isJson(reply)) return secretScrubber.forTenant(tenantId)(payload)
    // JSON: only an answer that carries a secret is parsed again, and replaced inside string values,
    // so the answer stays what the schema says.
    if (!secretScrubber.jsonCarriesSecret(tenantId, payload)) return payload
    return JSON.stringify(scrubValues(JSON.parse(payload), secretScrubber.forTenant(tenantId)))
  })
  // Closed by default: no CORS headers, so browsers keep other origins out. Listed origins may call the
  // API with a key in the Authorization header (no cookies: credentials stay off).
  if (options.corsOrigins.length > 0)
    await app.register(cors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'authorization',
        'x-api-key',
        'content-type',
        'idempotency-key',
        'last-event-id',
        'x-request-id',
      ],
      exposedHeaders: ['retry-after', 'x-request-id', 'idempotent-replayed'],
      credentials: false,
      maxAge: 600,
    })
}
