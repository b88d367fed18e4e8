import type { FastifyInstance, FastifyRequest } from 'fastify'
import { openTenantScope, type TenantScopeHandle } from '../db/tenant-scope.ts'

const scopes = new WeakMap<FastifyRequest, TenantScopeHandle>()

/**
 * Scopes the database to the caller's workspace for the handler of every authenticated request
 * (row-level security, decision 0042). A preHandler that calls `done` inside the scope: the hooks
 * after it and the handler run in it. The response (or the client going away) ends it, so a timer or
 * loop the request left behind does not stay in that workspace.
 */
export function registerTenantScope(app: FastifyInstance): void {
  app.addHook('preHandler', (request, _reply, done) => {
    const tenantId = request.auth?.tenantId
    if (!tenantId) return done()
    const scope = openTenantScope(tenantId)
    scopes.set(request, scope)
    scope.run(done)
  })
  const end = (request: FastifyRequest, done: () => void) => {
    scopes.get(request)?.end()
    done()
  }
  app.addHook('onResponse', (request, _reply, done) => end(request, done))
  app.addHook('onRequestAbort', (request, done) => end(request, done))
}
