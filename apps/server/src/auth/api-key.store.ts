import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { ApiKeysTable } from './api-key.table.ts'

// SQL of the api_keys table. Keys are stored as SHA-256 hashes; the plain key exists only in the
// response that created it.
type Q = Kysely<Tables>

export type ApiKeyRow = ApiKeysTable

export async function insertApiKey(db: Q, row: ApiKeyRow): Promise<void> {
  await db.insertInto('api_keys').values(row).execute()
}

/** A key with, for a personal key, its user's current role and state (one indexed read per request). */
export async function findApiKeyByHash(
  db: Q,
  keyHash: string,
): Promise<(ApiKeyRow & { user_role: string | null; user_disabled_at: number | null }) | undefined> {
  return db
    .selectFrom('api_keys')
    .leftJoin('users', 'users.id', 'api_keys.user_id')
    .selectAll('api_keys')
    .select(['users.role as user_role', 'users.disabled_at as user_disabled_at'])
    .where('api_keys.key_hash', '=', keyHash)
    .executeTakeFirst()
}

/** Revokes every key of a user (the user was removed). */
export async function revokeUserApiKeys(db: Q, userId: string, now: number): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute()
}

export async function countApiKeys(db: Q, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** Records use, at most once per `minIntervalMs` per key: a busy key must not turn every read into a write. */
export async function touchApiKey(db: Q, id: string, now: number, minIntervalMs: number): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: now })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', now - minIntervalMs)]))
    .execute()
}

/** Newest first; cursor: the last id of the previous page. */
export async function listApiKeys(
  db: Q,
  tenantId: string,
  options: { before?: string | undefined; limit: number; userId?: string | undefined },
): Promise<ApiKeyRow[]> {
  let query = db.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId)
  if (options.before) query = query.where('id', '<', options.before)
  if (options.userId) query = query.where('user_id', '=', options.userId)
  return query.orderBy('id', 'desc').limit(options.limit).execute()
}

export async function findApiKey(db: Q, tenantId: string, id: string): Promise<ApiKeyRow | undefined> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
}

export async function revokeApiKey(db: Q, tenantId: string, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}
