import {
  problemResponse,
  searchSettingsPutSchema,
  searchSettingsSchema,
  toolPolicySchema,
  toolSetListSchema,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../platform/http/caller.ts'
import type { SearchSettings, SearchSettingsView } from './search/search.settings.ts'
import type { ToolPolicies } from './tool-policy.ts'
import type { ToolRegistry } from './tool-registry.ts'

// GET /api/v1/tools: the tool sets bots of this workspace may be given, with each function's JSON
// Schema — what the bot form's picker shows and what a bot's `tools` may name.

const searchJson = (view: SearchSettingsView) => ({
  ...view,
  updatedAt: new Date(view.updatedAt).toISOString(),
})
const adminErrors = {
  401: problemResponse('No valid API key.'),
  403: problemResponse('The API key is below the admin role (`forbidden`).'),
}

export const toolRoutes: FastifyPluginAsyncZod<{
  registry: ToolRegistry
  search?: SearchSettings
  policies?: ToolPolicies
}> = async (app, { registry, search, policies }) => {
  app.get(
    '/tools',
    {
      schema: {
        tags: ['tools'],
        summary: 'List the tool sets',
        description:
          'The tool sets a bot may name in `tools`, each with its functions (name, description, JSON Schema of the arguments), whether it is configured, and which calls wait for approval.',
        response: { 200: toolSetListSchema, 401: problemResponse('No valid API key.') },
      },
    },
    async (request) => {
      const tenantId = request.auth.tenantId
      const policy = new Set(policies ? (await policies.get(tenantId)).requireApproval : [])
      const always = new Set(
        (await registry.functionsFor(tenantId, await registry.names(tenantId)))
          .filter((fn) => fn.requiresApproval)
          .map((fn) => fn.name),
      )
      return {
        items: (await registry.describe(tenantId)).map((set) => ({
          ...set,
          needsApproval: set.functions
            .filter((fn) => always.has(fn.name) || policy.has(fn.name))
            .map((fn) => fn.name),
        })),
      }
    },
  )

  if (policies) {
    app.get(
      '/tools/policy',
      {
        schema: {
          tags: ['tools'],
          summary: 'Get the approval policy',
          description:
            'Built-in functions whose calls wait for a person in this workspace, and how long an approval may wait.',
          response: { 200: toolPolicySchema, 401: problemResponse('No valid API key.') },
        },
      },
      async (request) => policies.get(request.auth.tenantId),
    )
    app.put(
      '/tools/policy',
      {
        preValidation: requireRole('admin'),
        schema: {
          tags: ['tools'],
          summary: 'Set the approval policy',
          description:
            'Marks built-in functions whose every call waits for a person (files_delete always does; MCP tools are marked on their server), and an optional expiry after which an undecided approval counts as rejected. Applies to calls made from now on. Needs admin.',
          body: toolPolicySchema,
          response: {
            200: toolPolicySchema,
            400: problemResponse('Invalid fields, or a name that is not a built-in function.'),
            ...adminErrors,
          },
        },
      },
      async (request) => policies.put(request.auth.tenantId, request.body),
    )
  }

  if (!search) return
  const notConfigured = {
    404: problemResponse('Web search is not set up in this workspace (`search_not_configured`).'),
  }
  app.get(
    '/tools/search',
    {
      schema: {
        tags: ['tools'],
        summary: 'Get the web search set-up',
        description: 'The workspace’s search provider for the `search` tool set; the key only masked.',
        response: { 200: searchSettingsSchema, 401: problemResponse('No valid API key.'), ...notConfigured },
      },
    },
    async (request) => searchJson(await search.get(request.auth.tenantId)),
  )
  app.put(
    '/tools/search',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'Set up web search',
        description:
          'Checks the provider with a real search and saves it, the key encrypted (never returned). A refusal saves nothing: the problem `code` says why (`search_unauthorized`, `search_quota`, `search_not_configured`, `search_unavailable`, …) and `detail` what to do. A base URL on a private network is refused (`egress_refused`) unless OPENORCH_EGRESS_ALLOW opens it. Needs admin.',
        body: searchSettingsPutSchema,
        response: {
          200: searchSettingsSchema,
          400: problemResponse(
            'Invalid fields, or the base URL is not reachable by policy (`egress_refused`).',
          ),
          ...adminErrors,
          422: problemResponse('The provider refused the settings or could not be reached.'),
          429: problemResponse('The provider is rate-limiting the key (`search_rate_limited`).'),
        },
      },
    },
    async (request) => searchJson(await search.put(request.auth.tenantId, request.body)),
  )
  app.delete(
    '/tools/search',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'Remove the web search set-up',
        description:
          'Deletes the saved provider and key; the `search` tool set is then not configured. Needs admin.',
        response: { 204: z.null().describe('Removed.'), ...adminErrors, ...notConfigured },
      },
    },
    async (request, reply) => {
      await search.remove(request.auth.tenantId)
      return reply.code(204).send(null)
    },
  )
}
