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
import type { ApiKey, ApiKeyService } from './api-key.service.ts'
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
          'Newest first, with prefix, role, last use, expiry and revocation. Never the keys. Needs admin.',
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
        summary: 'Create an API key',
        description: 'The key is in the answer this once. Its role may not be above yours. Needs admin.',
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
