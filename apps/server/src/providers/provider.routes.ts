import {
  type Provider as ProviderJson,
  problemResponse,
  providerConfigSchema,
  providerPageSchema,
  providerParamsSchema,
  providerSchema,
  providerValidationSchema,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../auth/auth.hook.ts'
import type { CircuitBreaker } from './circuit-breaker.ts'
import type { ProviderService } from './provider.service.ts'
import type { ProviderView } from './provider.types.ts'

// /api/v1/providers: validate (contracts) → provider service → reply. Reading needs viewer, changing
// needs admin. No request body is logged, and no answer carries a key.

export interface ProviderRoutesOptions {
  providers: ProviderService
  /** The circuit breakers (decision 0034); absent: not shown. */
  circuit?: Pick<CircuitBreaker, 'state'>
}

const iso = (ms: number) => new Date(ms).toISOString()

export function toProviderJson(view: ProviderView): ProviderJson {
  return {
    name: view.name,
    label: view.label,
    status: view.status,
    keyHint: view.keyHint,
    baseUrl: view.baseUrl,
    defaultModel: view.defaultModel,
    models: view.models,
    lastCheckedAt: view.lastCheckedAt === null ? null : iso(view.lastCheckedAt),
    lastErrorCode: view.lastErrorCode,
    createdAt: iso(view.createdAt),
    updatedAt: iso(view.updatedAt),
  }
}

const readErrors = {
  400: problemResponse('Unknown provider name (`validation_failed`).'),
  401: problemResponse('No valid API key.'),
}
const adminErrors = {
  ...readErrors,
  403: problemResponse('The API key is below the admin role (`forbidden`).'),
}
const notConfigured = problemResponse(
  'The provider is not set up in this workspace (`provider_not_configured`).',
)

export const providerRoutes: FastifyPluginAsyncZod<ProviderRoutesOptions> = async (
  app,
  { providers, circuit },
) => {
  app.get(
    '/providers',
    {
      schema: {
        tags: ['providers'],
        summary: 'List providers',
        description: 'The configured LLM providers of the workspace, with status and a masked key.',
        response: { 200: providerPageSchema, 401: readErrors[401] },
      },
    },
    async (request) => ({
      items: (await providers.list(request.auth.tenantId)).map(toProviderJson),
      nextCursor: null,
    }),
  )

  app.get(
    '/providers/:name',
    {
      schema: {
        tags: ['providers'],
        summary: 'Get a provider',
        params: providerParamsSchema,
        response: { 200: providerSchema, ...readErrors, 404: notConfigured },
      },
    },
    async (request) => {
      const provider = toProviderJson(await providers.get(request.auth.tenantId, request.params.name))
      if (!circuit) return provider
      const state = await circuit.state(request.auth.tenantId, request.params.name)
      return {
        ...provider,
        circuit: { ...state, openedAt: state.openedAt === null ? null : iso(state.openedAt) },
      }
    },
  )

  app.put(
    '/providers/:name',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['providers'],
        summary: 'Set up a provider',
        description:
          'Checks the key with a real, minimal call (listing the models) and saves it encrypted. A refused key is not saved: the problem `code` says why (`provider_auth`, `provider_quota`, `provider_rate_limited`, `provider_unreachable`, …) and `detail` what to do. A base URL on a private network, loopback or cloud metadata is refused with 400 `egress_refused` unless the operator opened it (OPENORCH_EGRESS_ALLOW). Fields the body does not name keep their saved values; a saved key is only sent to the origin it was saved for (another origin needs `apiKey` again). Needs admin.',
        params: providerParamsSchema,
        body: providerConfigSchema,
        response: {
          200: providerValidationSchema,
          ...adminErrors,
          422: problemResponse(
            'The provider refused the key or could not be reached (`provider_auth`, `provider_quota`, `provider_unreachable`, `provider_unavailable`, `provider_timeout`, `provider_bad_request`, `provider_bad_answer`).',
          ),
          429: problemResponse(
            'The provider is rate-limiting the key (`provider_rate_limited`); see Retry-After.',
          ),
        },
      },
    },
    async (request) => providers.configure(request.auth.tenantId, request.params.name, request.body),
  )

  app.delete(
    '/providers/:name',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['providers'],
        summary: 'Remove a provider',
        description: 'Deletes the saved key and settings. Needs admin.',
        params: providerParamsSchema,
        response: { 204: z.null().describe('Removed.'), ...adminErrors, 404: notConfigured },
      },
    },
    async (request, reply) => {
      await providers.remove(request.auth.tenantId, request.params.name)
      return reply.code(204).send(null)
    },
  )
}
