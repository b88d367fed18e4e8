import type { EgressPolicy } from '../../platform/egress/egress.ts'
import type { Logger } from '../../platform/logger.ts'
import {
  type McpConnection,
  type McpLimits,
  type McpTarget,
  type McpToolInfo,
  openMcpConnection,
} from './mcp-connection.ts'

// The connections of this process. An HTTP server has one live connection, shared by every run and
// kept open (it hears list_changed), replaced when the server's settings change. A stdio server is a
// program: a run gets its own child, started at its first call and stopped when the run's attempt
// ends; outside a run (listing, a status check) a child lives only for that.

/** A server as a connection needs it: the row's settings with its secrets decrypted. */
export interface ResolvedServer {
  tenantId: string
  id: string
  name: string
  /** The row's updated_at: a connection belongs to one version of the settings. */
  version: number
  target: McpTarget
}

export interface PoolEvents {
  /** A connection listed the server's tools (opened, or list_changed). */
  onTools(server: ResolvedServer, tools: McpToolInfo[]): void
  /** Connecting failed, or a live connection was lost. */
  onFailure(server: ResolvedServer, reason: string): void
}

export type McpPool = ReturnType<typeof createMcpPool>

export function createMcpPool(deps: {
  egress: EgressPolicy
  log: Logger
  limits?: Partial<McpLimits>
  events: PoolEvents
}) {
  const shared = new Map<string, { version: number; connection: Promise<McpConnection> }>()
  const perRun = new Map<string, Promise<McpConnection>>()
  let closed = false

  const open = (server: ResolvedServer, onLost?: () => void) =>
    openMcpConnection(server.target, {
      egress: deps.egress,
      log: deps.log,
      ...(deps.limits ? { limits: deps.limits } : {}),
      onToolsChanged: (tools) => deps.events.onTools(server, tools),
      onLost: (reason) => {
        onLost?.()
        deps.events.onFailure(server, reason)
      },
    }).then(
      (connection) => {
        deps.events.onTools(server, connection.tools)
        return connection
      },
      (error: Error) => {
        deps.events.onFailure(server, error.message)
        throw error
      },
    )

  const keyOf = (server: Pick<ResolvedServer, 'tenantId' | 'id'>) => `${server.tenantId}:${server.id}`

  function liveShared(server: ResolvedServer): Promise<McpConnection> | undefined {
    const entry = shared.get(keyOf(server))
    return entry && entry.version === server.version ? entry.connection : undefined
  }

  /** The server's shared connection (HTTP), opened if there is none for this version. */
  function sharedConnection(server: ResolvedServer): Promise<McpConnection> {
    if (closed) return Promise.reject(new Error('the orchestrator is shutting down'))
    const key = keyOf(server)
    const existing = shared.get(key)
    if (existing && existing.version === server.version) return existing.connection
    if (existing) void drop(server)
    const connection = open(server, () => {
      if (shared.get(key)?.connection === connection) shared.delete(key)
    })
    // A failed attempt is not kept: the next use tries again.
    connection.catch(() => {
      if (shared.get(key)?.connection === connection) shared.delete(key)
    })
    shared.set(key, { version: server.version, connection })
    return connection
  }

  /** A stdio child for one run (started again if it died), stopped when the run's attempt ends (`atEnd`). */
  async function runConnection(
    server: ResolvedServer,
    runId: string,
    atEnd: (cleanup: () => Promise<void>) => void,
  ): Promise<McpConnection> {
    if (closed) throw new Error('the orchestrator is shutting down')
    const key = `${runId}:${server.id}:${server.version}`
    const existing = perRun.get(key)
    if (existing) {
      const connection = await existing.catch(() => undefined)
      if (connection && !connection.closed) return connection
    }
    const forget = () => {
      if (perRun.get(key) === connection) perRun.delete(key)
    }
    const connection = open(server, forget)
    perRun.set(key, connection)
    atEnd(async () => {
      forget()
      await closeQuietly(connection)
    })
    connection.catch(forget)
    return connection
  }

  /** A connection for one piece of work: `use` runs, then it is closed. */
  async function withTemporary<T>(
    server: ResolvedServer,
    use: (connection: McpConnection) => Promise<T>,
  ): Promise<T> {
    if (closed) throw new Error('the orchestrator is shutting down')
    const connection = await open(server)
    try {
      return await use(connection)
    } finally {
      await connection.close()
    }
  }

  /** Closes the server's shared connection (settings changed, disabled, deleted, or it misbehaved). */
  async function drop(server: Pick<ResolvedServer, 'tenantId' | 'id'>): Promise<void> {
    const key = keyOf(server)
    const entry = shared.get(key)
    if (!entry) return
    shared.delete(key)
    await closeQuietly(entry.connection)
  }

  return {
    liveShared,
    sharedConnection,
    runConnection,
    withTemporary,
    drop,
    /** Every connection and child of this process (shutdown). */
    async close(): Promise<void> {
      closed = true
      const all = [...[...shared.values()].map((entry) => entry.connection), ...perRun.values()]
      shared.clear()
      perRun.clear()
      await Promise.all(all.map(closeQuietly))
    },
  }
}

async function closeQuietly(connection: Promise<McpConnection>): Promise<void> {
  try {
    await (await connection).close()
  } catch {
    // Never opened, or already gone.
  }
}
