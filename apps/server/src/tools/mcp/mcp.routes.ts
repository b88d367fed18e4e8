import {
  mcpServerCreateSchema,
  mcpServerListSchema,
  mcpServerSchema,
  mcpServerUpdateSchema,
  problemResponse,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../../platform/http/caller.ts'
import type { McpService } from './mcp.service.ts'

// /api/v1/mcp-servers: a workspace's MCP servers (decision 0031). Admins only; stdio servers need an
// owner and OPENORCH_MCP_STDIO=true. Header and environment values go in and never come out.

const params = z.object({ id: z.string().min(1).max(100) })
const errors = {
  401: problemResponse('No valid API key.'),
  403: problemResponse(
    'Below the admin role (`forbidden`); a stdio server needs an owner (`forbidden`) and OPENORCH_MCP_STDIO=true (`mcp_stdio_disabled`).',
  ),
}
const notFound = { 404: problemResponse('No such MCP server in this workspace (`mcp_server_not_found`).') }
const badInput = {
  400: problemResponse(
    'Invalid fields (`validation_failed`), or the URL is on a network this installation does not call (`egress_refused`; an operator can open it with OPENORCH_EGRESS_ALLOW).',
  ),
}

export const mcpRoutes: FastifyPluginAsyncZod<{ mcp: McpService }> = async (app, { mcp }) => {
  app.get(
    '/mcp-servers',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'List the MCP servers',
        description:
          'The workspace’s MCP servers with their last known status and tools (nothing is connected to). Needs admin.',
        response: { 200: mcpServerListSchema, ...errors },
      },
    },
    async (request) => ({ items: await mcp.list(request.auth.tenantId) }),
  )
  app.post(
    '/mcp-servers',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'Register an MCP server',
        description:
          'Registers a server as the tool set `mcp:<name>`. `enabled` defaults to false: nothing is started or called until it is enabled. Header and environment values are kept encrypted and never returned. Needs admin; `stdio` needs an owner and OPENORCH_MCP_STDIO=true.',
        body: mcpServerCreateSchema,
        response: {
          201: mcpServerSchema,
          ...badInput,
          ...errors,
          409: problemResponse('A server of that name exists (`mcp_server_exists`).'),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await mcp.create(request.auth.tenantId, request.auth.role, request.body)),
  )
  app.get(
    '/mcp-servers/:id',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'Get an MCP server',
        description:
          'An enabled server is connected to (or its live connection asked): `status` is `connected` with its tools, or `error` with `lastError` in words. Needs admin.',
        params,
        response: { 200: mcpServerSchema, ...errors, ...notFound },
      },
    },
    async (request) => mcp.get(request.auth.tenantId, request.params.id),
  )
  app.patch(
    '/mcp-servers/:id',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'Change an MCP server',
        description:
          'Changes the given fields; `headers` and `env` replace the stored ones when given. Live connections are closed. Needs admin; a stdio server needs an owner and OPENORCH_MCP_STDIO=true.',
        params,
        body: mcpServerUpdateSchema,
        response: {
          200: mcpServerSchema,
          ...badInput,
          ...errors,
          ...notFound,
          409: problemResponse(
            'A server of that name exists (`mcp_server_exists`), or the stored secrets cannot be decrypted (`mcp_secrets_unreadable`).',
          ),
        },
      },
    },
    async (request) => mcp.update(request.auth.tenantId, request.auth.role, request.params.id, request.body),
  )
  app.delete(
    '/mcp-servers/:id',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['tools'],
        summary: 'Remove an MCP server',
        description:
          'Deletes the server and closes its connections. Bots naming `mcp:<name>` then get none of its tools. Needs admin.',
        params,
        response: { 204: z.null().describe('Removed.'), ...errors, ...notFound },
      },
    },
    async (request, reply) => {
      await mcp.remove(request.auth.tenantId, request.params.id)
      return reply.code(204).send(null)
    },
  )
}
