import { z } from 'zod'

// MCP servers of a workspace (issue 13): each is a tool set `mcp:<name>` a bot may be given. Header
// and environment values are kept encrypted and never returned; only their names are.

export const mcpServerNamePattern = /^[a-z0-9][a-z0-9_-]{0,39}$/
export const mcpTransports = ['http', 'stdio'] as const
export const mcpServerStatuses = ['disabled', 'connected', 'error', 'unknown'] as const

const secretMap = (what: string) =>
  z
    .record(
      z
        .string()
        .min(1)
        .max(200)
        .regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, _ . or -'),
      z.string().max(8000),
    )
    .refine((map) => Object.keys(map).length <= 50, 'at most 50 entries')
    .describe(`${what}: kept encrypted, never returned (only their names are).`)

const requireApprovalSchema = z
  .union([z.array(z.string().min(1).max(200)).max(500), z.literal('*')])
  .describe('Tools (as the server names them) whose every call waits for a person’s approval; `*`: all.')

export const mcpServerCreateSchema = z
  .strictObject({
    name: z
      .string()
      .regex(mcpServerNamePattern, 'must be 1–40 of a-z, 0-9, _ and -, starting with a letter or digit')
      .describe('The tool set is `mcp:<name>`.'),
    transport: z
      .enum(mcpTransports)
      .describe(
        '`http`: Streamable HTTP at `url`. `stdio`: a program on this machine (owners only, OPENORCH_MCP_STDIO=true).',
      ),
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2000)
      .refine((url) => {
        const parsed = URL.parse(url)
        return parsed !== null && parsed.username === '' && parsed.password === ''
      }, 'must not carry a user name or password: send credentials as headers')
      .optional()
      .describe('http: the server’s MCP endpoint.'),
    headers: secretMap('http: request headers (e.g. Authorization)').optional(),
    command: z.string().min(1).max(1000).optional().describe('stdio: the program to start.'),
    args: z.array(z.string().max(4000)).max(100).optional().describe('stdio: its arguments.'),
    env: secretMap('stdio: the only environment variables it gets (besides PATH)').optional(),
    enabled: z
      .boolean()
      .optional()
      .describe('Default false: nothing is started or called until an admin enables it.'),
    requireApproval: requireApprovalSchema.optional(),
  })
  .meta({ id: 'McpServerCreate', description: 'An MCP server to register.' })

/**
 * What `POST /api/v1/mcp-servers` takes.
 *
 * @example
 * const crm: McpServerCreate = { name: 'crm', transport: 'http', url: 'https://mcp.example.com/mcp',
 *   headers: { Authorization: 'Bearer …' }, enabled: true, requireApproval: ['delete_contact'] }
 */
export type McpServerCreate = z.input<typeof mcpServerCreateSchema>

export const mcpServerUpdateSchema = mcpServerCreateSchema.partial().meta({
  id: 'McpServerUpdate',
  description: 'Fields to change; `headers` and `env` replace the stored ones when given.',
})

export type McpServerUpdate = z.input<typeof mcpServerUpdateSchema>

export const mcpToolSchema = z
  .object({
    name: z.string().describe('As the server names it (what `requireApproval` lists).'),
    description: z.string(),
    inputSchema: z
      .record(z.string(), z.unknown())
      .describe('JSON Schema of the arguments, as the server sent it.'),
  })
  .meta({ id: 'McpTool', description: 'A tool an MCP server offers.' })

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

export const mcpServerSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    toolSet: z.string().describe('What a bot names in `tools`: `mcp:<name>`.'),
    transport: z.enum(mcpTransports),
    url: z.string().nullable(),
    headerNames: z.array(z.string()),
    command: z.string().nullable(),
    args: z.array(z.string()),
    envNames: z.array(z.string()),
    enabled: z.boolean(),
    requireApproval: z.union([z.array(z.string()), z.literal('*')]),
    status: z
      .enum(mcpServerStatuses)
      .describe('`disabled`; `connected`; `error` (see `lastError`); `unknown`: enabled, not reached yet.'),
    lastError: z.string().nullable().describe('Why the last connection or listing failed, in words.'),
    tools: z.array(mcpToolSchema),
    toolsCheckedAt: isoTime.nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: 'McpServer', description: 'An MCP server registered in this workspace.' })

/**
 * An MCP server as `GET /api/v1/mcp-servers/{id}` returns it.
 *
 * @example
 * const crm: McpServer = { id: '0190…', name: 'crm', toolSet: 'mcp:crm', transport: 'http',
 *   url: 'https://mcp.example.com/mcp', headerNames: ['Authorization'], command: null, args: [], envNames: [],
 *   enabled: true, requireApproval: ['delete_contact'], status: 'connected', lastError: null,
 *   tools: [{ name: 'find_contact', description: 'Finds a contact', inputSchema: { type: 'object' } }],
 *   toolsCheckedAt: '2026-12-04T08:00:00.000Z', createdAt: '2026-12-04T08:00:00.000Z', updatedAt: '2026-12-04T08:00:00.000Z' }
 */
export type McpServer = z.infer<typeof mcpServerSchema>

export const mcpServerListSchema = z
  .object({ items: z.array(mcpServerSchema) })
  .meta({ id: 'McpServerList', description: 'The MCP servers of this workspace.' })
