import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { type Kysely, sql } from 'kysely'
import { appendAudit, appendAuditIn, systemEntry } from '../audit/audit.ts'
import type { AuthContext } from '../auth/api-key.service.ts'
import { type RevokedKey, revokeKeysOfUser } from '../auth/api-keys.ts'
import { isRole, type Role } from '../auth/role.ts'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, type FieldError, toError } from '../platform/errors.ts'
import { newId, randomToken, sha256Hex } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import { workspaceDisabledError, workspaceRefusal } from '../tenants/tenants.ts'
import { clientOf } from './client-address.ts'
import {
  defaultHashLimiter,
  type HashLimiter,
  hashPassword,
  passwordProblem,
  verifyPassword,
} from './password.ts'
import type { UserRow } from './user.table.ts'

// Users and their sessions (decision 0011): short-lived JWT access tokens (HS256, key derived from the
// master key) sent as `Authorization: Bearer`, and refresh tokens stored hashed and rotated on every
// use. Each sign-in is a family (a `session_families` row); a spent refresh token used again revokes
// its whole family (it was stolen or replayed). "Sign out everywhere" moves the user's
// `tokens_valid_after`, which every access token is checked against, so it takes effect on the next
// request; an access token is also refused once its family is revoked (a reused refresh token, a
// sign-out: decision 0017). "Sign out everywhere" and a password change revoke
// the user's personal keys too: a key minted with a stolen session must not outlive it (decision
// 0017). No cookies: no CSRF surface.

export interface UserServiceDeps {
  database: Db
  clock: Clock
  log: Logger
  signingKey: Uint8Array
  accessTtlMs?: number
  refreshTtlMs?: number
  /**
   * Failed sign-ins per (e-mail, client address) before that pair is locked for `lockMs` (default 5
   * within 15 min), and per client address whatever the e-mail (default 30).
   */
  maxFailures?: number
  maxAddressFailures?: number
  lockMs?: number
  /** Bounds concurrent scrypt work (default: the process's limiter, shared by every service). */
  hashing?: HashLimiter
}

export interface User {
  id: string
  tenantId: string
  email: string
  role: Role
  createdAt: number
  disabledAt: number | null
}

/** Where a request came from, for the audit trail. */
export interface RequestOrigin {
  ip?: string
  requestId?: string
}

export interface Session {
  accessToken: string
  refreshToken: string
  expiresIn: number
  user: User
}

const issuer = 'openorch'
const audience = 'openorch-api'
const refreshPrefix = 'oor_'
// A hash to verify against when the e-mail is unknown, so timing does not tell which e-mails exist.
const dummyHash = 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA$Zm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm8'

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    email: row.email,
    role: row.role as Role,
    createdAt: Number(row.created_at),
    disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
  }
}

export type UserService = ReturnType<typeof createUserService>

export function createUserService(deps: UserServiceDeps) {
  const { database, clock, log } = deps
  const db = database.db
  const accessTtlMs = deps.accessTtlMs ?? 15 * 60_000
  const refreshTtlMs = deps.refreshTtlMs ?? 30 * 86_400_000
  const maxFailures = deps.maxFailures ?? 5
  const maxAddressFailures = deps.maxAddressFailures ?? 30
  const lockMs = deps.lockMs ?? 15 * 60_000
  const hashing = deps.hashing ?? defaultHashLimiter

  async function createUser(input: {
    tenantId: string
    email: string
    password: string
    role: Role
  }): Promise<User> {
    const email = input.email.trim().toLowerCase()
    const errors: FieldError[] = []
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
      errors.push({ field: 'email', message: 'is not an e-mail address' })
    const problem = await passwordProblem(input.password, email)
    if (problem) errors.push({ field: 'password', message: problem.message, code: problem.code })
    if (!isRole(input.role)) errors.push({ field: 'role', message: 'must be owner, admin, editor or viewer' })
    if (errors.length > 0)
      throw new AppError('validation_failed', errors.map((e) => `${e.field} ${e.message}`).join('; '), 400, {
        errors,
      })
    if (await db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst())
      throw new AppError('user_exists', `A user with the e-mail ${email} exists already.`, 409)
    const now = clock.now()
    const row: UserRow = {
      id: newId(),
      tenant_id: input.tenantId,
      email,
      password_hash: await hashing.run(() => hashPassword(input.password)),
      role: input.role,
      tokens_valid_after: 0,
      disabled_at: null,
      created_at: now,
      updated_at: now,
    }
    await db.insertInto('users').values(row).execute()
    log.info({ userId: row.id, tenantId: row.tenant_id, role: row.role }, 'user created')
    return toUser(row)
  }

  /** A new sign-in: its family row, which every refresh and access token of it is checked against. */
  async function startFamily(user: UserRow, q: Kysely<Tables> = db): Promise<string> {
    const familyId = newId()
    await q
      .insertInto('session_families')
      .values({
        family_id: familyId,
        tenant_id: user.tenant_id,
        user_id: user.id,
        created_at: clock.now(),
        revoked_at: null,
      })
      .execute()
    return familyId
  }

  async function issueSession(
    user: UserRow,
    familyId: string,
    notBefore = 0,
    q: Kysely<Tables> = db,
  ): Promise<Session> {
    const now = Math.max(clock.now(), notBefore)
    const accessToken = await new SignJWT({ tid: user.tenant_id, role: user.role, fam: familyId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((now + accessTtlMs) / 1000))
      .setJti(newId())
      .sign(deps.signingKey)
    const refreshToken = refreshPrefix + randomToken(32)
    await q
      .insertInto('refresh_tokens')
      .values({
        id: newId(),
        tenant_id: user.tenant_id,
        user_id: user.id,
        family_id: familyId,
        token_hash: sha256Hex(refreshToken),
        expires_at: now + refreshTtlMs,
        used_at: null,
        revoked_at: null,
        created_at: now,
      })
      .execute()
    return { accessToken, refreshToken, expiresIn: Math.floor(accessTtlMs / 1000), user: toUser(user) }
  }

  // Failed sign-ins live in the database (migration 0011): every process of a cluster counts the
  // same ones, and a stranger spraying e-mails fills no process's memory (rows leave with their window).
  // They are counted per (e-mail, client address), so a stranger's wrong passwords lock only the
  // stranger's address out of that account, never its owner at home (decision 0017), and per client
  // address, so one address cannot try many accounts. Only hashes are stored.
  const pairKey = (email: string, client: string) => sha256Hex(`${email}\n${client}`)
  const clientKey = (client: string) => sha256Hex(`address\n${client}`)

  async function throttled(email: string, client: string): Promise<AppError | undefined> {
    const now = clock.now()
    const rows = await db
      .selectFrom('login_failures')
      .select(['key_hash', 'locked_until'])
      .where('key_hash', 'in', [pairKey(email, client), clientKey(client)])
      .where('locked_until', '>', now)
      .execute()
    if (rows.length === 0) return undefined
    const until = Math.max(...rows.map((row) => Number(row.locked_until)))
    const seconds = Math.ceil((until - now) / 1000)
    const whose = rows.some((row) => row.key_hash === clientKey(client))
      ? 'from this address'
      : 'for this e-mail from this address'
    return new AppError(
      'login_throttled',
      `Too many failed sign-ins ${whose}. Try again in ${seconds} s.`,
      429,
      { retryAfterMs: seconds * 1000 },
    )
  }

  /** Counts one failure in one statement (two processes failing at once both count); true when it locks. */
  async function countFailure(keyHash: string, max: number, now: number): Promise<boolean> {
    const lockAt = now + lockMs
    const fresh = sql<boolean>`${now} - login_failures.first_failed_at > ${lockMs}`
    const row = await db
      .insertInto('login_failures')
      .values({
        key_hash: keyHash,
        tenant_id: '*',
        failures: 1,
        first_failed_at: now,
        locked_until: max <= 1 ? lockAt : 0,
      })
      .onConflict((oc) =>
        oc.column('key_hash').doUpdateSet({
          failures: sql`CASE WHEN ${fresh} THEN 1 ELSE login_failures.failures + 1 END`,
          first_failed_at: sql`CASE WHEN ${fresh} THEN ${now} ELSE login_failures.first_failed_at END`,
          locked_until: sql`CASE WHEN ${fresh} THEN ${max <= 1 ? lockAt : 0}
            WHEN login_failures.failures + 1 >= ${max} THEN ${lockAt}
            ELSE login_failures.locked_until END`,
        }),
      )
      .returning('locked_until')
      .executeTakeFirstOrThrow()
    return Number(row.locked_until) > now
  }

  /** A failure of this e-mail from this client; true when the pair is locked now. */
  async function recordFailure(email: string, client: string): Promise<boolean> {
    const now = clock.now()
    const locked = await countFailure(pairKey(email, client), maxFailures, now)
    await countFailure(clientKey(client), maxAddressFailures, now)
    // Windows that have passed, of any key: the table holds one window's failures at most.
    await db
      .deleteFrom('login_failures')
      .where('first_failed_at', '<', now - lockMs)
      .where('locked_until', '<=', now)
      .execute()
    return locked
  }

  async function login(emailInput: string, password: string, from: RequestOrigin = {}): Promise<Session> {
    const email = emailInput.trim().toLowerCase()
    const client = clientOf(from.ip)
    const locked = await throttled(email, client)
    if (locked) throw locked
    const row = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst()
    const ok = await hashing.run(() => verifyPassword(password, row?.password_hash ?? dummyHash))
    if (!row || !ok || row.disabled_at !== null) {
      const nowLocked = await recordFailure(email, client)
      log.info({ emailHash: sha256Hex(email).slice(0, 12) }, 'sign-in refused')
      // Attempts on a real account are the ones worth a trail (at most five per address before the lock).
      if (row)
        await audit(row, from, 'auth.login_failed', 'anonymous', {
          reason: row.disabled_at !== null ? 'disabled' : 'wrong_password',
          locked: nowLocked,
        })
      throw new AppError('invalid_credentials', 'The e-mail or the password is wrong.', 401)
    }
    // Only this pair's count ends: an address's count of failures for other e-mails stays, so signing
    // in to one's own account between guesses at others does not reset it.
    await db.deleteFrom('login_failures').where('key_hash', '=', pairKey(email, client)).execute()
    // The right password, but a disabled workspace (decision 0020): say so, issue nothing.
    const refused = await workspaceRefusal(db, row.tenant_id)
    if (refused) throw refused
    const session = await issueSession(row, await startFamily(row))
    await audit(row, from, 'auth.login', 'user')
    return session
  }

  /** Sign-ins, sign-outs and revoked sessions go to the audit trail; a failed write is logged, not fatal. */
  async function audit(
    user: Pick<UserRow, 'id' | 'tenant_id' | 'role'>,
    from: RequestOrigin,
    action: string,
    actorType: 'user' | 'anonymous' | 'system',
    details?: Record<string, unknown>,
  ): Promise<void> {
    const entry = systemEntry({
      tenantId: user.tenant_id,
      at: clock.now(),
      actorType,
      actorId: actorType === 'user' ? user.id : actorType === 'system' ? 'sessions' : null,
      actorRole: actorType === 'user' ? user.role : null,
      action,
      targetType: 'users',
      targetId: user.id,
      ip: from.ip ?? null,
      requestId: from.requestId ?? null,
      details: details ?? null,
    })
    try {
      await appendAudit(database, [entry])
    } catch (error) {
      log.error({ err: toError(error), action }, 'audit entry not written')
    }
  }

  async function refresh(refreshToken: string, from: RequestOrigin = {}): Promise<Session> {
    const now = clock.now()
    const hash = sha256Hex(refreshToken)
    const result = await writeTransaction(database, async (trx) => {
      const token = await trx
        .selectFrom('refresh_tokens')
        .selectAll()
        .where('token_hash', '=', hash)
        .executeTakeFirst()
      if (!token) return { error: 'unknown' as const }
      // The family's row is the lock: a refresh and a reuse detection of one family take turns, so
      // no pair is issued into a family while it is being revoked (SQLite's writes are serial anyway).
      let familyQuery = trx
        .selectFrom('session_families')
        .select('revoked_at')
        .where('family_id', '=', token.family_id)
      if (database.dialect === 'postgres') familyQuery = familyQuery.forUpdate()
      const family = await familyQuery.executeTakeFirst()
      if (token.used_at !== null || token.revoked_at !== null || !family || family.revoked_at !== null) {
        // A spent token again: someone else holds this family. End every session of it.
        const ended = await revokeFamily(trx, token.family_id, now)
        // Live sessions ended because a spent token came back: worth a warning and an audit entry.
        if (token.used_at !== null && ended)
          return { error: 'reused' as const, userId: token.user_id, tenantId: token.tenant_id }
        return { error: 'ended' as const }
      }
      if (Number(token.expires_at) <= now) return { error: 'expired' as const }
      const user = await trx
        .selectFrom('users')
        .selectAll()
        .where('id', '=', token.user_id)
        .executeTakeFirst()
      if (!user || user.disabled_at !== null) return { error: 'unknown' as const }
      if (await workspaceRefusal(trx, user.tenant_id)) return { error: 'workspace_disabled' as const }
      await trx.updateTable('refresh_tokens').set({ used_at: now }).where('id', '=', token.id).execute()
      return { session: await issueSession(user, token.family_id, 0, trx) }
    })
    if ('error' in result) {
      if (result.error === 'reused') {
        log.warn({ userId: result.userId }, 'a spent refresh token was used again; its sessions were revoked')
        await audit(
          { id: result.userId, tenant_id: result.tenantId, role: '' },
          from,
          'auth.session_revoked',
          'system',
          {
            reason: 'a spent refresh token was used again (stolen or replayed)',
          },
        )
      }
      if (result.error === 'workspace_disabled') throw workspaceDisabledError()
      throw new AppError('invalid_refresh_token', 'The session has ended: sign in again.', 401)
    }
    return result.session
  }

  /** Ends a family: its row (access tokens are refused from now) and its refresh tokens. True when it was live. */
  async function revokeFamily(q: Kysely<Tables>, familyId: string, now: number): Promise<boolean> {
    const [ended] = await q
      .updateTable('session_families')
      .set({ revoked_at: now })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute()
    await q
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute()
    return Number(ended?.numUpdatedRows ?? 0) > 0
  }

  async function logout(refreshToken: string, from: RequestOrigin = {}): Promise<void> {
    const token = await db
      .selectFrom('refresh_tokens')
      .innerJoin('users', 'users.id', 'refresh_tokens.user_id')
      .select(['refresh_tokens.family_id', 'users.id', 'users.tenant_id', 'users.role'])
      .where('refresh_tokens.token_hash', '=', sha256Hex(refreshToken))
      .executeTakeFirst()
    if (!token) return
    await writeTransaction(database, (trx) => revokeFamily(trx, token.family_id, clock.now()))
    await audit(token, from, 'auth.logout', 'user')
  }

  /**
   * Revokes the user's personal keys in `trx` and records which in the audit trail (nothing when
   * there were none): keys minted with a stolen session end with the sessions.
   */
  async function revokePersonalKeys(
    trx: Kysely<Tables>,
    user: Pick<UserRow, 'id' | 'tenant_id' | 'role'>,
    reason: 'password_changed' | 'signed_out_everywhere',
    from: RequestOrigin,
    now: number,
  ): Promise<RevokedKey[]> {
    const keys = await revokeKeysOfUser(trx, user.id, { personal: true, created: false }, now)
    if (keys.length > 0)
      await appendAuditIn(trx, database.dialect, [
        systemEntry({
          tenantId: user.tenant_id,
          at: now,
          actorType: 'user',
          actorId: user.id,
          actorRole: user.role,
          action: 'auth.personal_keys_revoked',
          targetType: 'users',
          targetId: user.id,
          ip: from.ip ?? null,
          requestId: from.requestId ?? null,
          details: { reason, keys: keys.map((k) => ({ id: k.id, name: k.name, prefix: k.prefix })) },
        }),
      ])
    return keys
  }

  /**
   * Ends every session of the user at once: refresh tokens revoked, access tokens refused from now,
   * personal keys revoked (audited).
   */
  async function logoutEverywhere(userId: string, from: RequestOrigin = {}): Promise<void> {
    const now = clock.now()
    const revoked = await writeTransaction(database, async (trx) => {
      const user = await trx
        .selectFrom('users')
        .select(['id', 'tenant_id', 'role'])
        .where('id', '=', userId)
        .executeTakeFirst()
      if (!user) throw new AppError('user_not_found', 'The user does not exist.', 404)
      await endAllSessions(trx, userId, now)
      return revokePersonalKeys(trx, user, 'signed_out_everywhere', from, now)
    })
    log.info({ userId, revokedKeys: revoked.length }, 'signed out everywhere')
  }

  /**
   * A new password for the signed-in user: every other session ends and the user's personal keys are
   * revoked (audited); this session gets a fresh pair.
   */
  async function changePassword(
    userId: string,
    current: string,
    next: string,
    from: RequestOrigin = {},
  ): Promise<Session> {
    const row = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst()
    if (!row || row.disabled_at !== null)
      throw new AppError('invalid_credentials', 'The session has ended: sign in again.', 401)
    const client = clientOf(from.ip)
    const locked = await throttled(row.email, client)
    if (locked) throw locked
    if (!(await hashing.run(() => verifyPassword(current, row.password_hash)))) {
      await recordFailure(row.email, client)
      throw new AppError('invalid_credentials', 'The current password is wrong.', 401)
    }
    const problem = await passwordProblem(next, row.email)
    if (problem)
      throw new AppError('validation_failed', `newPassword ${problem.message}`, 400, {
        errors: [{ field: 'newPassword', message: problem.message, code: problem.code }],
      })
    const hash = await hashing.run(() => hashPassword(next))
    const now = clock.now()
    const revoked = await writeTransaction(database, async (trx) => {
      await endAllSessions(trx, userId, now)
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute()
      return revokePersonalKeys(trx, row, 'password_changed', from, now)
    })
    log.info({ userId, revokedKeys: revoked.length }, 'password changed; other sessions ended')
    // Issued in the next whole second, so tokens_valid_after (rounded up) lets it through.
    const fresh = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow()
    return issueSession(fresh, await startFamily(fresh), Number(fresh.tokens_valid_after))
  }

  /**
   * The caller behind an access token, or undefined (bad signature, alg, audience, expiry, the user
   * signed out everywhere, or its family was revoked: a reused refresh token or a sign-out).
   */
  async function authenticateAccessToken(token: string): Promise<AuthContext | undefined> {
    try {
      const { payload } = await jwtVerify(token, deps.signingKey, {
        algorithms: ['HS256'],
        issuer,
        audience,
        currentDate: new Date(clock.now()),
      })
      const family = payload.fam
      if (!payload.sub || typeof family !== 'string') return undefined
      // One read: the user, and whether the token's sign-in is still live (two primary-key probes).
      const user = await db
        .selectFrom('users')
        .select(['id', 'tenant_id', 'role', 'tokens_valid_after', 'disabled_at'])
        .select((eb) =>
          eb
            .exists(
              eb
                .selectFrom('session_families')
                .select('session_families.family_id')
                .where('session_families.family_id', '=', family)
                .where('session_families.revoked_at', 'is', null),
            )
            .as('family_live'),
        )
        .where('id', '=', payload.sub)
        .executeTakeFirst()
      if (!user || user.disabled_at !== null || !isRole(user.role)) return undefined
      if ((payload.iat ?? 0) * 1000 < Number(user.tokens_valid_after)) return undefined
      // SQLite answers 0/1, PostgreSQL a boolean.
      if (user.family_live !== true && Number(user.family_live) !== 1) return undefined
      // The role and workspace come from the database, not the token: a demotion applies at once.
      return { tenantId: user.tenant_id, role: user.role, keyId: `user:${user.id}`, userId: user.id }
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return undefined
      throw error
    }
  }

  async function me(userId: string): Promise<User> {
    const row = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst()
    if (!row) throw new AppError('user_not_found', 'The user does not exist.', 404)
    return toUser(row)
  }

  return {
    createUser,
    login,
    refresh,
    logout,
    logoutEverywhere,
    changePassword,
    authenticateAccessToken,
    me,
  }
}

/** Revokes every session family and refresh token of the user and refuses access tokens issued up to now. */
export async function endAllSessions(trx: Kysely<Tables>, userId: string, now: number): Promise<void> {
  await trx
    .updateTable('session_families')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute()
  await trx
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute()
  // Whole seconds, as in the tokens' iat: a token issued in this second is refused too.
  await trx
    .updateTable('users')
    .set({ tokens_valid_after: Math.ceil((now + 1) / 1000) * 1000, updated_at: now })
    .where('id', '=', userId)
    .execute()
}
