// MCP servers as tool sets (decision 0031): the public surface of tools/mcp.

import type { ToolSetSource } from '../tool-registry.ts'
import { createMcpService, type McpService, type McpServiceDeps } from './mcp.service.ts'
import { createMcpToolSetSource } from './mcp.tool-set.ts'

export { mcpRoutes } from './mcp.routes.ts'
export type { McpService } from './mcp.service.ts'

export interface McpServers {
  service: McpService
  /** Register with the tool registry (`registry.addSource`). */
  source: ToolSetSource
  /** Stops every connection and stdio child of this process. */
  close(): Promise<void>
}

export function createMcpServers(deps: McpServiceDeps & { callTimeoutMs?: number }): McpServers {
  const service = createMcpService(deps)
  const source = createMcpToolSetSource({
    service,
    database: deps.database,
    log: deps.log,
    ...(deps.callTimeoutMs !== undefined ? { callTimeoutMs: deps.callTimeoutMs } : {}),
  })
  return { service, source, close: () => service.close() }
}
