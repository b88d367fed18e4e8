import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'

// Issue 11, items 4 and 15: what a stolen session leaves behind. A personal key minted with it must
// die with "change password" and "sign out everywhere"; an access token must die with its family
// when a reused refresh token gives the theft away.

const password = 'correct horse battery staple'
const newPassword = 'seven quiet lanterns over the harbour'

describe.each(dialects)('ending what a stolen session made on %s', (dialect) => {
  let t: TestApp
  let userId: string

  beforeEach(async () => {
    t = await createTestApp(dialect)
    userId = (
      await t.users.createUser({ tenantId: 'default', email: 'anna@example.com', password, role: 'editor' })
    ).id
  })
  afterEach(async () => {
    await t.close()
  })

  const post = (url: string, payload: object, headers = {}) =>
    t.app.inject({ method: 'POST', url: `/api/v1${url}`, payload, headers })
  const login = async () => (await post('/auth/login', { email: 'anna@example.com', password })).json()
  const runsWith = async (token: string) => t.app.inject({ url: '/api/v1/runs', headers: bearer(token) })
  const mintKey = async (accessToken: string, name: string) => {
    const response = await post('/auth/keys', { name, role: 'editor' }, bearer(accessToken))
    expect(response.statusCode, response.body).toBe(201)
    return response.json() as { key: string; apiKey: { id: string; name: string; prefix: string } }
  }
  const auditOf = async (action: string) =>
    (await t.app.inject({ url: `/api/v1/audit?action=${action}`, headers: bearer(t.keys.admin) })).json()
      .items as Array<{
      actor: { type: string; id: string | null }
      target: { id: string }
      details: unknown
    }>

  it('changing the password revokes the personal keys a stolen session minted, and audits which', async () => {
    const victim = await login()
    const thief = await login()
    const stolen = await mintKey(thief.accessToken, 'thief’s script')
    const own = await mintKey(victim.accessToken, 'laptop')
    expect((await runsWith(stolen.key)).statusCode).toBe(200)

    const changed = await post(
      '/auth/password',
      { currentPassword: password, newPassword },
      bearer(victim.accessToken),
    )
    expect(changed.statusCode, changed.body).toBe(200)

    for (const key of [stolen.key, own.key]) {
      const refused = await runsWith(key)
      expect(refused.statusCode).toBe(401)
      expect(refused.json()).toMatchObject({ code: 'unauthorized', status: 401 })
    }
    const fresh = changed.json().accessToken as string
    const mine = (await t.app.inject({ url: '/api/v1/auth/keys', headers: bearer(fresh) })).json()
    expect(mine.items.every((k: { revokedAt: string | null }) => k.revokedAt !== null)).toBe(true)
    const [entry, ...more] = await auditOf('auth.personal_keys_revoked')
    expect(more).toEqual([])
    expect(entry).toMatchObject({
      actor: { type: 'user', id: userId },
      target: { id: userId },
      details: {
        reason: 'password_changed',
        keys: expect.arrayContaining([
          { id: stolen.apiKey.id, name: 'thief’s script', prefix: stolen.apiKey.prefix },
          { id: own.apiKey.id, name: 'laptop', prefix: own.apiKey.prefix },
        ]),
      },
    })
    // A key minted after the change works: the revocation is of what existed, not a ban.
    const after = await mintKey(fresh, 'new laptop')
    expect((await runsWith(after.key)).statusCode).toBe(200)
  })

  it('signing out everywhere revokes the personal keys too, audited; other users’ keys stay', async () => {
    const victim = await login()
    const stolen = await mintKey((await login()).accessToken, 'thief’s script')
    const service = (await post('/keys', { name: 'ci', role: 'viewer' }, bearer(t.keys.admin))).json()
    expect((await post('/auth/logout-everywhere', {}, bearer(victim.accessToken))).statusCode).toBe(204)
    expect((await runsWith(stolen.key)).json()).toMatchObject({ code: 'unauthorized', status: 401 })
    expect((await runsWith(service.key)).statusCode).toBe(200)
    expect(await auditOf('auth.personal_keys_revoked')).toEqual([
      expect.objectContaining({
        details: {
          reason: 'signed_out_everywhere',
          keys: [expect.objectContaining({ id: stolen.apiKey.id })],
        },
      }),
    ])
  })

  it('a reused refresh token ends its family’s access tokens at once, and only that family’s', async () => {
    const first = await login()
    const elsewhere = await login()
    const rotated = await post('/auth/refresh', { refreshToken: first.refreshToken })
    expect(rotated.statusCode).toBe(200)
    const next = rotated.json()
    expect((await runsWith(next.accessToken)).statusCode).toBe(200)

    // The spent token comes back: the thief (or the victim) holds a copy. The family ends.
    const replay = await post('/auth/refresh', { refreshToken: first.refreshToken })
    expect(replay.json()).toMatchObject({ code: 'invalid_refresh_token', status: 401 })
    for (const token of [next.accessToken, first.accessToken]) {
      const refused = await runsWith(token)
      expect(refused.statusCode).toBe(401)
      expect(refused.json().code).toBe('unauthorized')
    }
    // Another sign-in of the same user is another family: it goes on.
    expect((await runsWith(elsewhere.accessToken)).statusCode).toBe(200)
  })

  it('signing out ends the access token of that session at once', async () => {
    const session = await login()
    expect((await runsWith(session.accessToken)).statusCode).toBe(200)
    expect((await post('/auth/logout', { refreshToken: session.refreshToken })).statusCode).toBe(204)
    expect((await runsWith(session.accessToken)).json()).toMatchObject({ code: 'unauthorized', status: 401 })
  })
})
