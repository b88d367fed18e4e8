import { workspaceNameSchema } from '@openorch/contracts'
import { type AuditEntry, appendAudit, appendAuditIn, systemEntry } from '../audit/audit.ts'
import type { AuthContext } from '../auth/api-key.service.ts'
import { defaultTenantId } from '../auth/api-key.service.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, toError } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import type { TenantRow } from '../tenants/tenants.ts'
import type { User, UserService } from '../users/user.service.ts'
import {
  countUsersOf,
  deleteEmptyWorkspace,
  findWorkspace,
  findWorkspaceForUpdate,
  insertWorkspace,
  installationHasUsers,
  listWorkspaces,
  updateWorkspace,
} from './workspace.store.ts'

// Workspaces of the installation (decision 0020). Installation admins — the owners of the default
// workspace, by key or by session — create workspaces with their first owner, rename, disable and
// enable them; the operator does the same from the CLI. A disabled workspace keeps all its data;
// its keys and sessions are refused (auth hook, sign-in, refresh) and its schedules skipped
// (bot scheduler). The default workspace cannot be disabled: it holds the installation admins, and
// disabling it would leave nobody who could enable anything again.

export interface Workspace {
  id: string
  name: string
  isDefault: boolean
  createdAt: number
  disabledAt: number | null
  users: number
}

/** Who changes a workspace, for the audit trail of the workspace concerned. */
export interface WorkspaceActor {
  type: 'api_key' | 'user' | 'cli'
  id: string
  role?: string | null
  ip?: string | null
  requestId?: string | null
}

export interface WorkspaceServiceDeps {
  database: Db
  clock: Clock
  log: Logger
  users: Pick<UserService, 'createUser'>
}

export type WorkspaceService = ReturnType<typeof createWorkspaceService>

/** An installation admin: an owner (key or user) of the default workspace. */
export function isInstallationAdmin(auth: AuthContext): boolean {
  return auth.tenantId === defaultTenantId && auth.role === 'owner'
}

/** The caller of an API request as the audit trail names it. */
export function actorOf(auth: AuthContext, from: { ip?: string; requestId?: string } = {}): WorkspaceActor {
  const isUser = auth.keyId.startsWith('user:')
  return {
    type: isUser ? 'user' : 'api_key',
    id: isUser ? auth.keyId.slice(5) : auth.keyId,
    role: auth.role,
    ip: from.ip ?? null,
    requestId: from.requestId ?? null,
  }
}

/** The name as stored; the CLI's input meets the same rules as the API's. */
function nameOf(input: string): string {
  const parsed = workspaceNameSchema.safeParse(input)
  if (parsed.success) return parsed.data
  const message = parsed.error.issues[0]?.message ?? 'is not valid'
  throw new AppError('validation_failed', `name ${message}`, 400, { errors: [{ field: 'name', message }] })
}

function notFound(id: string): AppError {
  return new AppError('workspace_not_found', `Workspace ${id} does not exist.`, 404)
}

export function createWorkspaceService(deps: WorkspaceServiceDeps) {
  const { database, clock, log, users } = deps
  const db = database.db

  async function toWorkspaces(rows: TenantRow[]): Promise<Workspace[]> {
    const counts = await countUsersOf(
      db,
      rows.map((row) => row.tenant_id),
    )
    return rows.map((row) => ({
      id: row.tenant_id,
      name: row.name,
      isDefault: row.tenant_id === defaultTenantId,
      createdAt: Number(row.created_at),
      disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
      users: counts.get(row.tenant_id) ?? 0,
    }))
  }

  async function list(page: {
    limit: number
    cursor?: string | undefined
  }): Promise<{ items: Workspace[]; nextCursor: string | null }> {
    const rows = await listWorkspaces(db, { limit: page.limit + 1, after: page.cursor })
    const items = await toWorkspaces(rows.slice(0, page.limit))
    return { items, nextCursor: rows.length > page.limit ? (items[items.length - 1]?.id ?? null) : null }
  }

  async function get(id: string): Promise<Workspace> {
    const row = await findWorkspace(db, id)
    if (!row) throw notFound(id)
    return (await toWorkspaces([row]))[0]!
  }

  function entry(
    tenantId: string,
    actor: WorkspaceActor,
    action: string,
    details: Record<string, unknown>,
  ): AuditEntry {
    const made = systemEntry({
      tenantId,
      at: clock.now(),
      actorId: actor.id,
      actorRole: actor.role ?? null,
      action,
      targetType: 'workspaces',
      targetId: tenantId,
      ip: actor.ip ?? null,
      requestId: actor.requestId ?? null,
      details,
    })
    // As the audit hook names API callers: `api_key` or `user`; `cli` for the operator.
    return { ...made, actor_type: actor.type }
  }

  /**
   * A new workspace and its first owner. The owner is created through the user service (its e-mail
   * and password rules); when it refuses, the workspace row — still empty — is removed again.
   */
  async function create(
    actor: WorkspaceActor,
    input: { name: string; owner: { email: string; password: string } },
  ): Promise<{ workspace: Workspace; owner: User }> {
    const name = nameOf(input.name)
    const row: TenantRow = {
      tenant_id: newId(),
      name,
      created_at: clock.now(),
      disabled_at: null,
      quotas: null,
    }
    await insertWorkspace(db, row)
    let owner: User
    try {
      owner = await users.createUser({
        tenantId: row.tenant_id,
        email: input.owner.email,
        password: input.owner.password,
        role: 'owner',
      })
    } catch (error) {
      await deleteEmptyWorkspace(db, row.tenant_id).catch((undo) =>
        log.error({ err: toError(undo), workspaceId: row.tenant_id }, 'could not remove a refused workspace'),
      )
      throw error
    }
    // The new workspace's own trail starts with who made it; the CLI's change is also the
    // installation's (the default workspace's trail), as an API call is through the audit hook.
    const details = { name, ownerId: owner.id }
    await appendAudit(database, [
      entry(row.tenant_id, actor, 'workspaces.created', details),
      ...(actor.type === 'cli' ? [entry(defaultTenantId, actor, 'workspaces.created', details)] : []),
    ])
    log.info({ workspaceId: row.tenant_id, ownerId: owner.id, by: actor.id }, 'workspace created')
    return { workspace: (await toWorkspaces([row]))[0]!, owner }
  }

  /** Renames, disables or enables a workspace; audited in the workspace's own trail. */
  async function update(
    actor: WorkspaceActor,
    id: string,
    change: { name?: string | undefined; disabled?: boolean | undefined },
  ): Promise<Workspace> {
    if (change.disabled === true && id === defaultTenantId)
      throw new AppError(
        'default_workspace_protected',
        'The default workspace cannot be disabled: its owners are the installation’s admins, and nobody could enable anything again. Disable single users instead.',
        409,
      )
    const now = clock.now()
    const done = await writeTransaction(database, async (trx) => {
      const row = await findWorkspaceForUpdate(trx, database.dialect, id)
      if (!row) throw notFound(id)
      const set: { name?: string; disabled_at?: number | null } = {}
      const actions: Array<[string, Record<string, unknown>]> = []
      if (change.name !== undefined && nameOf(change.name) !== row.name) {
        set.name = nameOf(change.name)
        actions.push(['workspaces.renamed', { from: row.name, to: set.name }])
      }
      if (change.disabled === true && row.disabled_at === null) {
        set.disabled_at = now
        actions.push(['workspaces.disabled', {}])
      }
      if (change.disabled === false && row.disabled_at !== null) {
        set.disabled_at = null
        actions.push(['workspaces.enabled', {}])
      }
      if (actions.length === 0) return []
      await updateWorkspace(trx, id, set)
      const entries = actions.flatMap(([action, details]) => [
        entry(id, actor, action, details),
        ...(actor.type === 'cli' && id !== defaultTenantId
          ? [entry(defaultTenantId, actor, action, { ...details, workspaceId: id })]
          : []),
      ])
      await appendAuditIn(trx, database.dialect, entries)
      return actions.map(([action]) => action)
    })
    if (done.length > 0) log.info({ workspaceId: id, changes: done, by: actor.id }, 'workspace changed')
    return get(id)
  }

  return { list, get, create, update, hasUsers: () => installationHasUsers(db) }
}
