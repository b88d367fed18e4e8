import {
  problemResponse,
  setupStateSchema,
  workspaceCreatedSchema,
  workspaceCreateSchema,
  workspacePageQuerySchema,
  workspacePageSchema,
  workspaceSchema,
  workspaceUpdateSchema,
} from '@openorch/contracts'
import type { preHandlerAsyncHookHandler } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../auth/auth.hook.ts'
import { withoutTenantScope } from '../platform/db/tenant-scope.ts'
import { AppError } from '../platform/errors.ts'
import { noAuth } from '../platform/http/openapi.ts'
import type { User } from '../users/user.service.ts'
import { actorOf, isInstallationAdmin, type Workspace, type WorkspaceService } from './workspace.service.ts'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

const toWorkspaceJson = (workspace: Workspace) => ({
  id: workspace.id,
  name: workspace.name,
  isDefault: workspace.isDefault,
  createdAt: iso(workspace.createdAt)!,
  disabledAt: iso(workspace.disabledAt),
  users: workspace.users,
})

const toUserJson = (user: User) => ({
  id: user.id,
  email: user.email,
  role: user.role,
  createdAt: iso(user.createdAt)!,
  disabledAt: iso(user.disabledAt),
})

const ownerOnly = requireRole('owner')

/**
 * Installation admins only: owners of the default workspace. Checked before the body is validated,
 * like every role check, and before any workspace is looked up: the answer says nothing about ids.
 */
export const requireInstallationAdmin: preHandlerAsyncHookHandler = async function (request, reply) {
  await ownerOnly.call(this, request, reply)
  if (!isInstallationAdmin(request.auth))
    throw new AppError(
      'forbidden',
      'Only the installation’s admins — owners of the default workspace — manage workspaces.',
      403,
    )
}

const errors = {
  400: problemResponse('Invalid request (every bad field is listed in `errors`).'),
  401: problemResponse('No valid API key or session.'),
  403: problemResponse(
    'Not an installation admin (`forbidden`): only owners of the default workspace manage workspaces.',
  ),
}
const notFound = problemResponse('No such workspace (`workspace_not_found`).')

/** /api/v1/workspaces: the installation's workspaces (installation admins). */
export const workspaceRoutes: FastifyPluginAsyncZod<{ workspaces: WorkspaceService }> = async (
  app,
  { workspaces },
) => {
  // Installation admins act on other workspaces here (a new one's first owner, every workspace's
  // number of users): these routes run outside the caller's row-level security scope (decision 0042).
  app.addHook('preHandler', (_request, _reply, done) => withoutTenantScope(done))
  const idParams = z.object({ id: z.string().min(1).max(200) })
  app.get(
    '/workspaces',
    {
      preValidation: requireInstallationAdmin,
      schema: {
        tags: ['workspaces'],
        summary: 'List workspaces',
        description:
          'Every workspace of the installation, newest first, with its number of users. Installation admins only (owners of the default workspace).',
        querystring: workspacePageQuerySchema,
        response: { 200: workspacePageSchema, ...errors },
      },
    },
    async (request) => {
      const page = await workspaces.list(request.query)
      return { items: page.items.map(toWorkspaceJson), nextCursor: page.nextCursor }
    },
  )
  app.get(
    '/workspaces/:id',
    {
      preValidation: requireInstallationAdmin,
      schema: {
        tags: ['workspaces'],
        summary: 'Get a workspace',
        description: 'Installation admins only.',
        params: idParams,
        response: { 200: workspaceSchema, ...errors, 404: notFound },
      },
    },
    async (request) => toWorkspaceJson(await workspaces.get(request.params.id)),
  )
  app.post(
    '/workspaces',
    {
      preValidation: requireInstallationAdmin,
      schema: {
        tags: ['workspaces'],
        summary: 'Create a workspace',
        description:
          'A new workspace with its first owner, who signs in with the initial password given here (hand it over; they change it under Account). Installation admins only.',
        body: workspaceCreateSchema,
        response: {
          201: workspaceCreatedSchema,
          ...errors,
          409: problemResponse('The owner’s e-mail has a user already (`user_exists`).'),
        },
      },
    },
    async (request, reply) => {
      const { workspace, owner } = await workspaces.create(
        actorOf(request.auth, { ip: request.ip, requestId: request.id }),
        request.body,
      )
      return reply
        .code(201)
        .header('location', `/api/v1/workspaces/${encodeURIComponent(workspace.id)}`)
        .send({ ...toWorkspaceJson(workspace), owner: toUserJson(owner) })
    },
  )
  app.patch(
    '/workspaces/:id',
    {
      preValidation: requireInstallationAdmin,
      schema: {
        tags: ['workspaces'],
        summary: 'Rename, disable or enable a workspace',
        description:
          'Disabling refuses every key and session of the workspace from its next request (403 `workspace_disabled`) and stops its schedules; its data stays, and enabling it again brings everything back. Audited in the workspace’s own trail. The default workspace cannot be disabled. Installation admins only.',
        params: idParams,
        body: workspaceUpdateSchema,
        response: {
          200: workspaceSchema,
          ...errors,
          404: notFound,
          409: problemResponse('The default workspace cannot be disabled (`default_workspace_protected`).'),
        },
      },
    },
    async (request) =>
      toWorkspaceJson(
        await workspaces.update(
          actorOf(request.auth, { ip: request.ip, requestId: request.id }),
          request.params.id,
          request.body,
        ),
      ),
  )
}

/** Public: what the sign-in page needs to know before anyone signs in. */
export const setupRoutes: FastifyPluginAsyncZod<{ workspaces: WorkspaceService }> = async (
  app,
  { workspaces },
) => {
  app.get(
    '/auth/setup',
    {
      schema: {
        tags: ['auth'],
        summary: 'Whether the installation has users yet',
        description:
          'Public. `hasUsers: false` on a new installation, whose only credential is the owner key printed at the first start: the sign-in page then asks for that key. Reveals nothing else.',
        security: noAuth,
        response: { 200: setupStateSchema },
      },
    },
    async () => ({ hasUsers: await workspaces.hasUsers() }),
  )
}
