import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { type Kysely, sql } from 'kysely'
import { appendAudit, systemEntry } from '../audit/audit.store.ts'
import type { AuthContext } from '../auth/api-key.service.ts'
import { isRole, type Role } from '../auth/role.ts'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, type FieldError, toError } from '../platform/errors.ts'
import { newId, randomToken, sha256Hex } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import { workspaceDisabledError, workspaceRefusal } from '../tenants/tenant.store.ts'
import { hashPassword, passwordProblem, verifyPassword } from './password.ts'
import type { UserRow } from './user.table.ts'

// Users and their sessions (decision 0011): short-lived JWT access tokens (HS256, key derived from the
// master key) sent as `Authorization: Bearer`, and refresh tokens stored hashed and rotated on every
// use. A spent refresh token used again revokes its whole family (it was stolen or replayed).
// "Sign out everywhere" moves the user's `tokens_valid_after`, which every access token is checked
// against, so it takes effect on the next request. No cookies: no CSRF surface.

export interface UserServiceDeps {
  database: Db
  clock: Clock
  log: Logger
  signingKey: Uint8Array
  accessTtlMs?: number
  refreshTtlMs?: number
  /** Failed sign-ins per e-mail before it is locked for `lockMs` (default 5 within 15 min). */
  maxFailures?: number
  lockMs?: number
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
  const lockMs = deps.lockMs ?? 15 * 60_000

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
      password_hash: await hashPassword(input.password),
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

  async function issueSession(user: UserRow, familyId: string, notBefore = 0): Promise<Session> {
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
    await db
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
  async function throttled(email: string): Promise<AppError | undefined> {
    const now = clock.now()
    const row = await db
      .selectFrom('login_failures')
      .select('locked_until')
      .where('email_hash', '=', sha256Hex(email))
      .where('locked_until', '>', now)
      .executeTakeFirst()
    if (!row) return undefined
    const seconds = Math.ceil((Number(row.locked_until) - now) / 1000)
    return new AppError(
      'login_throttled',
      `Too many failed sign-ins for this e-mail. Try again in ${seconds} s.`,
      429,
      {
        retryAfterMs: seconds * 1000,
      },
    )
  }

  /** Counts a failure in one statement (two processes failing at once both count); true when it locks. */
  async function recordFailure(email: string): Promise<boolean> {
    const now = clock.now()
    const lockAt = now + lockMs
    const fresh = sql<boolean>`${now} - login_failures.first_failed_at > ${lockMs}`
    const row = await db
      .insertInto('login_failures')
      .values({
        email_hash: sha256Hex(email),
        tenant_id: '*',
        failures: 1,
        first_failed_at: now,
        locked_until: maxFailures <= 1 ? lockAt : 0,
      })
      .onConflict((oc) =>
        oc.column('email_hash').doUpdateSet({
          failures: sql`CASE WHEN ${fresh} THEN 1 ELSE login_failures.failures + 1 END`,
          first_failed_at: sql`CASE WHEN ${fresh} THEN ${now} ELSE login_failures.first_failed_at END`,
          locked_until: sql`CASE WHEN ${fresh} THEN ${maxFailures <= 1 ? lockAt : 0}
            WHEN login_failures.failures + 1 >= ${maxFailures} THEN ${lockAt}
            ELSE login_failures.locked_until END`,
        }),
      )
      .returning('locked_until')
      .executeTakeFirstOrThrow()
    // Windows that have passed, of any e-mail: the table holds one window's failures at most.
    await db
      .deleteFrom('login_failures')
      .where('first_failed_at', '<', now - lockMs)
      .where('locked_until', '<=', now)
      .execute()
    return Number(row.locked_until) > now
  }

  async function login(emailInput: string, password: string, from: RequestOrigin = {}): Promise<Session> {
    const email = emailInput.trim().toLowerCase()
    const locked = await throttled(email)
    if (locked) throw locked
    const row = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst()
    const ok = await verifyPassword(password, row?.password_hash ?? dummyHash)
    if (!row || !ok || row.disabled_at !== null) {
      const nowLocked = await recordFailure(email)
      log.info({ emailHash: sha256Hex(email).slice(0, 12) }, 'sign-in refused')
      // Attempts on a real account are the ones worth a trail (at most five before the lock).
      if (row)
        await audit(row, from, 'auth.login_failed', 'anonymous', {
          reason: row.disabled_at !== null ? 'disabled' : 'wrong_password',
          locked: nowLocked,
        })
      throw new AppError('invalid_credentials', 'The e-mail or the password is wrong.', 401)
    }
    await db.deleteFrom('login_failures').where('email_hash', '=', sha256Hex(email)).execute()
    // The right password, but a disabled workspace (decision 0020): say so, issue nothing.
    const refused = await workspaceRefusal(db, row.tenant_id)
    if (refused) throw refused
    const session = await issueSession(row, newId())
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
      if (token.used_at !== null || token.revoked_at !== null) {
        // A spent token again: someone else holds this family. End every session of it.
        const [ended] = await trx
          .updateTable('refresh_tokens')
          .set({ revoked_at: now })
          .where('family_id', '=', token.family_id)
          .where('revoked_at', 'is', null)
          .execute()
        // Live sessions ended because a spent token came back: worth a warning and an audit entry.
        if (token.used_at !== null && Number(ended?.numUpdatedRows ?? 0) > 0)
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
      return { user, familyId: token.family_id }
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
    return issueSession(result.user, result.familyId)
  }

  async function logout(refreshToken: string, from: RequestOrigin = {}): Promise<void> {
    const token = await db
      .selectFrom('refresh_tokens')
      .innerJoin('users', 'users.id', 'refresh_tokens.user_id')
      .select(['refresh_tokens.family_id', 'users.id', 'users.tenant_id', 'users.role'])
      .where('refresh_tokens.token_hash', '=', sha256Hex(refreshToken))
      .executeTakeFirst()
    if (!token) return
    await db
      .updateTable('refresh_tokens')
      .set({ revoked_at: clock.now() })
      .where('family_id', '=', token.family_id)
      .where('revoked_at', 'is', null)
      .execute()
    await audit(token, from, 'auth.logout', 'user')
  }

  /** Ends every session of the user at once: refresh tokens revoked, access tokens refused from now. */
  async function logoutEverywhere(userId: string): Promise<void> {
    await writeTransaction(database, (trx) => endAllSessions(trx, userId, clock.now()))
    log.info({ userId }, 'signed out everywhere')
  }

  /** A new password for the signed-in user: every other session ends, this one gets a fresh pair. */
  async function changePassword(userId: string, current: string, next: string): Promise<Session> {
    const row = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst()
    if (!row || row.disabled_at !== null)
      throw new AppError('invalid_credentials', 'The session has ended: sign in again.', 401)
    const locked = await throttled(row.email)
    if (locked) throw locked
    if (!(await verifyPassword(current, row.password_hash))) {
      await recordFailure(row.email)
      throw new AppError('invalid_credentials', 'The current password is wrong.', 401)
    }
    const problem = await passwordProblem(next, row.email)
    if (problem)
      throw new AppError('validation_failed', `newPassword ${problem.message}`, 400, {
        errors: [{ field: 'newPassword', message: problem.message, code: problem.code }],
      })
    const hash = await hashPassword(next)
    await writeTransaction(database, async (trx) => {
      await endAllSessions(trx, userId, clock.now())
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute()
    })
    log.info({ userId }, 'password changed; other sessions ended')
    // Issued in the next whole second, so tokens_valid_after (rounded up) lets it through.
    const fresh = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow()
    return issueSession(fresh, newId(), Number(fresh.tokens_valid_after))
  }

  /** The caller behind an access token, or undefined (bad signature, alg, audience, expiry, revoked). */
  async function authenticateAccessToken(token: string): Promise<AuthContext | undefined> {
    try {
      const { payload } = await jwtVerify(token, deps.signingKey, {
        algorithms: ['HS256'],
        issuer,
        audience,
        currentDate: new Date(clock.now()),
      })
      const user = payload.sub
        ? await db
            .selectFrom('users')
            .select(['id', 'tenant_id', 'role', 'tokens_valid_after', 'disabled_at'])
            .where('id', '=', payload.sub)
            .executeTakeFirst()
        : undefined
      if (!user || user.disabled_at !== null || !isRole(user.role)) return undefined
      if ((payload.iat ?? 0) * 1000 < Number(user.tokens_valid_after)) return undefined
      // The role and workspace come from the database, not the token: a demotion applies at once.
      return { tenantId: user.tenant_id, role: user.role, keyId: `user:${user.id}` }
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

/** Revokes every refresh token of the user and refuses access tokens issued up to now. */
export async function endAllSessions(trx: Kysely<Tables>, userId: string, now: number): Promise<void> {
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
