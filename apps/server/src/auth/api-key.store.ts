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

/** A key that was revoked, as the audit trail names it (never the key). */
export type RevokedKey = Pick<ApiKeyRow, 'id' | 'name' | 'prefix'>

/**
 * A key with the current role and state of the user behind it: the owner of a personal key or the
 * creator of a service key (one indexed read per request; a key has one or neither).
 */
export async function findApiKeyByHash(
  db: Q,
  keyHash: string,
): Promise<
  | (ApiKeyRow & { person_id: string | null; person_role: string | null; person_disabled_at: number | null })
  | undefined
> {
  return db
    .selectFrom('api_keys')
    .leftJoin('users', (join) =>
      join.on((eb) =>
        eb.or([
          eb('users.id', '=', eb.ref('api_keys.user_id')),
          eb('users.id', '=', eb.ref('api_keys.created_by')),
        ]),
      ),
    )
    .selectAll('api_keys')
    .select(['users.id as person_id', 'users.role as person_role', 'users.disabled_at as person_disabled_at'])
    .where('api_keys.key_hash', '=', keyHash)
    .executeTakeFirst()
}

/**
 * Revokes a user's keys that still work and answers which: `personal` ones (the user's own, after a
 * password change or "sign out everywhere"), `created` ones (service keys the user made, after the
 * user was disabled or removed), or both.
 */
export async function revokeKeysOfUser(
  db: Q,
  userId: string,
  which: { personal: boolean; created: boolean },
  now: number,
): Promise<RevokedKey[]> {
  if (!which.personal && !which.created) return []
  return db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where((eb) =>
      eb.or([
        ...(which.personal ? [eb('user_id', '=', userId)] : []),
        ...(which.created ? [eb('created_by', '=', userId)] : []),
      ]),
    )
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .returning(['id', 'name', 'prefix'])
    .execute()
}

/** A person's personal keys that still work: not revoked, not expired. */
export async function countLivePersonalKeys(db: Q, userId: string, now: number): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .executeTakeFirstOrThrow()
  return Number(row.n)
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
