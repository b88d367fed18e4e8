import {
  operatingModeSchema,
  operatingModeUpdateSchema,
  problemResponse,
  systemInfoSchema,
} from '@openorch/contracts'
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { withoutTenantScope } from '../platform/db/tenant-scope.ts'
import { AppError } from '../platform/errors.ts'
import { requireRole } from '../platform/http/caller.ts'
import { actorOf } from '../workspaces/workspace.service.ts'
import type { ModeActor, OperatingModeService } from './operating-mode.ts'
import type { SystemService } from './system.service.ts'

// GET /api/v1/system (admins of the installation's default workspace), GET/PUT /api/v1/system/mode
// (everyone reads the mode for the dashboard's banner; owners of the default workspace change it).

/** The workspace whose admins run the installation (as for workspaces and quotas, decision 0020). */
const installationWorkspace = 'default'

function installationOnly(role: 'admin' | 'owner'): preHandlerAsyncHookHandler {
  const hasRole = requireRole(role)
  return async function (request, reply) {
    await hasRole.call(this, request, reply)
    if (request.auth.tenantId !== installationWorkspace)
      throw new AppError(
        'forbidden',
        `Only ${role}s of the default workspace see and change the installation; this key belongs to another workspace.`,
        403,
      )
  }
}

/** The caller as the audit trail names it (as for workspaces), in its workspace. */
function modeActorOf(request: FastifyRequest): ModeActor {
  return {
    ...actorOf(request.auth, { ip: request.ip, requestId: request.id }),
    tenantId: request.auth.tenantId,
  }
}

export const systemInfoRoutes: FastifyPluginAsyncZod<{
  system: SystemService
  mode: OperatingModeService
}> = async (app, { system, mode }) => {
  // The installation's figures (the queue of every workspace) are read outside the caller's
  // row-level security scope (decision 0042).
  app.addHook('preHandler', (_request, _reply, done) => withoutTenantScope(done))
  app.get(
    '/system',
    {
      preValidation: installationOnly('admin'),
      schema: {
        tags: ['system'],
        summary: 'How the installation is doing',
        description:
          'Version and commit, the database (engine, version, size) and schema, uptime, the processes sharing ' +
          'the database with their roles and last heartbeat, the queue (all workspaces), this workspace’s ' +
          'providers and channels, and the operating mode. Admins of the default workspace only.',
        response: {
          200: systemInfoSchema,
          401: problemResponse('No valid API key or session.'),
          403: problemResponse('Not an admin of the default workspace (`forbidden`).'),
        },
      },
    },
    async (request) => system.info(request.auth.tenantId),
  )

  app.get(
    '/system/mode',
    {
      schema: {
        tags: ['system'],
        summary: 'The operating mode',
        description:
          'What the dashboard’s banner shows. Every signed-in caller may read it; the reason and who changed it only callers of the default workspace (they are the installation’s operators’ words).',
        response: { 200: operatingModeSchema, 401: problemResponse('No valid API key or session.') },
      },
    },
    async (request) => {
      const current = await mode.current()
      return request.auth.tenantId === installationWorkspace
        ? current
        : { ...current, reason: null, changedBy: null }
    },
  )

  app.put(
    '/system/mode',
    {
      preValidation: installationOnly('owner'),
      schema: {
        tags: ['system'],
        summary: 'Change the operating mode',
        description:
          '`normal`; `degraded`: only runs of priority ≥ `minPriority` (default 1) start, the others wait in the ' +
          'queue; `paused`: nothing new starts, running runs finish, schedules keep recording their slots as ' +
          'queued runs. Every process follows within moments. Audited (`system.mode_changed`). Owners of the ' +
          'default workspace only; `openorch mode` does the same from the command line.',
        body: operatingModeUpdateSchema,
        response: {
          200: operatingModeSchema,
          400: problemResponse('Invalid request (every bad field is listed in `errors`).'),
          401: problemResponse('No valid API key or session.'),
          403: problemResponse('Not an owner of the default workspace (`forbidden`).'),
        },
      },
    },
    async (request) => mode.set(request.body, modeActorOf(request)),
  )
}
