import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'

// Issue 5: API keys "created per user or as service keys". A personal key acts as its user: never
// above the user's current role, and dead once the user is disabled or removed.

const password = 'violet tram over the quiet river'

describe.each(dialects)('personal API keys on %s', (dialect) => {
  let t: TestApp
  let ben: { id: string }
  let session: { accessToken: string }

  beforeEach(async () => {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    ben = await t.users.createUser({
      tenantId: 'default',
      email: 'ben@example.com',
      password,
      role: 'editor',
    })
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'ben@example.com', password },
    })
    session = login.json()
  })
  afterEach(async () => {
    await t.close()
  })

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, payload?: object) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload ? { payload } : {}) })
  const createBot = (key: string) =>
    call('POST', '/bots', key, {
      name: `b${Math.random()}`,
      prompt: 'p',
      provider: 'openai',
      schedule: '@hourly',
    })

  it('is created by a signed-in user up to their role, listed as theirs, and works as them', async () => {
    const tooHigh = await call('POST', '/auth/keys', session.accessToken, { name: 'mine', role: 'admin' })
    expect(tooHigh.statusCode).toBe(403)
    const created = await call('POST', '/auth/keys', session.accessToken, {
      name: 'laptop script',
      role: 'editor',
    })
    expect(created.statusCode, created.body).toBe(201)
    const { key, apiKey } = created.json()
    expect(apiKey).toMatchObject({ name: 'laptop script', role: 'editor', userId: ben.id })
    expect((await createBot(key)).statusCode).toBe(201)

    const service = (await call('POST', '/keys', t.keys.admin, { name: 'ci', role: 'viewer' })).json().apiKey
    expect(service.userId).toBeNull()
    const mine = (await call('GET', '/auth/keys', session.accessToken)).json()
    expect(mine.items.map((k: { id: string }) => k.id)).toEqual([apiKey.id])
    const all = (await call('GET', '/keys?limit=200', t.keys.admin)).json()
    expect(all.items.find((k: { id: string }) => k.id === apiKey.id)).toMatchObject({ userId: ben.id })

    // API keys cannot manage personal keys; a user cannot revoke keys that are not theirs.
    expect((await call('GET', '/auth/keys', t.keys.owner)).json().code).toBe('not_a_user')
    expect((await call('DELETE', `/auth/keys/${service.id}`, session.accessToken)).statusCode).toBe(404)
    const revoked = await call('DELETE', `/auth/keys/${apiKey.id}`, session.accessToken)
    expect(revoked.json().revokedAt).not.toBeNull()
    expect((await createBot(key)).statusCode).toBe(401)
  })

  it('follows its user: demoted, disabled and removed', async () => {
    const { key } = (
      await call('POST', '/auth/keys', session.accessToken, { name: 'k', role: 'editor' })
    ).json()
    await call('PATCH', `/users/${ben.id}`, t.keys.admin, { role: 'viewer' })
    expect((await createBot(key)).statusCode).toBe(403)
    expect((await call('GET', '/bots', key)).statusCode).toBe(200)

    await call('PATCH', `/users/${ben.id}`, t.keys.admin, { role: 'editor', disabled: true })
    expect((await call('GET', '/bots', key)).statusCode).toBe(401)
    await call('PATCH', `/users/${ben.id}`, t.keys.admin, { disabled: false })
    expect((await createBot(key)).statusCode).toBe(201)

    expect((await call('DELETE', `/users/${ben.id}`, t.keys.admin)).statusCode).toBe(204)
    expect((await call('GET', '/bots', key)).statusCode).toBe(401)
    const listed = (await call('GET', '/keys?limit=200', t.keys.admin)).json()
    expect(listed.items.find((k: { userId: string | null }) => k.userId === ben.id)?.revokedAt).not.toBeNull()
  })

  it('caps a person’s live personal keys at 10 (409 personal_key_limit); revoked and expired keys free a slot', async () => {
    const make = (name: string) => call('POST', '/auth/keys', session.accessToken, { name, role: 'viewer' })
    // An expired key does not count.
    await t.apiKeys.createApiKey({
      tenantId: 'default',
      name: 'expired',
      role: 'viewer',
      userId: ben.id,
      expiresAt: Date.now() - 1000,
    })
    const ids: string[] = []
    for (let i = 0; i < 10; i++) {
      const created = await make(`k${i}`)
      expect(created.statusCode, created.body).toBe(201)
      ids.push(created.json().apiKey.id)
    }
    const refused = await make('one too many')
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'personal_key_limit', status: 409 })
    expect(refused.json().detail).toContain('10')
    // Service keys of the workspace do not count against a person.
    expect((await call('POST', '/keys', t.keys.admin, { name: 'ci', role: 'viewer' })).statusCode).toBe(201)
    await call('DELETE', `/auth/keys/${ids[0]}`, session.accessToken)
    expect((await make('after a revoke')).statusCode).toBe(201)
    expect((await make('again too many')).statusCode).toBe(409)
  })
})
