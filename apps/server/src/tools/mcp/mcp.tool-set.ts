import { createHash } from 'node:crypto'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { Db } from '../../database.ts'
import type { Logger } from '../../platform/logger.ts'
import type { ToolContext, ToolFunction, ToolSet } from '../tool.types.ts'
import { ToolError } from '../tool-error.ts'
import type { ToolSetSource } from '../tool-registry.ts'
import type { McpService } from './mcp.service.ts'
import { type McpConnection, McpConnectionError, type McpToolInfo } from './mcp-connection.ts'
import type { ResolvedServer } from './mcp-pool.ts'
import {
  argumentProblems,
  argumentValidator,
  convertInputSchema,
  createSchemaCompiler,
  SchemaConversionError,
} from './mcp-schema.ts'
import { findMcpServersByNames, type McpServerRow, mcpServerNames } from './mcp-server.store.ts'

// The workspace's MCP servers as tool sets `mcp:<name>` (decision 0031). A server's tool `search` is
// offered to the model as `mcp_<server>__search`: prefixed so it cannot clash with a built-in or
// another server's tool, and in the alphabet and length (64) every provider accepts (other characters
// become `_`; a name that would be too long or clash is cut and given a short hash of the original).

export const functionPrefix = 'mcp_'
const maxFunctionName = 64
/** Characters of a tool's result kept before the loop's own cut (which is smaller). */
const maxResultChars = 100_000

export interface McpToolSetOptions {
  service: McpService
  database: Db
  log: Logger
  /** One call at most (default 60 s); the run's own timeout and cancel stop it earlier. */
  callTimeoutMs?: number
}

export function createMcpToolSetSource(options: McpToolSetOptions): ToolSetSource {
  const { service } = options
  const db = options.database.db
  const log = options.log.child({ component: 'mcp' })
  const callTimeoutMs = options.callTimeoutMs ?? 60_000
  // Functions built from one listing of one version of a server (schemas compiled once).
  const built = new Map<string, ToolFunction[]>()

  async function toolsOf(row: McpServerRow, server: ResolvedServer): Promise<McpToolInfo[]> {
    const cached = JSON.parse(row.tools) as McpToolInfo[]
    if (row.transport === 'stdio') {
      // A program is started for a listing only when nothing is cached yet; runs start their own.
      if (row.tools_checked_at !== null) return cached
      try {
        return await service.pool.withTemporary(server, async (connection) => connection.tools)
      } catch {
        return []
      }
    }
    try {
      return (await service.pool.sharedConnection(server)).tools
    } catch {
      // Down now: its tools as last listed (a call will say what is wrong, and may find it back up).
      return cached
    }
  }

  function functionsOf(row: McpServerRow, server: ResolvedServer, tools: McpToolInfo[]): ToolFunction[] {
    const key = `${row.tenant_id}:${row.id}:${row.updated_at}:${row.require_approval}:${hashOf(JSON.stringify(tools))}`
    const existing = built.get(key)
    if (existing) return existing
    const requireApproval = JSON.parse(row.require_approval) as string[] | '*'
    const ajv = createSchemaCompiler()
    const used = new Set<string>()
    const functions: ToolFunction[] = []
    for (const tool of tools) {
      let inputSchema: Record<string, unknown>
      let validate: ReturnType<typeof argumentValidator>
      try {
        inputSchema = convertInputSchema(tool.inputSchema)
        validate = argumentValidator(ajv, tool.inputSchema, inputSchema)
      } catch (error) {
        if (!(error instanceof SchemaConversionError)) throw error
        log.warn(
          { mcpServer: row.name, tool: tool.name, reason: error.message },
          'mcp tool skipped: its argument schema cannot be offered to the models',
        )
        continue
      }
      const name = functionName(row.name, tool.name, used)
      used.add(name)
      functions.push({
        name,
        description:
          `${tool.description || tool.name} (tool "${tool.name}" of the MCP server ${row.name})`.slice(
            0,
            4000,
          ),
        input: z.preprocess(
          (value) => value ?? {},
          z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
            if (!validate(value)) ctx.addIssue({ code: 'custom', message: argumentProblems(validate) })
          }),
        ),
        inputSchema,
        requiresApproval: requireApproval === '*' || requireApproval.includes(tool.name),
        // An MCP tool may act on the world: the run's lease is presented first.
        sideEffects: true,
        execute: (input: Record<string, unknown>, context: ToolContext) =>
          call(server, row, tool.name, input, context),
      })
    }
    if (built.size >= 200) built.clear()
    built.set(key, functions)
    return functions
  }

  async function call(
    server: ResolvedServer,
    row: McpServerRow,
    tool: string,
    input: Record<string, unknown>,
    context: ToolContext,
  ): Promise<unknown> {
    context.signal.throwIfAborted()
    let connection: McpConnection | undefined
    try {
      connection =
        row.transport === 'stdio'
          ? context.atEnd
            ? await service.pool.runConnection(server, context.runId, context.atEnd)
            : undefined
          : await service.pool.sharedConnection(server)
      const result = connection
        ? await connection.callTool(tool, input, { signal: context.signal, timeoutMs: callTimeoutMs })
        : await service.pool.withTemporary(server, (temporary) =>
            temporary.callTool(tool, input, { signal: context.signal, timeoutMs: callTimeoutMs }),
          )
      if (result.isError)
        throw new ToolError(
          'mcp_tool_error',
          `${row.name} answered with an error: ${textOf(result) || '(no message)'}`,
        )
      return resultOf(result)
    } catch (error) {
      if (context.signal.aborted) throw context.signal.reason
      if (error instanceof ToolError) throw error
      // A server that failed or hung gets a fresh connection next time (a stale session, a stuck stream).
      if (row.transport === 'http') await service.pool.drop(server)
      if (error instanceof McpConnectionError) throw new ToolError(error.code, error.message)
      throw new ToolError('mcp_failed', `${row.name}: ${(error as Error).message}`)
    }
  }

  return {
    async names(tenantId) {
      return (await mcpServerNames(db, tenantId)).map((name) => `mcp:${name}`)
    },
    async sets(tenantId, names) {
      const wanted = names.filter((name) => name.startsWith('mcp:')).map((name) => name.slice(4))
      const rows = (await findMcpServersByNames(db, tenantId, wanted)).filter(
        (row) => row.enabled === 1 && service.unusable(row) === undefined,
      )
      const sets = await Promise.all(
        rows.map(async (row): Promise<ToolSet | undefined> => {
          let server: ResolvedServer
          try {
            server = service.resolve(row)
          } catch (error) {
            log.warn({ err: error, mcpServer: row.name }, 'mcp server skipped: its secrets cannot be read')
            return undefined
          }
          const functions = functionsOf(row, server, await toolsOf(row, server))
          return {
            name: `mcp:${row.name}`,
            description: `Tools of the MCP server "${row.name}" (${row.transport === 'http' ? row.url : row.command}).`,
            functions,
          }
        }),
      )
      return sets.filter((set): set is ToolSet => set !== undefined)
    },
  }
}

/** `mcp_<server>__<tool>` within 64 characters of [A-Za-z0-9_-], unique among `used`. */
export function functionName(server: string, tool: string, used: ReadonlySet<string>): string {
  const prefix = `${functionPrefix}${server}__`
  const clean = tool.replace(/[^A-Za-z0-9_-]/g, '_')
  const plain = `${prefix}${clean}`
  if (plain.length <= maxFunctionName && !used.has(plain)) return plain
  const hash = hashOf(tool).slice(0, 6)
  return `${prefix}${clean.slice(0, Math.max(1, maxFunctionName - prefix.length - 7))}_${hash}`
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('hex')

function textOf(result: CallToolResult): string {
  const parts: string[] = []
  for (const item of result.content ?? []) {
    if (item.type === 'text') parts.push(item.text)
    else if (item.type === 'image' || item.type === 'audio')
      parts.push(
        `[${item.type} ${item.mimeType}, about ${Math.round((item.data.length * 3) / 4)} bytes: not shown]`,
      )
    else if (item.type === 'resource')
      parts.push(
        'text' in item.resource ? String(item.resource.text) : `[resource ${item.resource.uri}: not shown]`,
      )
    else if (item.type === 'resource_link') parts.push(`[link: ${item.name} ${item.uri}]`)
  }
  return parts.join('\n\n')
}

/** The result for the model: its text (media described, not sent) and any structured content. */
function resultOf(result: CallToolResult): unknown {
  let text = textOf(result)
  if (text.length > maxResultChars)
    text = `${text.slice(0, maxResultChars)}\n[The result was ${text.length} characters; only the first ${maxResultChars} are kept.]`
  if (result.structuredContent === undefined) return { text }
  const data = JSON.stringify(result.structuredContent)
  return data.length > maxResultChars
    ? { text, data: `${data.slice(0, maxResultChars)}…` }
    : { text, data: result.structuredContent }
}
