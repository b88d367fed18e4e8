import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js'
import { type EgressPolicy, egressRefusal } from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import type { Logger } from '../../platform/logger.ts'
import { guardedMcpFetch } from './mcp-http.ts'
import { maxSchemaChars } from './mcp-schema.ts'
import { StdioMcpTransport, type StdioTarget } from './mcp-stdio.transport.ts'

// One connection to an MCP server (the SDK's Client over Streamable HTTP or our stdio transport):
// lists its tools (all pages, bounded), follows `notifications/tools/list_changed`, and calls tools
// under a timeout and the caller's signal. Failures come out as McpConnectionError with words for
// people and the model.

export type McpTarget = (
  | { transport: 'http'; url: string; headers: Record<string, string> }
  | ({ transport: 'stdio' } & StdioTarget)
) & {
  /** For log lines: `crm` of `mcp:crm`. */
  name: string
}

/** A tool as the server listed it (description cut, schema as sent). */
export interface McpToolInfo {
  name: string
  description: string
  inputSchema: Record<string, unknown>
}

export interface McpLimits {
  connectTimeoutMs: number
  /** A list request (each page). */
  listTimeoutMs: number
  /** One message from the server at most (a JSON answer, an event, a stdio line). */
  maxMessageBytes: number
  maxTools: number
}

export const defaultMcpLimits: McpLimits = {
  connectTimeoutMs: 15_000,
  listTimeoutMs: 15_000,
  maxMessageBytes: 4 * 1024 * 1024,
  maxTools: 500,
}

/** `mcp_failed` (the server failed or could not be reached) or `mcp_timeout`. */
export class McpConnectionError extends Error {
  readonly code: 'mcp_failed' | 'mcp_timeout' | 'egress_refused'
  constructor(code: McpConnectionError['code'], message: string) {
    super(message)
    this.name = 'McpConnectionError'
    this.code = code
  }
}

// The SDK validates structured results against each tool's output schema with ajv, compiling them
// when tools are listed: one schema ajv refuses would fail the whole listing. Results are passed on
// as they are; the model reads them.
const lenientValidator: jsonSchemaValidator = {
  getValidator: () => (input) => ({ valid: true, data: input as never, errorMessage: undefined }),
}

export interface McpConnection {
  /** The tools as last listed (refreshed on list_changed). */
  readonly tools: McpToolInfo[]
  readonly closed: boolean
  /** The stdio child's process id, while it runs. */
  readonly pid: number | undefined
  listTools(): Promise<McpToolInfo[]>
  callTool(
    name: string,
    args: Record<string, unknown>,
    options: { signal: AbortSignal; timeoutMs: number },
  ): Promise<CallToolResult>
  close(): Promise<void>
}

export interface OpenOptions {
  egress: EgressPolicy
  log: Logger
  limits?: Partial<McpLimits>
  /** The tools changed (list_changed, then listed again). */
  onToolsChanged?(tools: McpToolInfo[]): void
  /** The connection ended without close() (a crashed child, an oversized answer). */
  onLost?(reason: string): void
}

export async function openMcpConnection(target: McpTarget, options: OpenOptions): Promise<McpConnection> {
  const limits = { ...defaultMcpLimits, ...options.limits }
  const log = options.log.child({ mcpServer: target.name })
  let failure: string | undefined
  const pending = new Set<(error: Error) => void>()
  const failPending = (message: string) => {
    failure ??= message
    for (const reject of pending) reject(new McpConnectionError('mcp_failed', `${target.name}: ${message}`))
  }
  let transport: Transport
  let stdio: StdioMcpTransport | undefined
  if (target.transport === 'http') {
    transport = new StreamableHTTPClientTransport(new URL(target.url), {
      fetch: guardedMcpFetch(options.egress, limits.maxMessageBytes, (message) => {
        failPending(message)
        void connection.close()
      }),
      requestInit: { headers: { ...target.headers } },
      reconnectionOptions: {
        initialReconnectionDelay: 1000,
        maxReconnectionDelay: 30_000,
        reconnectionDelayGrowFactor: 2,
        maxRetries: 2,
      },
    })
  } else {
    stdio = new StdioMcpTransport(target, { log, maxMessageBytes: limits.maxMessageBytes })
    transport = stdio
  }
  const client = new Client(
    { name: 'openOrchestrator', version: '0.1.0' },
    { capabilities: {}, jsonSchemaValidator: lenientValidator },
  )
  let closing = false
  let closed = false
  let tools: McpToolInfo[] = []
  // Until connected, connect() itself fails with the real reason (refused, not found, timed out).
  let connected = false
  client.onclose = () => {
    closed = true
    if (!connected) return
    const reason = stdio?.failure ?? failure ?? 'the connection was closed'
    failPending(reason)
    if (!closing) {
      log.warn({ reason }, 'mcp server connection lost')
      options.onLost?.(reason)
    }
  }
  client.onerror = (error) => log.debug({ err: error }, 'mcp transport error')

  const listTools = async (): Promise<McpToolInfo[]> => {
    const listed: McpToolInfo[] = []
    let cursor: string | undefined
    for (let page = 0; page < 20; page++) {
      const result = await guard(
        client.listTools(cursor ? { cursor } : {}, { timeout: limits.listTimeoutMs }),
        'listing its tools',
        limits.listTimeoutMs,
      )
      for (const tool of result.tools) {
        if (listed.length >= limits.maxTools) break
        const inputSchema = (tool.inputSchema ?? { type: 'object' }) as Record<string, unknown>
        if (JSON.stringify(inputSchema).length > maxSchemaChars) {
          log.warn(
            { tool: tool.name },
            `mcp tool skipped: its schema is larger than ${maxSchemaChars} characters`,
          )
          continue
        }
        const description = tool.description ?? tool.title ?? ''
        listed.push({
          name: tool.name,
          description: description.length > 4000 ? `${description.slice(0, 4000)}…` : description,
          inputSchema,
        })
      }
      cursor = result.nextCursor
      if (!cursor || listed.length >= limits.maxTools) break
    }
    tools = listed
    return listed
  }

  /** `promise`, failed at once when the connection is lost meanwhile; errors in words. */
  async function guard<T>(promise: Promise<T>, doing: string, timeoutMs?: number): Promise<T> {
    let reject!: (error: Error) => void
    const lost = new Promise<never>((_, fail) => {
      reject = fail
    })
    pending.add(reject)
    try {
      return await Promise.race([promise, lost])
    } catch (error) {
      throw asConnectionError(error, target, doing, timeoutMs, failure ?? stdio?.failure)
    } finally {
      pending.delete(reject)
    }
  }

  const connection: McpConnection = {
    get tools() {
      return tools
    },
    get closed() {
      return closed
    },
    get pid() {
      return stdio?.pid
    },
    listTools,
    async callTool(name, args, { signal, timeoutMs }) {
      if (closed)
        throw new McpConnectionError(
          'mcp_failed',
          `${target.name}: ${failure ?? 'the connection was closed'}`,
        )
      return (await guard(
        client.callTool({ name, arguments: args }, undefined, {
          signal,
          timeout: timeoutMs,
          maxTotalTimeout: timeoutMs,
        }),
        `calling ${name}`,
        timeoutMs,
      )) as CallToolResult
    },
    async close() {
      if (closing) return
      closing = true
      try {
        await client.close()
      } catch {}
      closed = true
    },
  }

  try {
    await guard(
      client.connect(transport, { timeout: limits.connectTimeoutMs }),
      'connecting',
      limits.connectTimeoutMs,
    )
    connected = true
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      try {
        const listed = await listTools()
        log.info({ tools: listed.length }, 'mcp tools changed')
        options.onToolsChanged?.(listed)
      } catch (error) {
        log.warn({ err: error }, 'mcp tools changed, but listing them failed')
      }
    })
    await listTools()
  } catch (error) {
    await connection.close()
    throw error
  }
  return connection
}

function asConnectionError(
  error: unknown,
  target: McpTarget,
  doing: string,
  timeoutMs: number | undefined,
  failure: string | undefined,
): McpConnectionError {
  if (error instanceof McpConnectionError) return error
  const where = target.transport === 'http' ? target.url : `"${target.command}"`
  const refused = egressRefusal(error)
  if (refused) return new McpConnectionError('egress_refused', refused.message)
  if (error instanceof McpError) {
    if (error.code === ErrorCode.RequestTimeout)
      return new McpConnectionError(
        'mcp_timeout',
        `${target.name} did not answer ${doing} within ${(timeoutMs ?? 0) / 1000} s.`,
      )
    if (error.code === ErrorCode.ConnectionClosed)
      return new McpConnectionError(
        'mcp_failed',
        `${target.name} (${where}) stopped while ${doing}: ${failure ?? 'the connection was closed'}.`,
      )
    return new McpConnectionError('mcp_failed', `${target.name} refused ${doing}: ${error.message}`)
  }
  if (error instanceof StreamableHTTPError) {
    const status = error.code
    const hint =
      status === 401 || status === 403
        ? ' — the server refused the credentials: check the headers'
        : status === 404
          ? ' — no MCP endpoint at this URL'
          : ''
    return new McpConnectionError(
      'mcp_failed',
      `${target.name} (${where}) answered HTTP ${status ?? '?'} while ${doing}${hint}.`,
    )
  }
  if (failure)
    return new McpConnectionError(
      'mcp_failed',
      `${target.name} (${where}) failed while ${doing}: ${failure}.`,
    )
  const { reason, timedOut } = networkFailureReason(error)
  return new McpConnectionError(
    timedOut ? 'mcp_timeout' : 'mcp_failed',
    `${target.name} (${where}) failed while ${doing}: ${reason}.`,
  )
}
