import { loginSchema, problemResponse, refreshSchema, sessionSchema, userSchema } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AppError } from '../platform/errors.ts'
import { noAuth } from '../platform/http/openapi.ts'
import type { Session, User, UserService } from './user.service.ts'

const toUserJson = (user: User) => ({
  id: user.id,
  email: user.email,
  role: user.role,
  createdAt: new Date(user.createdAt).toISOString(),
})
const toSessionJson = (session: Session) => ({ ...session, user: toUserJson(session.user) })

/** Public: sign in, refresh, sign out (the token itself is the credential). */
export const sessionRoutes: FastifyPluginAsyncZod<{ users: UserService }> = async (app, { users }) => {
  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in',
        description: 'Five wrong passwords for one e-mail within 15 minutes lock it for 15 minutes (429).',
        security: noAuth,
        body: loginSchema,
        response: {
          200: sessionSchema,
          400: problemResponse('Invalid request.'),
          401: problemResponse('Wrong e-mail or password (`invalid_credentials`).'),
          429: problemResponse('Too many failed sign-ins (`login_throttled`), with Retry-After.'),
        },
      },
    },
    async (request) => toSessionJson(await users.login(request.body.email, request.body.password)),
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
    async (request) => toSessionJson(await users.refresh(request.body.refreshToken)),
  )
  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign out',
        description: 'Ends the session of this refresh token (its access token expires within minutes).',
        security: noAuth,
        body: refreshSchema,
        response: { 204: z.null().describe('Signed out.'), 400: problemResponse('Invalid request.') },
      },
    },
    async (request, reply) => {
      await users.logout(request.body.refreshToken)
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
        description: 'Ends every session of the signed-in user at once, including the one making this call.',
        response: {
          204: z.null().describe('Signed out everywhere.'),
          401: problemResponse('No valid session.'),
          403: notAUserResponse,
        },
      },
    },
    async (request, reply) => {
      const id = userIdOf(request.auth.keyId)
      await users.logoutEverywhere(id ?? notAUser())
      return reply.code(204).send(null)
    },
  )
}

function notAUser(): never {
  throw new AppError('not_a_user', 'This needs a signed-in user (a session), not an API key.', 403)
}
