import { problemResponse, toolSetListSchema } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { ToolRegistry } from './tool-registry.ts'

// GET /api/v1/tools: the tool sets bots of this workspace may be given, with each function's JSON
// Schema — what the bot form's picker shows and what a bot's `tools` may name.

export const toolRoutes: FastifyPluginAsyncZod<{ registry: ToolRegistry }> = async (app, { registry }) => {
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
      const names = new Set(await registry.names(request.auth.tenantId))
      return {
        items: registry
          .describe()
          .filter((set) => names.has(set.name))
          .map((set) => ({ ...set, configured: true, needsApproval: [] })),
      }
    },
  )
}
