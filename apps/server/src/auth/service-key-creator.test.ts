import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import { createUserAdmin } from '../users/user-admin.ts'

// Issue 11, item 5: a service key records the user who made it and cannot outlive or outrank them.
// Disabling or removing the creator revokes their service keys (decision 0017: revoked, not held);
// no key may re-enable or raise the user it was created by.

const password = 'violet tram over the quiet river'

describe.each(dialects)('service keys and their creator on %s', (dialect) => {
  let t: TestApp
  let ada: { id: string }
  let adaSession: { accessToken: string }

  beforeEach(async () => {
    t = await createTestApp(dialect)
    ada = await t.users.createUser({ tenantId: 'default', email: 'ada@example.com', password, role: 'admin' })
    adaSession = (
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'ada@example.com', password },
      })
    ).json()
  })
  afterEach(async () => {
    await t.close()
  })

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, payload?: object) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload ? { payload } : {}) })
  const serviceKey = async (by: string, role = 'admin', name = 'ci') => {
    const response = await call('POST', '/keys', by, { name, role })
    expect(response.statusCode, response.body).toBe(201)
    return response.json() as { key: string; apiKey: { id: string; createdBy: string | null } }
  }
  const listed = async (id: string) =>
    (await call('GET', '/keys?limit=200', t.keys.owner)).json().items.find((k: { id: string }) => k.id === id)

  it('records the creator: the signed-in user, the user behind a personal key, or the creator of the key that made it', async () => {
    const bySession = await serviceKey(adaSession.accessToken)
    expect(bySession.apiKey.createdBy).toBe(ada.id)
    expect(await listed(bySession.apiKey.id)).toMatchObject({ createdBy: ada.id, userId: null })
    const personal = (
      await call('POST', '/auth/keys', adaSession.accessToken, { name: 'mine', role: 'admin' })
    ).json()
    expect(personal.apiKey.createdBy).toBeNull()
    expect((await serviceKey(personal.key)).apiKey.createdBy).toBe(ada.id)
    // A key made by Ada's key is Ada's too: disabling her cannot leave a second generation behind.
    expect((await serviceKey(bySession.key)).apiKey.createdBy).toBe(ada.id)
    // Keys made at bootstrap or by a key without a creator have none.
    expect((await serviceKey(t.keys.admin)).apiKey.createdBy).toBeNull()
  })

  it('a disabled admin’s service key cannot re-enable that admin: disabling revokes it, audited', async () => {
    const { key, apiKey } = await serviceKey(adaSession.accessToken)
    const untouched = await serviceKey(t.keys.admin, 'viewer', 'other')
    const disabled = await call('PATCH', `/users/${ada.id}`, t.keys.owner, { disabled: true })
    expect(disabled.statusCode, disabled.body).toBe(200)

    const attempt = await call('PATCH', `/users/${ada.id}`, key, { disabled: false })
    expect(attempt.statusCode).toBe(401)
    expect(attempt.json()).toMatchObject({ code: 'unauthorized', status: 401 })
    expect((await call('GET', `/users?limit=200`, t.keys.owner)).json().items).toContainEqual(
      expect.objectContaining({ id: ada.id, disabledAt: expect.any(String) }),
    )
    expect((await listed(apiKey.id)).revokedAt).not.toBeNull()
    expect((await listed(untouched.apiKey.id)).revokedAt).toBeNull()
    const trail = (await call('GET', '/audit?action=api_keys.creator_revoked', t.keys.owner)).json().items
    expect(trail).toEqual([
      expect.objectContaining({
        target: { type: 'users', id: ada.id },
        details: {
          reason: 'creator_disabled',
          keys: [{ id: apiKey.id, name: 'ci', prefix: expect.any(String) }],
        },
      }),
    ])

    // Enabling Ada again does not bring the key back.
    expect((await call('PATCH', `/users/${ada.id}`, t.keys.owner, { disabled: false })).statusCode).toBe(200)
    expect((await call('GET', '/bots', key)).statusCode).toBe(401)
  })

  it('removing the creator revokes their service keys', async () => {
    const { key } = await serviceKey(adaSession.accessToken)
    expect((await call('DELETE', `/users/${ada.id}`, t.keys.owner)).statusCode).toBe(204)
    expect((await call('GET', '/bots', key)).json()).toMatchObject({ code: 'unauthorized' })
  })

  it('a service key acts with at most its creator’s current role, so it cannot raise them back', async () => {
    const { key } = await serviceKey(adaSession.accessToken)
    expect((await call('PATCH', `/users/${ada.id}`, t.keys.owner, { role: 'viewer' })).statusCode).toBe(200)
    const raise = await call('PATCH', `/users/${ada.id}`, key, { role: 'admin' })
    expect(raise.statusCode).toBe(403)
    expect(raise.json()).toMatchObject({ code: 'forbidden', status: 403 })
    expect((await call('GET', '/bots', key)).statusCode).toBe(200)
    expect((await call('POST', '/keys', key, { name: 'x', role: 'viewer' })).statusCode).toBe(403)
  })

  it('refuses a key that re-enables or raises its creator even when it was checked before the change', async () => {
    // The race: the key's request is authenticated, then the owner disables Ada, then the request acts.
    const { key } = await serviceKey(adaSession.accessToken)
    const caller = await t.apiKeys.authenticate(key)
    expect(caller).toMatchObject({ role: 'admin', creatorId: ada.id })
    await call('PATCH', `/users/${ada.id}`, t.keys.owner, { disabled: true })
    const userAdmin = createUserAdmin({
      database: t.database,
      clock: t.kernel.clock,
      log: testLog,
      users: t.users,
    })
    await expect(userAdmin.update(caller!, ada.id, { disabled: false })).rejects.toMatchObject({
      code: 'self_elevation',
      status: 403,
    })
    // The same for a demotion followed by a raise, and for the user's own session or personal key.
    await call('PATCH', `/users/${ada.id}`, t.keys.owner, { disabled: false, role: 'editor' })
    await expect(userAdmin.update(caller!, ada.id, { role: 'admin' })).rejects.toMatchObject({
      code: 'self_elevation',
    })
    const self = { tenantId: 'default', role: 'admin' as const, keyId: `user:${ada.id}`, userId: ada.id }
    await expect(userAdmin.update(self, ada.id, { role: 'admin' })).rejects.toMatchObject({
      code: 'self_elevation',
    })
    // Lowering oneself, or changing others, stays allowed.
    const ben = await t.users.createUser({
      tenantId: 'default',
      email: 'ben@example.com',
      password,
      role: 'viewer',
    })
    await expect(userAdmin.update(self, ben.id, { role: 'editor' })).resolves.toMatchObject({
      role: 'editor',
    })
  })
})
