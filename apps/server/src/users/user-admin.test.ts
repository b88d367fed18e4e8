import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, otherTenantId, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'

const password = 'violet tram over the quiet river'

describe.each(dialects)('managing users on %s', (dialect) => {
  let t: TestApp
  let ownerId: string

  beforeEach(async () => {
    t = await createTestApp(dialect)
    ownerId = (
      await t.users.createUser({ tenantId: 'default', email: 'olga@example.com', password, role: 'owner' })
    ).id
  })
  afterEach(async () => {
    await t.close()
  })

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, payload?: object) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload ? { payload } : {}) })
  const login = async (email: string, pw = password) => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password: pw },
    })
    return { status: response.statusCode, session: response.json() }
  }
  const addUser = async (email: string, role: string, key = t.keys.admin) => {
    const response = await call('POST', '/users', key, { email, password, role })
    expect(response.statusCode, response.body).toBe(201)
    return response.json() as { id: string; email: string; role: string; disabledAt: string | null }
  }

  it('adds users up to the caller’s own role and lists only this workspace’s users, never a password', async () => {
    const ben = await addUser('Ben@Example.com', 'editor')
    expect(ben).toMatchObject({ email: 'ben@example.com', role: 'editor', disabledAt: null })
    expect((await login('ben@example.com')).status).toBe(200)

    const owner = await call('POST', '/users', t.keys.admin, {
      email: 'o2@example.com',
      password,
      role: 'owner',
    })
    expect(owner.statusCode).toBe(403)
    expect(owner.json()).toMatchObject({ code: 'forbidden' })
    expect(
      (await call('POST', '/users', t.keys.owner, { email: 'o2@example.com', password, role: 'owner' }))
        .statusCode,
    ).toBe(201)

    await t.users.createUser({ tenantId: otherTenantId, email: 'zed@other.example', password, role: 'owner' })
    const list = await call('GET', '/users?limit=2', t.keys.admin)
    expect(list.statusCode).toBe(200)
    const first = list.json()
    expect(first.items).toHaveLength(2)
    const second = (await call('GET', `/users?limit=2&cursor=${first.nextCursor}`, t.keys.admin)).json()
    const emails = [...first.items, ...second.items].map((u: { email: string }) => u.email).sort()
    expect(emails).toEqual(['ben@example.com', 'o2@example.com', 'olga@example.com'])
    expect(second.nextCursor).toBeNull()
    expect(list.body).not.toContain('scrypt')
    expect(list.body).not.toContain('zed@')
  })

  it('refuses bad bodies naming each problem: weak or breached passwords, mass assignment, duplicates', async () => {
    const weak = await call('POST', '/users', t.keys.admin, {
      email: 'w@example.com',
      password: 'short',
      role: 'viewer',
    })
    expect(weak.statusCode).toBe(400)
    expect(weak.json().errors).toEqual([expect.objectContaining({ field: 'password' })])
    const breached = await call('POST', '/users', t.keys.admin, {
      email: 'w@example.com',
      password: 'qwertyuiop123456',
      role: 'viewer',
    })
    expect(breached.statusCode).toBe(400)
    for (const extra of [{ tenantId: otherTenantId }, { id: 'x' }, { disabledAt: null }]) {
      const response = await call('POST', '/users', t.keys.admin, {
        email: 'm@example.com',
        password,
        role: 'viewer',
        ...extra,
      })
      expect(response.statusCode).toBe(400)
      expect(response.headers['content-type']).toContain('application/problem+json')
    }
    const patchTenant = await call('PATCH', `/users/${ownerId}`, t.keys.owner, { tenantId: otherTenantId })
    expect(patchTenant.statusCode).toBe(400)
    const empty = await call('PATCH', `/users/${ownerId}`, t.keys.owner, {})
    expect(empty.statusCode).toBe(400)
    const duplicate = await call('POST', '/users', t.keys.admin, {
      email: 'OLGA@example.com',
      password,
      role: 'viewer',
    })
    expect(duplicate.statusCode).toBe(409)
    expect(duplicate.json().code).toBe('user_exists')
  })

  it('a role change applies on the user’s next request; disabling ends every session at once', async () => {
    const ben = await addUser('ben@example.com', 'editor')
    const { session } = await login('ben@example.com')
    const create = () =>
      call('POST', '/bots', session.accessToken, {
        name: 'x',
        prompt: 'y',
        provider: 'openai',
        schedule: '@hourly',
      })
    expect((await create()).statusCode).not.toBe(403)

    const demoted = await call('PATCH', `/users/${ben.id}`, t.keys.admin, { role: 'viewer' })
    expect(demoted.json()).toMatchObject({ role: 'viewer' })
    expect((await create()).statusCode).toBe(403)

    const disabled = await call('PATCH', `/users/${ben.id}`, t.keys.admin, { disabled: true })
    expect(disabled.json().disabledAt).not.toBeNull()
    expect((await call('GET', '/auth/me', session.accessToken)).statusCode).toBe(401)
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: session.refreshToken },
    })
    expect(refresh.statusCode).toBe(401)
    expect((await login('ben@example.com')).status).toBe(401)

    const enabled = await call('PATCH', `/users/${ben.id}`, t.keys.admin, { disabled: false })
    expect(enabled.json().disabledAt).toBeNull()
    expect((await login('ben@example.com')).status).toBe(200)
  })

  it('keeps one enabled owner and lets nobody touch a role above their own', async () => {
    for (const change of [{ role: 'admin' }, { disabled: true }]) {
      const response = await call('PATCH', `/users/${ownerId}`, t.keys.owner, change)
      expect(response.statusCode).toBe(409)
      expect(response.json()).toMatchObject({ code: 'last_owner' })
    }
    expect((await call('DELETE', `/users/${ownerId}`, t.keys.owner)).json().code).toBe('last_owner')
    // An admin cannot demote, disable or remove an owner, nor make themselves one.
    expect((await call('PATCH', `/users/${ownerId}`, t.keys.admin, { disabled: true })).statusCode).toBe(403)
    expect((await call('DELETE', `/users/${ownerId}`, t.keys.admin)).statusCode).toBe(403)
    const adam = await addUser('adam@example.com', 'admin')
    expect((await call('PATCH', `/users/${adam.id}`, t.keys.admin, { role: 'owner' })).statusCode).toBe(403)

    // With a second owner, the first may go.
    const second = await addUser('owner2@example.com', 'owner', t.keys.owner)
    expect((await call('PATCH', `/users/${ownerId}`, t.keys.owner, { role: 'editor' })).statusCode).toBe(200)
    expect((await call('DELETE', `/users/${second.id}`, t.keys.owner)).json().code).toBe('last_owner')
  })

  it('removes a user: sessions end, sign-in fails; another workspace’s user is not found', async () => {
    const ben = await addUser('ben@example.com', 'viewer')
    const { session } = await login('ben@example.com')
    expect((await call('DELETE', `/users/${ben.id}`, t.keys.admin)).statusCode).toBe(204)
    expect((await call('GET', '/auth/me', session.accessToken)).statusCode).toBe(401)
    expect((await login('ben@example.com')).status).toBe(401)
    expect((await call('DELETE', `/users/${ben.id}`, t.keys.admin)).statusCode).toBe(404)

    const zed = await t.users.createUser({
      tenantId: otherTenantId,
      email: 'zed@other.example',
      password,
      role: 'viewer',
    })
    for (const response of [
      await call('PATCH', `/users/${zed.id}`, t.keys.owner, { role: 'editor' }),
      await call('DELETE', `/users/${zed.id}`, t.keys.owner),
    ]) {
      expect(response.statusCode).toBe(404)
      expect(response.body).not.toContain('zed@')
    }
    expect((await login('zed@other.example')).status).toBe(200)
  })

  it('changes the own password: the current one is needed, other sessions end, this one continues', async () => {
    const first = (await login('olga@example.com')).session
    const second = (await login('olga@example.com')).session
    const change = (body: object, token = first.accessToken) => call('POST', '/auth/password', token, body)

    const wrong = await change({
      currentPassword: 'not it at all',
      newPassword: 'a brand new passphrase here',
    })
    expect(wrong.statusCode).toBe(401)
    const weak = await change({ currentPassword: password, newPassword: 'password1234' })
    expect(weak.statusCode).toBe(400)
    expect(weak.json().errors).toEqual([expect.objectContaining({ field: 'newPassword' })])
    expect(
      (
        await call('POST', '/auth/password', t.keys.owner, {
          currentPassword: password,
          newPassword: 'x'.repeat(20),
        })
      ).json().code,
    ).toBe('not_a_user')

    const changed = await change({ currentPassword: password, newPassword: 'a brand new passphrase here' })
    expect(changed.statusCode, changed.body).toBe(200)
    const fresh = changed.json()
    expect((await call('GET', '/auth/me', fresh.accessToken)).statusCode).toBe(200)
    for (const old of [first.accessToken, second.accessToken])
      expect((await call('GET', '/auth/me', old)).statusCode).toBe(401)
    const oldRefresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: second.refreshToken },
    })
    expect(oldRefresh.statusCode).toBe(401)
    expect((await login('olga@example.com')).status).toBe(401)
    expect((await login('olga@example.com', 'a brand new passphrase here')).status).toBe(200)
  })
})
