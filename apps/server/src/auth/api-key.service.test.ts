import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabaseWithRetry } from '../../test/app-harness.ts'
import { dialects, type TestDatabase } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import type { Db } from '../database.ts'
import { ManualClock } from '../platform/clock.ts'
import { sha256Hex } from '../platform/ids.ts'
import { createApiKeyService, defaultTenantId } from './api-key.service.ts'

describe.each(dialects)('API keys on %s', (dialect) => {
  let testDb: TestDatabase
  let database: Db
  let clock: ManualClock

  beforeEach(async () => {
    testDb = await createTestDatabaseWithRetry(dialect)
    database = await testDb.open()
    clock = new ManualClock()
  })
  afterEach(async () => {
    await database.close()
    await testDb.cleanup()
  })

  const service = () => createApiKeyService({ database, clock, log: testLog })
  const rowOf = (id: string) =>
    database.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

  it('creates a key shown once: oo_ + base64url, stored only as its SHA-256 with a 10-character prefix', async () => {
    const { key, apiKey } = await service().createApiKey({
      tenantId: defaultTenantId,
      name: 'ci',
      role: 'editor',
    })
    expect(key).toMatch(/^oo_[A-Za-z0-9_-]{43}$/)
    expect(apiKey).toMatchObject({
      tenantId: defaultTenantId,
      name: 'ci',
      role: 'editor',
      prefix: key.slice(0, 10),
    })
    const row = await rowOf(apiKey.id)
    expect(row.key_hash).toBe(sha256Hex(key))
    expect(row.prefix).toHaveLength(10)
    expect(JSON.stringify(row)).not.toContain(key)
    const second = await service().createApiKey({ tenantId: defaultTenantId, name: 'ci', role: 'editor' })
    expect(second.key).not.toBe(key)
  })

  it('refuses a key without a name or with an unknown role', async () => {
    await expect(
      service().createApiKey({ tenantId: defaultTenantId, name: '  ', role: 'viewer' }),
    ).rejects.toMatchObject({
      code: 'invalid_api_key_name',
      status: 400,
    })
    await expect(
      service().createApiKey({ tenantId: defaultTenantId, name: 'x', role: 'root' as never }),
    ).rejects.toMatchObject({ code: 'invalid_role', status: 400 })
  })

  it('authenticates a valid key and refuses unknown, revoked and expired ones', async () => {
    const apiKeys = service()
    const { key, apiKey } = await apiKeys.createApiKey({
      tenantId: defaultTenantId,
      name: 'k',
      role: 'viewer',
      expiresAt: clock.now() + 60_000,
    })
    expect(await apiKeys.authenticate(key)).toEqual({
      tenantId: defaultTenantId,
      role: 'viewer',
      keyId: apiKey.id,
      creatorId: null,
    })
    expect(await apiKeys.authenticate(`${key}x`)).toBeUndefined()
    expect(await apiKeys.authenticate('')).toBeUndefined()
    expect(await apiKeys.authenticate('x'.repeat(10_000))).toBeUndefined()

    clock.advance(60_000)
    expect(await apiKeys.authenticate(key)).toBeUndefined()

    const other = await apiKeys.createApiKey({ tenantId: defaultTenantId, name: 'r', role: 'owner' })
    await database.db
      .updateTable('api_keys')
      .set({ revoked_at: clock.now() })
      .where('id', '=', other.apiKey.id)
      .execute()
    expect(await apiKeys.authenticate(other.key)).toBeUndefined()
  })

  it('records last use at most once per minute', async () => {
    const apiKeys = service()
    const { key, apiKey } = await apiKeys.createApiKey({
      tenantId: defaultTenantId,
      name: 'k',
      role: 'viewer',
    })
    const start = clock.now()
    await apiKeys.authenticate(key)
    expect((await rowOf(apiKey.id)).last_used_at).toBe(start)
    clock.advance(59_000)
    await apiKeys.authenticate(key)
    expect((await rowOf(apiKey.id)).last_used_at).toBe(start)
    clock.advance(1_000)
    await apiKeys.authenticate(key)
    expect((await rowOf(apiKey.id)).last_used_at).toBe(start + 60_000)
  })

  it('bootstraps the owner key from OPENORCH_API_KEY once, and not again when keys exist', async () => {
    const apiKeys = service()
    const given = 'my-own-secret-key-1234567890'
    expect(await apiKeys.bootstrapOwnerKey(given)).toBe(given)
    expect(await apiKeys.authenticate(given)).toMatchObject({ tenantId: defaultTenantId, role: 'owner' })
    expect(await apiKeys.bootstrapOwnerKey(given)).toBeUndefined()
    expect(await apiKeys.bootstrapOwnerKey(undefined)).toBeUndefined()
    const rows = await database.db.selectFrom('api_keys').selectAll().execute()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ prefix: given.slice(0, 10), role: 'owner', key_hash: sha256Hex(given) })
  })

  it('bootstraps a generated owner key when none is given', async () => {
    const apiKeys = service()
    const key = await apiKeys.bootstrapOwnerKey(undefined)
    expect(key).toMatch(/^oo_/)
    expect(await apiKeys.authenticate(key!)).toMatchObject({ tenantId: defaultTenantId, role: 'owner' })
  })

  it('bootstraps exactly one owner key when several processes start at once', async () => {
    // Separate connections race like separate processes would. better-sqlite3 blocks the thread
    // while it waits for a lock, so on SQLite the processes take turns (BEGIN IMMEDIATE serialises them).
    const others = await Promise.all([testDb.open(), testDb.open(), testDb.open()])
    try {
      const bootstrap = (db: Db) =>
        createApiKeyService({ database: db, clock, log: testLog }).bootstrapOwnerKey(undefined)
      const results: Array<string | undefined> = []
      if (dialect === 'postgres') results.push(...(await Promise.all(others.map(bootstrap))))
      else for (const db of others) results.push(await bootstrap(db))
      expect(results.filter((r) => r !== undefined)).toHaveLength(1)
      const rows = await database.db.selectFrom('api_keys').selectAll().execute()
      expect(rows).toHaveLength(1)
    } finally {
      for (const db of others) await db.close()
    }
  })
})
