import dns from 'node:dns/promises'
import { isIP } from 'node:net'
import type { McpServer, McpServerCreate, McpServerUpdate } from '@openorch/contracts'
import { defaultTenantId } from '../../auth/api-key.service.ts'
import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import type { Vault } from '../../platform/crypto.ts'
import type { EgressPolicy } from '../../platform/egress/egress.ts'
import { AppError, notFound } from '../../platform/errors.ts'
import type { Role } from '../../platform/http/caller.ts'
import { newId } from '../../platform/ids.ts'
import type { Logger } from '../../platform/logger.ts'
import { secretScrubber } from '../../platform/secret-scrubber.ts'
import type { McpLimits, McpToolInfo } from './mcp-connection.ts'
import { createMcpPool, type ResolvedServer } from './mcp-pool.ts'
import {
  deleteMcpServer,
  findMcpServer,
  findMcpServerByName,
  insertMcpServer,
  listMcpServers,
  type McpServerRow,
  recordMcpServerCheck,
  updateMcpServer,
} from './mcp-server.store.ts'

// The MCP servers of a workspace (decision 0031): registered by admins (stdio ones by owners, and only
// with OPENORCH_MCP_STDIO=true), header and environment values encrypted by the vault and never
// returned, an http URL checked against the tools' egress rules when saved. Nothing is started or
// called while a server is not enabled.

export interface McpServiceDeps {
  database: Db
  vault: Vault
  clock: Pick<Clock, 'now'>
  /** The tools' egress policy (OPENORCH_EGRESS_ALLOW only). */
  egress: EgressPolicy
  log: Logger
  /** OPENORCH_MCP_STDIO: whether programs on this machine may be registered and started. */
  stdio: boolean
  limits?: Partial<McpLimits>
}

export type McpService = ReturnType<typeof createMcpService>

const stdioDisabled = () =>
  new AppError(
    'mcp_stdio_disabled',
    'stdio MCP servers run programs on the orchestrator’s machine, so they are off on this installation. An operator can allow them by setting OPENORCH_MCP_STDIO=true (then only owners may register them).',
    403,
  )

export function createMcpService(deps: McpServiceDeps) {
  const db = deps.database.db
  const log = deps.log.child({ component: 'mcp' })
  const pool = createMcpPool({
    egress: deps.egress,
    log,
    ...(deps.limits ? { limits: deps.limits } : {}),
    events: {
      onTools: (server, tools) => track(record(server, { status: 'connected', error: null, tools })),
      onFailure: (server, reason) => track(record(server, { status: 'error', error: reason })),
    },
  })

  // The pool reports from its own callbacks; a check waits for those writes before it reads the row
  // again (GET /mcp-servers/{id} read the old status under load: a flaky CI run on PostgreSQL).
  const recording = new Set<Promise<void>>()
  function track(write: Promise<void>): void {
    const settled = write.catch(() => {}).finally(() => recording.delete(settled))
    recording.add(settled)
  }

  /** What a connection found, kept for the dashboard and for listing tools without connecting. */
  async function record(
    server: Pick<ResolvedServer, 'tenantId' | 'id' | 'version'>,
    found: { status: 'connected' | 'error'; error: string | null; tools?: McpToolInfo[] },
  ): Promise<void> {
    try {
      await recordMcpServerCheck(db, server.tenantId, server.id, server.version, {
        status: found.status,
        last_error:
          found.error === null ? null : secretScrubber.forTenant(server.tenantId)(found.error.slice(0, 2000)),
        ...(found.tools ? { tools: JSON.stringify(found.tools), tools_checked_at: deps.clock.now() } : {}),
      })
    } catch (error) {
      log.warn({ err: error, mcpServerId: server.id }, 'mcp server status not recorded')
    }
  }

  function secretsOf(row: McpServerRow, kind: 'headers' | 'env'): Record<string, string> {
    const stored = kind === 'headers' ? row.headers_encrypted : row.env_encrypted
    if (stored === null) return {}
    const values = JSON.parse(deps.vault.decrypt(stored)) as Record<string, string>
    registerSecrets(row.tenant_id, row.id, kind, values)
    return values
  }

  /** The row's settings with its secrets, as a connection needs them. */
  function resolve(row: McpServerRow): ResolvedServer {
    const base = { tenantId: row.tenant_id, id: row.id, name: row.name, version: Number(row.updated_at) }
    if (row.transport === 'http')
      return {
        ...base,
        target: { transport: 'http', name: row.name, url: row.url!, headers: secretsOf(row, 'headers') },
      }
    return {
      ...base,
      target: {
        transport: 'stdio',
        name: row.name,
        command: row.command!,
        args: JSON.parse(row.args) as string[],
        env: secretsOf(row, 'env'),
      },
    }
  }

  /** Why the row cannot be connected to on this installation (stdio off), or undefined. */
  const unusable = (row: McpServerRow) =>
    row.transport === 'stdio' && !deps.stdio
      ? 'stdio MCP servers are off on this installation (OPENORCH_MCP_STDIO is not true)'
      : undefined

  /** Connects (or uses the live connection) and records status and tools; never throws. */
  async function check(row: McpServerRow): Promise<void> {
    const refusal = unusable(row)
    let server: ResolvedServer | undefined
    try {
      server = resolve(row)
      if (refusal) throw new Error(refusal)
      if (row.transport === 'http') {
        const live = pool.liveShared(server)
        if (live) await live
        else await pool.sharedConnection(server)
      } else await pool.withTemporary(server, async () => {})
    } catch (error) {
      // The pool recorded connection failures itself; a refusal or a secret that cannot be read it did not see.
      if (!server || refusal)
        await record(
          { tenantId: row.tenant_id, id: row.id, version: Number(row.updated_at) },
          { status: 'error', error: (error as Error).message },
        )
    }
  }

  async function mustFind(tenantId: string, id: string): Promise<McpServerRow> {
    const row = await findMcpServer(db, tenantId, id)
    if (!row) throw notFound('mcp_server_not_found', `There is no MCP server ${id} in this workspace.`)
    return row
  }

  async function checkUrl(url: string): Promise<void> {
    const parsed = new URL(url)
    const host = parsed.hostname.replace(/^\[|\]$/g, '')
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80
    let addresses: string[]
    if (isIP(host)) addresses = [host]
    else {
      try {
        addresses = (await dns.lookup(host, { all: true })).map((entry) => entry.address)
      } catch {
        // A name that does not resolve now is checked again at every connection.
        return
      }
    }
    for (const address of addresses) {
      const refused = deps.egress.refusal(host, address, port)
      if (refused) throw new AppError('egress_refused', refused.message, 400)
    }
  }

  function checkStdioAllowed(tenantId: string, role: Role): void {
    if (!deps.stdio) throw stdioDisabled()
    // A program on the orchestrator's machine can read what the orchestrator can (its environment, the
    // master key, every workspace's data): that is the installation's admins' call, not a workspace's.
    if (role !== 'owner' || tenantId !== defaultTenantId)
      throw new AppError(
        'forbidden',
        `stdio MCP servers run programs on the orchestrator’s machine: only the installation’s admins (owners of the default workspace) may register or change them; this key is ${role === 'owner' ? 'an owner of another workspace' : `a ${role}`}.`,
        403,
      )
  }

  async function nameFree(tenantId: string, name: string, exceptId?: string): Promise<void> {
    const other = await findMcpServerByName(db, tenantId, name)
    if (other && other.id !== exceptId)
      throw new AppError(
        'mcp_server_exists',
        `An MCP server named "${name}" exists already; choose another name.`,
        409,
        {
          errors: [{ field: 'name', message: 'taken' }],
        },
      )
  }

  /** The settings' transport-specific fields are present and the others absent. */
  function checkShape(settings: Settings): void {
    const errors: Array<{ field: string; message: string }> = []
    if (settings.transport === 'http') {
      if (!settings.url) errors.push({ field: 'url', message: 'required for the http transport' })
      if (settings.command !== null)
        errors.push({ field: 'command', message: 'only for the stdio transport' })
      if (settings.args.length > 0) errors.push({ field: 'args', message: 'only for the stdio transport' })
      if (Object.keys(settings.env).length > 0)
        errors.push({ field: 'env', message: 'only for the stdio transport' })
    } else {
      if (!settings.command) errors.push({ field: 'command', message: 'required for the stdio transport' })
      if (settings.url !== null) errors.push({ field: 'url', message: 'only for the http transport' })
      if (Object.keys(settings.headers).length > 0)
        errors.push({ field: 'headers', message: 'only for the http transport' })
    }
    if (errors.length > 0)
      throw new AppError(
        'validation_failed',
        `The ${settings.transport} transport ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}.`,
        400,
        { errors },
      )
  }

  const encrypt = (values: Record<string, string>) =>
    Object.keys(values).length === 0 ? null : deps.vault.encrypt(JSON.stringify(values))

  return {
    pool,
    resolve,
    unusable,
    record,

    async list(tenantId: string): Promise<McpServer[]> {
      return (await listMcpServers(db, tenantId)).map(viewOf)
    },

    /** The server; an enabled one is connected to (or its live connection asked) first. */
    async get(tenantId: string, id: string): Promise<McpServer> {
      const row = await mustFind(tenantId, id)
      if (row.enabled !== 1) return viewOf(row)
      await check(row)
      await Promise.all([...recording])
      return viewOf(await mustFind(tenantId, id))
    },

    async create(tenantId: string, role: Role, body: McpServerCreate): Promise<McpServer> {
      const settings: Settings = {
        name: body.name,
        transport: body.transport,
        url: body.url ?? null,
        headers: body.headers ?? {},
        command: body.command ?? null,
        args: body.args ?? [],
        env: body.env ?? {},
        enabled: body.enabled ?? false,
        requireApproval: body.requireApproval ?? [],
      }
      if (settings.transport === 'stdio') checkStdioAllowed(tenantId, role)
      checkShape(settings)
      if (settings.url) await checkUrl(settings.url)
      await nameFree(tenantId, settings.name)
      const now = deps.clock.now()
      const id = newId()
      try {
        await insertMcpServer(db, {
          tenant_id: tenantId,
          id,
          ...columnsOf(settings, encrypt),
          status: 'unknown',
          last_error: null,
          tools: '[]',
          tools_checked_at: null,
          created_at: now,
          updated_at: now,
        })
      } catch (error) {
        // Two creates racing for one name: the unique index decides.
        await nameFree(tenantId, settings.name)
        throw error
      }
      registerSecrets(tenantId, id, 'headers', settings.headers)
      registerSecrets(tenantId, id, 'env', settings.env)
      log.info(
        { tenantId, mcpServerId: id, transport: settings.transport, enabled: settings.enabled },
        'mcp server registered',
      )
      return viewOf(await mustFind(tenantId, id))
    },

    async update(tenantId: string, role: Role, id: string, body: McpServerUpdate): Promise<McpServer> {
      const row = await mustFind(tenantId, id)
      const transport = body.transport ?? row.transport
      if (row.transport === 'stdio' || transport === 'stdio') checkStdioAllowed(tenantId, role)
      const switched = transport !== row.transport
      const stored = {
        headers: switched || body.headers ? {} : safeSecrets(row, 'headers'),
        env: switched || body.env ? {} : safeSecrets(row, 'env'),
      }
      const settings: Settings = {
        name: body.name ?? row.name,
        transport,
        url: body.url !== undefined ? body.url : switched ? null : row.url,
        headers: body.headers ?? stored.headers,
        command: body.command !== undefined ? body.command : switched ? null : row.command,
        args: body.args ?? (switched ? [] : (JSON.parse(row.args) as string[])),
        env: body.env ?? stored.env,
        enabled: body.enabled ?? row.enabled === 1,
        requireApproval: body.requireApproval ?? (JSON.parse(row.require_approval) as string[] | '*'),
      }
      checkShape(settings)
      if (settings.url && settings.url !== row.url) await checkUrl(settings.url)
      if (settings.name !== row.name) await nameFree(tenantId, settings.name, id)
      const connectionChanged =
        switched ||
        settings.url !== row.url ||
        settings.command !== row.command ||
        JSON.stringify(settings.args) !== row.args ||
        body.headers !== undefined ||
        body.env !== undefined
      // A new version even within the same millisecond: connections and late status writes go by it.
      const now = Math.max(deps.clock.now(), Number(row.updated_at) + 1)
      try {
        await updateMcpServer(db, tenantId, id, {
          ...columnsOf(settings, encrypt),
          ...(connectionChanged || !settings.enabled ? { status: 'unknown', last_error: null } : {}),
          ...(connectionChanged ? { tools: '[]', tools_checked_at: null } : {}),
          updated_at: now,
        })
      } catch (error) {
        await nameFree(tenantId, settings.name, id)
        throw error
      }
      await pool.drop({ tenantId, id })
      if (body.headers !== undefined || switched) replaceSecrets(tenantId, id, 'headers', settings.headers)
      if (body.env !== undefined || switched) replaceSecrets(tenantId, id, 'env', settings.env)
      log.info({ tenantId, mcpServerId: id, enabled: settings.enabled }, 'mcp server changed')
      return viewOf(await mustFind(tenantId, id))
    },

    async remove(tenantId: string, id: string): Promise<void> {
      const row = await mustFind(tenantId, id)
      await deleteMcpServer(db, tenantId, id)
      await pool.drop({ tenantId, id })
      replaceSecrets(tenantId, id, 'headers', {}, safeNames(row.header_names))
      replaceSecrets(tenantId, id, 'env', {}, safeNames(row.env_names))
      log.info({ tenantId, mcpServerId: id }, 'mcp server removed')
    },

    /** Stops every connection and child of this process (shutdown). */
    close: () => pool.close(),
  }

  function safeSecrets(row: McpServerRow, kind: 'headers' | 'env'): Record<string, string> {
    try {
      return secretsOf(row, kind)
    } catch (error) {
      throw new AppError(
        'mcp_secrets_unreadable',
        `The stored ${kind} of this MCP server cannot be decrypted with this installation's master key (${(error as Error).message}); give them again.`,
        409,
      )
    }
  }
}

interface Settings {
  name: string
  transport: 'http' | 'stdio'
  url: string | null
  headers: Record<string, string>
  command: string | null
  args: string[]
  env: Record<string, string>
  enabled: boolean
  requireApproval: string[] | '*'
}

function columnsOf(settings: Settings, encrypt: (values: Record<string, string>) => string | null) {
  return {
    name: settings.name,
    transport: settings.transport,
    url: settings.url,
    header_names: JSON.stringify(Object.keys(settings.headers)),
    headers_encrypted: encrypt(settings.headers),
    command: settings.command,
    args: JSON.stringify(settings.args),
    env_names: JSON.stringify(Object.keys(settings.env)),
    env_encrypted: encrypt(settings.env),
    enabled: settings.enabled ? 1 : 0,
    require_approval: JSON.stringify(settings.requireApproval),
  }
}

const slotOf = (id: string, kind: string, name: string) => `mcp:${id}:${kind}:${name}`
// Names ever registered per server and kind, so a replacement empties the slots it no longer fills.
const registered = new Map<string, Set<string>>()

function registerSecrets(
  tenantId: string,
  id: string,
  kind: 'headers' | 'env',
  values: Record<string, string>,
): void {
  const names = registered.get(`${tenantId}:${id}:${kind}`) ?? new Set()
  for (const [name, value] of Object.entries(values)) {
    secretScrubber.set(tenantId, slotOf(id, kind, name), value)
    names.add(name)
  }
  registered.set(`${tenantId}:${id}:${kind}`, names)
}

function replaceSecrets(
  tenantId: string,
  id: string,
  kind: 'headers' | 'env',
  values: Record<string, string>,
  alsoClear: string[] = [],
): void {
  const names = new Set([...(registered.get(`${tenantId}:${id}:${kind}`) ?? []), ...alsoClear])
  for (const name of names) if (!(name in values)) secretScrubber.set(tenantId, slotOf(id, kind, name), null)
  registered.delete(`${tenantId}:${id}:${kind}`)
  registerSecrets(tenantId, id, kind, values)
}

function safeNames(json: string): string[] {
  try {
    return JSON.parse(json) as string[]
  } catch {
    return []
  }
}

const iso = (ms: number | string) => new Date(Number(ms)).toISOString()

/** The JSON of a server: names of headers and variables, never their values. */
export function viewOf(row: McpServerRow): McpServer {
  const enabled = row.enabled === 1 || (row.enabled as unknown) === true
  return {
    id: row.id,
    name: row.name,
    toolSet: `mcp:${row.name}`,
    transport: row.transport,
    url: row.url,
    headerNames: safeNames(row.header_names),
    command: row.command,
    args: safeNames(row.args),
    envNames: safeNames(row.env_names),
    enabled,
    requireApproval: JSON.parse(row.require_approval) as string[] | '*',
    status: enabled ? (row.status === 'disabled' ? 'unknown' : row.status) : 'disabled',
    lastError: enabled ? row.last_error : null,
    tools: JSON.parse(row.tools) as McpServer['tools'],
    toolsCheckedAt: row.tools_checked_at === null ? null : iso(row.tools_checked_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  }
}
