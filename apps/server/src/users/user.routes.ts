import {
  loginSchema,
  pageQuerySchema,
  passwordChangeSchema,
  problemResponse,
  refreshSchema,
  sessionSchema,
  userCreateSchema,
  userPageSchema,
  userSchema,
  userUpdateSchema,
} from '@openorch/contracts'
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../auth/auth.hook.ts'
import { AppError } from '../platform/errors.ts'
import { noAuth } from '../platform/http/openapi.ts'
import type { Session, User, UserService } from './user.service.ts'
import type { UserAdmin } from './user-admin.ts'

const toUserJson = (user: User) => ({
  id: user.id,
  email: user.email,
  role: user.role,
  createdAt: new Date(user.createdAt).toISOString(),
  disabledAt: user.disabledAt === null ? null : new Date(user.disabledAt).toISOString(),
})
const originOf = (request: FastifyRequest) => ({ ip: request.ip, requestId: request.id })
const toSessionJson = (session: Session) => ({ ...session, user: toUserJson(session.user) })

/** Public: sign in, refresh, sign out (the token itself is the credential). */
export const sessionRoutes: FastifyPluginAsyncZod<{
  users: UserService
  /** Limits sign-in requests per client address (platform/http/rate-limit.ts). */
  checkSignInRate?: onRequestAsyncHookHandler
}> = async (app, { users, checkSignInRate }) => {
  app.post(
    '/auth/login',
    {
      ...(checkSignInRate ? { onRequest: checkSignInRate } : {}),
      schema: {
        tags: ['auth'],
        summary: 'Sign in',
        description:
          'Throttled per client address (the socket’s, or with OPENORCH_TRUST_PROXY the one the proxy reports): 20 attempts a minute; five wrong passwords for one e-mail from one address within 15 minutes lock that e-mail for that address for 15 minutes, and 30 failures from one address lock the address (429 `login_throttled`, with Retry-After). Other addresses are not affected. When too many passwords are being checked at once: 503 `sign_in_busy`, with Retry-After.',
        security: noAuth,
        body: loginSchema,
        response: {
          200: sessionSchema,
          400: problemResponse('Invalid request.'),
          401: problemResponse('Wrong e-mail or password (`invalid_credentials`).'),
          429: problemResponse('Too many attempts from this address (`login_throttled`), with Retry-After.'),
          503: problemResponse(
            'Too many sign-ins being checked at once (`sign_in_busy`), or the database cannot answer; try again after Retry-After seconds.',
          ),
        },
      },
    },
    async (request) =>
      toSessionJson(await users.login(request.body.email, request.body.password, originOf(request))),
  )
  app.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Refresh a session',
        description:
          'Spends the refresh token and answers a new pair. A spent token used again ends the session.',
        security: noAuth,
        body: refreshSchema,
        response: {
          200: sessionSchema,
          400: problemResponse('Invalid request.'),
          401: problemResponse('The session has ended.'),
        },
      },
    },
    async (request) => toSessionJson(await users.refresh(request.body.refreshToken, originOf(request))),
  )
  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign out',
        description: 'Ends the session of this refresh token; its access token is refused from now on.',
        security: noAuth,
        body: refreshSchema,
        response: { 204: z.null().describe('Signed out.'), 400: problemResponse('Invalid request.') },
      },
    },
    async (request, reply) => {
      await users.logout(request.body.refreshToken, originOf(request))
      return reply.code(204).send(null)
    },
  )
}

/** Authenticated: who am I, sign out everywhere. */
export const userRoutes: FastifyPluginAsyncZod<{ users: UserService }> = async (app, { users }) => {
  const userIdOf = (keyId: string) => (keyId.startsWith('user:') ? keyId.slice(5) : undefined)
  const notAUserResponse = problemResponse('Called with an API key, not a signed-in user (`not_a_user`).')
  app.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user',
        response: { 200: userSchema, 401: problemResponse('No valid session.'), 403: notAUserResponse },
      },
    },
    async (request) => {
      const id = userIdOf(request.auth.keyId)
      return toUserJson(await users.me(id ?? notAUser()))
    },
  )
  app.post(
    '/auth/logout-everywhere',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign out everywhere',
        description:
          'Ends every session of the signed-in user at once, including the one making this call, and revokes their personal API keys (a key minted with a stolen session must not outlive it). Audited with the keys revoked.',
        response: {
          204: z.null().describe('Signed out everywhere.'),
          401: problemResponse('No valid session.'),
          403: notAUserResponse,
        },
      },
    },
    async (request, reply) => {
      const id = userIdOf(request.auth.keyId)
      await users.logoutEverywhere(id ?? notAUser(), originOf(request))
      return reply.code(204).send(null)
    },
  )
  app.post(
    '/auth/password',
    {
      schema: {
        tags: ['auth'],
        summary: 'Change your password',
        description:
          'Needs the current password. Every other session of the user ends and their personal API keys are revoked (audited with the keys); the answer is a new session for this one.',
        body: passwordChangeSchema,
        response: {
          200: sessionSchema,
          400: problemResponse('The new password is refused (`validation_failed`, with the reason).'),
          401: problemResponse('The current password is wrong, or no valid session.'),
          403: notAUserResponse,
          429: problemResponse('Too many wrong passwords (`login_throttled`), with Retry-After.'),
        },
      },
    },
    async (request) => {
      const id = userIdOf(request.auth.keyId) ?? notAUser()
      return toSessionJson(
        await users.changePassword(
          id,
          request.body.currentPassword,
          request.body.newPassword,
          originOf(request),
        ),
      )
    },
  )
}

const adminErrors = {
  400: problemResponse('Invalid request (every bad field is listed in `errors`).'),
  401: problemResponse('No valid API key or session.'),
  403: problemResponse('Below the admin role, or a role above your own (`forbidden`).'),
}

/** /api/v1/users: the workspace's users (admins). */
export const userAdminRoutes: FastifyPluginAsyncZod<{ userAdmin: UserAdmin }> = async (
  app,
  { userAdmin },
) => {
  const idParams = z.object({ id: z.string().min(1).max(200) })
  const notFound = problemResponse('No such user in this workspace (`user_not_found`).')
  app.get(
    '/users',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['users'],
        summary: 'List users',
        description: 'The workspace’s users, newest first. Never their passwords. Needs admin.',
        querystring: pageQuerySchema,
        response: { 200: userPageSchema, ...adminErrors },
      },
    },
    async (request) => {
      const page = await userAdmin.list(request.auth.tenantId, request.query)
      return { items: page.items.map(toUserJson), nextCursor: page.nextCursor }
    },
  )
  app.post(
    '/users',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['users'],
        summary: 'Add a user',
        description:
          'With an initial password (12+ characters, not a common or breached one) to hand over. The role may not be above yours. Needs admin.',
        body: userCreateSchema,
        response: {
          201: userSchema,
          ...adminErrors,
          409: problemResponse('The e-mail has a user already (`user_exists`).'),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(toUserJson(await userAdmin.create(request.auth, request.body))),
  )
  app.patch(
    '/users/:id',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['users'],
        summary: 'Change a user’s role, or disable/enable them',
        description:
          'A role change applies on the user’s next request; disabling ends their sessions at once and revokes the service keys they created (enabling them again does not bring those back). The last enabled owner cannot be demoted or disabled. Nobody re-enables or raises themselves, also not with a key they created (`self_elevation`). Needs admin.',
        params: idParams,
        body: userUpdateSchema,
        response: {
          200: userSchema,
          ...adminErrors,
          403: problemResponse(
            'Below the admin role, a role above your own (`forbidden`), or re-enabling or raising yourself (`self_elevation`).',
          ),
          404: notFound,
          409: problemResponse('The workspace would have no enabled owner (`last_owner`).'),
        },
      },
    },
    async (request) => toUserJson(await userAdmin.update(request.auth, request.params.id, request.body)),
  )
  app.delete(
    '/users/:id',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['users'],
        summary: 'Remove a user',
        description:
          'Their sessions end and their personal API keys and the service keys they created are revoked at once; audit entries stay. The last enabled owner cannot be removed. Needs admin.',
        params: idParams,
        response: {
          204: z.null().describe('Removed.'),
          ...adminErrors,
          404: notFound,
          409: problemResponse('The workspace would have no enabled owner (`last_owner`).'),
        },
      },
    },
    async (request, reply) => {
      await userAdmin.remove(request.auth, request.params.id)
      return reply.code(204).send(null)
    },
  )
}

function notAUser(): never {
  throw new AppError('not_a_user', 'This needs a signed-in user (a session), not an API key.', 403)
}
