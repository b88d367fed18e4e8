import { appendAuditIn, systemEntry } from '../audit/audit.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, toError } from '../platform/errors.ts'
import type { AuthContext } from '../platform/http/caller.ts'
import { newId, randomToken, sha256Hex } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import {
  type ApiKeyRow,
  countApiKeys,
  countLivePersonalKeys,
  findApiKey,
  findApiKeyByHash,
  insertApiKey,
  listApiKeys,
  revokeApiKey,
  touchApiKey,
} from './api-key.store.ts'
import { hasRole, isRole, type Role, roles } from './role.ts'

export type { AuthContext }

/** The workspace a new database starts with; `OPENORCH_API_KEY` becomes its owner key. */
export const defaultTenantId = 'default'
/** Shown in listings so a person can tell keys apart without seeing them. */
export const apiKeyPrefixLength = 10
const keyPrefix = 'oo_'
/** last_used_at is written at most this often per key. */
const touchIntervalMs = 60_000
/** Longer than any key we issue or accept at bootstrap; longer input is refused before hashing. */
const maxKeyLength = 512
/**
 * Personal keys that work at once, per person (issue 11, item 8). Enough for a laptop, a phone and
 * a few scripts; a stolen session cannot mint an unbounded supply (decision 0017).
 */
export const maxPersonalKeysPerUser = 10

/**
 * The person acting behind a credential: the user of a session or personal key, or the creator of a
 * service key. Undefined for keys nobody made through the API (bootstrap, CLI).
 */
export function personOf(auth: AuthContext): string | undefined {
  return auth.userId ?? auth.creatorId ?? undefined
}

export interface ApiKey {
  id: string
  tenantId: string
  name: string
  prefix: string
  role: Role
  createdAt: number
  lastUsedAt: number | null
  expiresAt: number | null
  revokedAt: number | null
  /** The owner of a personal key; null for a service key. */
  userId: string | null
  /** The user who created a service key; null for personal keys and keys made at bootstrap or by the CLI. */
  createdBy: string | null
}

export interface CreatedApiKey {
  /** The plain key: returned once, never stored or logged. */
  key: string
  apiKey: ApiKey
}

export interface CreateApiKeyInput {
  tenantId: string
  name: string
  role: Role
  /** Epoch ms after which the key is refused; null or absent = never. */
  expiresAt?: number | null
  /** A personal key of this user; absent: a service key. */
  userId?: string | null
  /** A service key's creator (ignored for personal keys). */
  createdBy?: string | null
}

export interface ApiKeyServiceDeps {
  database: Db
  clock: Clock
  log: Logger
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    role: row.role as Role,
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    userId: row.user_id ?? null,
    createdBy: row.created_by ?? null,
  }
}

/** `oo_` and 32 random bytes in base64url: 256 bits, so a plain SHA-256 (no salt, no KDF) is enough. */
export function generateApiKey(): string {
  return keyPrefix + randomToken(32)
}

export function createApiKeyService(deps: ApiKeyServiceDeps) {
  const { database, clock, log } = deps

  function rowOf(input: CreateApiKeyInput, key: string): ApiKeyRow {
    const name = input.name.trim()
    if (!name || name.length > 200)
      throw new AppError('invalid_api_key_name', 'An API key needs a name of 1 to 200 characters.', 400)
    if (!isRole(input.role))
      throw new AppError('invalid_role', `Role must be one of ${roles.join(', ')}.`, 400)
    return {
      id: newId(),
      tenant_id: input.tenantId,
      name,
      prefix: key.slice(0, apiKeyPrefixLength),
      key_hash: sha256Hex(key),
      role: input.role,
      created_at: clock.now(),
      last_used_at: null,
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
      user_id: input.userId ?? null,
      created_by: input.userId ? null : (input.createdBy ?? null),
    }
  }

  /** Creates a key and returns it in plain text, this once. */
  async function createApiKey(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    const key = generateApiKey()
    const row = rowOf(input, key)
    await insertApiKey(database.db, row)
    return { key, apiKey: toApiKey(row) }
  }

  /** The caller behind `key`, or undefined when the key is unknown, revoked or expired. */
  async function authenticate(key: string): Promise<AuthContext | undefined> {
    if (!key || key.length > maxKeyLength) return undefined
    const row = await findApiKeyByHash(database.db, sha256Hex(key))
    if (!row || row.revoked_at !== null || !isRole(row.role)) return undefined
    const now = clock.now()
    if (row.expires_at !== null && Number(row.expires_at) <= now) return undefined
    // A personal key lives with its user, a service key with its creator: refused once that person
    // is gone or disabled, and never above their current role (a demotion applies at once). A
    // creator's disabling revokes their service keys as well; this check also covers a key created
    // in the same instant.
    let role: Role = row.role
    const person = row.user_id ?? row.created_by
    if (person !== null) {
      if (row.person_id !== person || row.person_role === null || !isRole(row.person_role)) return undefined
      if (row.person_disabled_at !== null) return undefined
      if (!hasRole(row.person_role, role)) role = row.person_role
    }
    if (row.last_used_at === null || Number(row.last_used_at) <= now - touchIntervalMs) {
      // Bookkeeping only: a failed write must not refuse a valid key.
      await touchApiKey(database.db, row.id, now, touchIntervalMs).catch((error) =>
        log.warn({ err: toError(error), keyId: row.id }, 'could not record API key use'),
      )
    }
    return row.user_id !== null
      ? { tenantId: row.tenant_id, role, keyId: row.id, userId: row.user_id }
      : { tenantId: row.tenant_id, role, keyId: row.id, creatorId: row.created_by }
  }

  /**
   * At start-up: when the default workspace has no key yet, stores `plainKey` (OPENORCH_API_KEY) or
   * a generated one as its owner key and returns it, so the caller can print it once. Returns
   * undefined when keys exist already. Safe when several processes start at once.
   */
  async function bootstrapOwnerKey(plainKey: string | undefined): Promise<string | undefined> {
    const key = plainKey ?? generateApiKey()
    return writeTransaction(database, async (trx) => {
      // SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs the tenant row locked.
      if (database.dialect === 'postgres') {
        await trx
          .selectFrom('tenants')
          .select('tenant_id')
          .where('tenant_id', '=', defaultTenantId)
          .forUpdate()
          .execute()
      }
      if ((await countApiKeys(trx, defaultTenantId)) > 0) return undefined
      const row = rowOf({ tenantId: defaultTenantId, name: 'Owner key (bootstrap)', role: 'owner' }, key)
      await insertApiKey(trx, row)
      await appendAuditIn(trx, database.dialect, [
        systemEntry({
          tenantId: defaultTenantId,
          at: row.created_at,
          actorId: 'startup',
          action: 'api_keys.bootstrapped',
          targetType: 'keys',
          targetId: row.id,
          details: { role: 'owner', from: plainKey ? 'OPENORCH_API_KEY' : 'generated' },
        }),
      ])
      return key
    })
  }

  /** A key made by a caller: never with a role above the caller's own, never already expired. */
  async function issue(
    caller: AuthContext,
    input: Omit<CreateApiKeyInput, 'tenantId'>,
  ): Promise<CreatedApiKey> {
    if (!hasRole(caller.role, input.role))
      throw new AppError(
        'forbidden',
        `A key with the ${caller.role} role cannot create a key with the ${input.role} role (a higher role).`,
        403,
      )
    if (input.expiresAt != null && input.expiresAt <= clock.now())
      throw new AppError('validation_failed', 'expiresAt must be in the future.', 400, {
        errors: [{ field: 'expiresAt', message: 'must be in the future' }],
      })
    const key = generateApiKey()
    // A service key belongs to whoever is behind the caller, through any number of keys made by keys.
    const row = rowOf(
      { ...input, tenantId: caller.tenantId, createdBy: input.userId ? null : (personOf(caller) ?? null) },
      key,
    )
    if (input.userId) await insertPersonalKey(input.userId, row)
    else await insertApiKey(database.db, row)
    log.info({ keyId: row.id, role: input.role, by: caller.keyId }, 'API key created')
    return { key, apiKey: toApiKey(row) }
  }

  /** Counted and inserted under the user's row lock: two requests at once cannot both take the last slot. */
  async function insertPersonalKey(userId: string, row: ApiKeyRow): Promise<void> {
    await writeTransaction(database, async (trx) => {
      if (database.dialect === 'postgres')
        await trx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().execute()
      if ((await countLivePersonalKeys(trx, userId, clock.now())) >= maxPersonalKeysPerUser)
        throw new AppError(
          'personal_key_limit',
          `You have ${maxPersonalKeysPerUser} personal keys that work, the most a person may have. Revoke one you no longer use, then create the new one.`,
          409,
        )
      await insertApiKey(trx, row)
    })
  }

  async function list(
    tenantId: string,
    page: { limit: number; cursor?: string | undefined },
    /** Only this user's personal keys. */
    userId?: string,
  ): Promise<{ items: ApiKey[]; nextCursor: string | null }> {
    const rows = await listApiKeys(database.db, tenantId, {
      before: page.cursor,
      limit: page.limit + 1,
      userId,
    })
    const items = rows.slice(0, page.limit).map(toApiKey)
    return { items, nextCursor: rows.length > page.limit ? (items[items.length - 1]?.id ?? null) : null }
  }

  /** Revokes a key at once: its next request is refused. A key above the caller's role stays. */
  async function revoke(caller: AuthContext, id: string, ownedBy?: string): Promise<ApiKey> {
    const row = await findApiKey(database.db, caller.tenantId, id)
    if (!row || (ownedBy !== undefined && row.user_id !== ownedBy))
      throw new AppError('api_key_not_found', `API key ${id} does not exist.`, 404)
    if (isRole(row.role) && !hasRole(caller.role, row.role))
      throw new AppError(
        'forbidden',
        `A key with the ${caller.role} role cannot revoke a ${row.role} key.`,
        403,
      )
    await revokeApiKey(database.db, caller.tenantId, id, clock.now())
    log.info({ keyId: id, by: caller.keyId }, 'API key revoked')
    return toApiKey((await findApiKey(database.db, caller.tenantId, id))!)
  }

  return { createApiKey, authenticate, bootstrapOwnerKey, issue, list, revoke }
}
