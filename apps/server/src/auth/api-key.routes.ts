import {
  type ApiKey as ApiKeyJson,
  apiKeyCreatedSchema,
  apiKeyCreateSchema,
  apiKeyPageSchema,
  apiKeySchema,
  pageQuerySchema,
  problemResponse,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AppError } from '../platform/errors.ts'
import { type ApiKey, type ApiKeyService, maxPersonalKeysPerUser } from './api-key.service.ts'
import { requireRole } from './auth.hook.ts'

// /api/v1/keys: the workspace's API keys (admins).

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

function toApiKeyJson(key: ApiKey): ApiKeyJson {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    role: key.role,
    createdAt: iso(key.createdAt)!,
    lastUsedAt: iso(key.lastUsedAt),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
    userId: key.userId,
    createdBy: key.createdBy,
  }
}

const errors = {
  400: problemResponse('Invalid request (every bad field is listed in `errors`).'),
  401: problemResponse('No valid API key.'),
  403: problemResponse('Below the admin role, or a role above your own (`forbidden`).'),
}

export const apiKeyRoutes: FastifyPluginAsyncZod<{ apiKeys: ApiKeyService }> = async (app, { apiKeys }) => {
  app.get(
    '/keys',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['keys'],
        summary: 'List API keys',
        description:
          'Every key of the workspace, newest first: service keys with the `createdBy` of the user who made them, and personal keys with the `userId` of their person (an admin may revoke any). With prefix, role, last use, expiry and revocation; never the keys. Needs admin.',
        querystring: pageQuerySchema,
        response: { 200: apiKeyPageSchema, ...errors },
      },
    },
    async (request) => {
      const page = await apiKeys.list(request.auth.tenantId, request.query)
      return { items: page.items.map(toApiKeyJson), nextCursor: page.nextCursor }
    },
  )

  app.post(
    '/keys',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['keys'],
        summary: 'Create a service API key',
        description:
          'A key of the workspace, for scripts and other programs (personal keys: /auth/keys). The key is in the answer this once. Its role may not be above yours. It records you as its creator (`createdBy`; a key made by a key records that key’s creator): it acts with at most your current role and is revoked when you are disabled or removed. Needs admin.',
        body: apiKeyCreateSchema,
        response: { 201: apiKeyCreatedSchema, ...errors },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.issue(request.auth, {
        name: request.body.name,
        role: request.body.role,
        expiresAt: request.body.expiresAt ? Date.parse(request.body.expiresAt) : null,
      })
      return reply.code(201).send({ key: created.key, apiKey: toApiKeyJson(created.apiKey) })
    },
  )

  app.delete(
    '/keys/:id',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['keys'],
        summary: 'Revoke an API key',
        description: 'Takes effect on the key’s next request. Needs admin.',
        params: z.object({ id: z.string().min(1).max(200) }),
        response: {
          200: apiKeySchema,
          ...errors,
          404: problemResponse('No such key (`api_key_not_found`).'),
        },
      },
    },
    async (request) => toApiKeyJson(await apiKeys.revoke(request.auth, request.params.id)),
  )
}

/** /api/v1/auth/keys: a signed-in user's personal keys (any role; never above the user's own). */
export const personalKeyRoutes: FastifyPluginAsyncZod<{ apiKeys: ApiKeyService }> = async (
  app,
  { apiKeys },
) => {
  const userOf = (keyId: string) => {
    if (keyId.startsWith('user:')) return keyId.slice(5)
    throw new AppError(
      'not_a_user',
      'Personal keys are managed by a signed-in user (a session), not an API key.',
      403,
    )
  }
  const personalErrors = {
    400: problemResponse('Invalid request (every bad field is listed in `errors`).'),
    401: problemResponse('No valid session.'),
    403: problemResponse('Called with an API key (`not_a_user`), or a role above your own (`forbidden`).'),
  }
  const tooMany = problemResponse(
    `You have ${maxPersonalKeysPerUser} personal keys that work already (\`personal_key_limit\`): revoke one first.`,
  )
  app.get(
    '/auth/keys',
    {
      schema: {
        tags: ['auth'],
        summary: 'List your personal API keys',
        querystring: pageQuerySchema,
        response: { 200: apiKeyPageSchema, ...personalErrors },
      },
    },
    async (request) => {
      const page = await apiKeys.list(request.auth.tenantId, request.query, userOf(request.auth.keyId))
      return { items: page.items.map(toApiKeyJson), nextCursor: page.nextCursor }
    },
  )
  app.post(
    '/auth/keys',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a personal API key',
        description: `For your own scripts: it acts as you, with at most your role at the time of each request, and stops working when your account is disabled or removed, when you change your password and when you sign out everywhere. Its requests count against your own rate limit, with your sessions’. At most ${maxPersonalKeysPerUser} per person work at once. Shown this once.`,
        body: apiKeyCreateSchema,
        response: { 201: apiKeyCreatedSchema, ...personalErrors, 409: tooMany },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.issue(request.auth, {
        name: request.body.name,
        role: request.body.role,
        expiresAt: request.body.expiresAt ? Date.parse(request.body.expiresAt) : null,
        userId: userOf(request.auth.keyId),
      })
      return reply.code(201).send({ key: created.key, apiKey: toApiKeyJson(created.apiKey) })
    },
  )
  app.delete(
    '/auth/keys/:id',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke one of your personal API keys',
        params: z.object({ id: z.string().min(1).max(200) }),
        response: {
          200: apiKeySchema,
          ...personalErrors,
          404: problemResponse('No such key of yours (`api_key_not_found`).'),
        },
      },
    },
    async (request) =>
      toApiKeyJson(await apiKeys.revoke(request.auth, request.params.id, userOf(request.auth.keyId))),
  )
}
