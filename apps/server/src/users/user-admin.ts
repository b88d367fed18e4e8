import type { Kysely } from 'kysely'
import { appendAuditIn, systemEntry } from '../audit/audit.ts'
import { type AuthContext, personOf } from '../auth/api-key.service.ts'
import { revokeKeysOfUser } from '../auth/api-keys.ts'
import { hasRole, isRole, type Role } from '../auth/role.ts'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { endAllSessions, toUser, type User, type UserService } from './user.service.ts'

// Managing the workspace's users (admins). The rules: nobody grants or touches a role above their
// own (an admin cannot change an owner), and a workspace always keeps one enabled owner, so nobody
// can lock the workspace out of itself. Disabling or deleting a user ends their sessions at once and
// revokes the service keys they created (decision 0017: revoked, not held; enabling them again does
// not bring the keys back). Nobody re-enables or raises themselves, whatever credential they use: a
// session, a personal key, or a service key they created.

export interface UserAdminDeps {
  database: Db
  clock: Clock
  log: Logger
  users: UserService
}

export type UserAdmin = ReturnType<typeof createUserAdmin>

export function createUserAdmin(deps: UserAdminDeps) {
  const { database, clock, log, users } = deps
  const db = database.db

  async function list(
    tenantId: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<{ items: User[]; nextCursor: string | null }> {
    let query = db
      .selectFrom('users')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
    if (page.cursor) query = query.where('id', '<', page.cursor)
    const rows = await query.execute()
    const items = rows.slice(0, page.limit).map(toUser)
    return { items, nextCursor: rows.length > page.limit ? (items[items.length - 1]?.id ?? null) : null }
  }

  async function create(
    caller: AuthContext,
    input: { email: string; password: string; role: Role },
  ): Promise<User> {
    mayGrant(caller, input.role)
    const user = await users.createUser({ ...input, tenantId: caller.tenantId })
    log.info({ userId: user.id, role: user.role, by: caller.keyId }, 'user added')
    return user
  }

  async function update(
    caller: AuthContext,
    id: string,
    change: { role?: Role | undefined; disabled?: boolean | undefined },
  ): Promise<User> {
    const now = clock.now()
    await writeTransaction(database, async (trx) => {
      const row = await userInTenant(trx, caller.tenantId, id)
      mayTouch(caller, row.role)
      if (change.role) mayGrant(caller, change.role)
      if (personOf(caller) === id) mayNotElevateSelf(row, change)
      const losesOwner =
        row.role === 'owner' &&
        row.disabled_at === null &&
        (change.disabled || (change.role ?? 'owner') !== 'owner')
      if (losesOwner) await keepsAnOwner(database, trx, caller.tenantId, id)
      const set: { role?: Role; disabled_at?: number | null; updated_at: number } = { updated_at: now }
      if (change.role) set.role = change.role
      if (change.disabled === true && row.disabled_at === null) set.disabled_at = now
      if (change.disabled === false) set.disabled_at = null
      await trx.updateTable('users').set(set).where('id', '=', id).execute()
      if (change.disabled === true) {
        await endAllSessions(trx, id, now)
        await revokeCreatedKeys(trx, caller, row, 'creator_disabled', now)
      }
    })
    log.info({ userId: id, ...change, by: caller.keyId }, 'user changed')
    return toUser(await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow())
  }

  async function remove(caller: AuthContext, id: string): Promise<void> {
    await writeTransaction(database, async (trx) => {
      const row = await userInTenant(trx, caller.tenantId, id)
      mayTouch(caller, row.role)
      if (row.role === 'owner' && row.disabled_at === null)
        await keepsAnOwner(database, trx, caller.tenantId, id)
      await trx.deleteFrom('refresh_tokens').where('user_id', '=', id).execute()
      await trx.deleteFrom('session_families').where('user_id', '=', id).execute()
      const now = clock.now()
      await revokeKeysOfUser(trx, id, { personal: true, created: false }, now)
      await revokeCreatedKeys(trx, caller, row, 'creator_removed', now)
      await trx.deleteFrom('users').where('id', '=', id).execute()
    })
    log.info({ userId: id, by: caller.keyId }, 'user removed')
  }

  /** Revokes the service keys `user` created, in `trx`, and records which (nothing when none). */
  async function revokeCreatedKeys(
    trx: Kysely<Tables>,
    caller: AuthContext,
    user: { id: string; tenant_id: string },
    reason: 'creator_disabled' | 'creator_removed',
    now: number,
  ): Promise<void> {
    const keys = await revokeKeysOfUser(trx, user.id, { personal: false, created: true }, now)
    if (keys.length === 0) return
    const byUser = caller.keyId.startsWith('user:')
    // Named like the request's own entry (audit.hook.ts): a person, or the key that made the change.
    const entry = systemEntry({
      tenantId: user.tenant_id,
      at: now,
      actorId: byUser ? caller.keyId.slice(5) : caller.keyId,
      actorRole: caller.role,
      action: 'api_keys.creator_revoked',
      targetType: 'users',
      targetId: user.id,
      details: { reason, keys: keys.map((k) => ({ id: k.id, name: k.name, prefix: k.prefix })) },
    })
    await appendAuditIn(trx, database.dialect, [{ ...entry, actor_type: byUser ? 'user' : 'api_key' }])
    log.info({ userId: user.id, keys: keys.length, reason }, 'service keys of their creator revoked')
  }

  return { list, create, update, remove }
}

/**
 * A person may lower themselves but not re-enable or raise themselves: a key they made (or their own
 * session) must not undo what an owner decided about them. Checked inside the transaction, so a key
 * authenticated just before its creator was disabled is refused too.
 */
function mayNotElevateSelf(
  row: { role: string; disabled_at: number | null },
  change: { role?: Role | undefined; disabled?: boolean | undefined },
): void {
  const reEnables = change.disabled === false && row.disabled_at !== null
  const raises =
    change.role !== undefined &&
    isRole(row.role) &&
    change.role !== row.role &&
    hasRole(change.role, row.role)
  if (reEnables || raises)
    throw new AppError(
      'self_elevation',
      `You cannot ${reEnables ? 're-enable' : 'raise the role of'} yourself, also not with a key you created. Ask another admin or an owner.`,
      403,
    )
}

function mayGrant(caller: AuthContext, role: Role): void {
  if (!hasRole(caller.role, role))
    throw new AppError('forbidden', `With the ${caller.role} role you cannot give the ${role} role.`, 403)
}

function mayTouch(caller: AuthContext, targetRole: string): void {
  if (isRole(targetRole) && !hasRole(caller.role, targetRole))
    throw new AppError(
      'forbidden',
      `With the ${caller.role} role you cannot change a user with the ${targetRole} role.`,
      403,
    )
}

async function keepsAnOwner(
  database: Db,
  trx: Kysely<Tables>,
  tenantId: string,
  leavingId: string,
): Promise<void> {
  // Two admins demoting the last two owners at once must not both succeed: on PostgreSQL the
  // workspace's row is locked first (SQLite's write transactions are serial already).
  if (database.dialect === 'postgres')
    await trx
      .selectFrom('tenants')
      .select('tenant_id')
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .execute()
  const other = await trx
    .selectFrom('users')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('role', '=', 'owner')
    .where('disabled_at', 'is', null)
    .where('id', '!=', leavingId)
    .limit(1)
    .executeTakeFirst()
  if (!other)
    throw new AppError(
      'last_owner',
      'This is the workspace’s last enabled owner. Make another user owner first, then try again.',
      409,
    )
}

/** The workspace's user with this id; another workspace's user is as absent as a missing one. */
async function userInTenant(trx: Kysely<Tables>, tenantId: string, id: string) {
  const row = await trx
    .selectFrom('users')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
  if (!row) throw new AppError('user_not_found', `User ${id} does not exist.`, 404)
  return row
}
