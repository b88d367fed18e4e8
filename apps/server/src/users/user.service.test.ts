import { SignJWT } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import { ManualClock } from '../platform/clock.ts'
import { createUserService } from './user.service.ts'

const password = 'correct horse battery staple'

describe.each(dialects)('users and sessions on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
    await t.users.createUser({ tenantId: 'default', email: 'Anna@Example.com', password, role: 'editor' })
  })
  afterEach(async () => {
    await t.close()
  })

  const post = (url: string, payload: object, headers = {}) =>
    t.app.inject({ method: 'POST', url: `/api/v1${url}`, payload, headers })
  const login = async (email = 'anna@example.com', pw = password) =>
    post('/auth/login', { email, password: pw })

  const auditOf = async (action: string) =>
    (await t.app.inject({ url: `/api/v1/audit?action=${action}`, headers: bearer(t.keys.admin) })).json()
      .items as Array<{
      actor: { type: string; id: string | null }
      details: Record<string, unknown> | null
    }>

  it('refuses weak passwords, bad e-mails and duplicates, naming each field', async () => {
    const weak = t.users.createUser({
      tenantId: 'default',
      email: 'bob@example.com',
      password: 'password1234',
      role: 'viewer',
    })
    await expect(weak).rejects.toMatchObject({
      code: 'validation_failed',
      extra: {
        errors: [{ field: 'password', code: expect.stringMatching(/^password_(breached|too_guessable)$/) }],
      },
    })
    await expect(
      t.users.createUser({ tenantId: 'default', email: 'nope', password: 'short', role: 'viewer' }),
    ).rejects.toMatchObject({ extra: { errors: [{ field: 'email' }, { field: 'password' }] } })
    await expect(
      t.users.createUser({
        tenantId: 'default',
        email: 'bobby.tables@example.com',
        password: 'xx bobby.tables xx',
        role: 'viewer',
      }),
    ).rejects.toMatchObject({ code: 'validation_failed' })
    await expect(
      t.users.createUser({ tenantId: 'default', email: 'ANNA@example.com', password, role: 'viewer' }),
    ).rejects.toMatchObject({ code: 'user_exists' })
  })

  it('signs in; the access token authenticates with the user’s role, and changes are audited as the user', async () => {
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    const response = await login('ANNA@example.com ')
    expect(response.statusCode).toBe(200)
    const session = response.json()
    expect(session).toMatchObject({ expiresIn: 900, user: { email: 'anna@example.com', role: 'editor' } })
    expect(session.refreshToken).toMatch(/^oor_/)
    expect(
      (await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(session.accessToken) })).json().email,
    ).toBe('anna@example.com')
    const created = await post(
      '/bots',
      { name: 'Mine', prompt: 'p', provider: 'openai' },
      bearer(session.accessToken),
    )
    expect(created.statusCode).toBe(201)
    expect(
      (await t.app.inject({ url: '/api/v1/keys', headers: bearer(session.accessToken) })).statusCode,
    ).toBe(403)
    const audit = (await t.app.inject({ url: '/api/v1/audit', headers: bearer(t.keys.admin) })).json()
    expect(audit.items[0]).toMatchObject({
      actor: { type: 'user', id: session.user.id, role: 'editor' },
      action: 'POST /bots',
    })
    // An API key is not a user.
    expect((await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(t.keys.owner) })).json().code).toBe(
      'not_a_user',
    )
  })

  it('refuses a wrong password, and locks the e-mail for that address after five failures (429 with Retry-After)', async () => {
    const wrong = await login('anna@example.com', 'not the password at all')
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json().code).toBe('invalid_credentials')
    expect((await login('nobody@example.com', password)).json().code).toBe('invalid_credentials')
    for (let i = 0; i < 4; i++) await login('anna@example.com', `wrong ${i} wrong wrong`)
    const locked = await login()
    expect(locked.statusCode).toBe(429)
    expect(locked.json().code).toBe('login_throttled')
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0)
    // Failed attempts on a real account are in the audit trail (not the unknown e-mail, not the 429).
    const trail = await auditOf('auth.login_failed')
    expect(trail).toHaveLength(5)
    expect(trail[0]).toMatchObject({
      actor: { type: 'anonymous', id: null },
      target: { type: 'users' },
      ip: '127.0.0.1',
      details: { reason: 'wrong_password', locked: true },
    })
    expect(trail[4]!.details).toMatchObject({ locked: false })
  })

  it('counts failed sign-ins across processes: the lock holds on every one, also for concurrent failures', async () => {
    // A second server process on the same database: its own pool, its own service.
    const other = createUserService({
      database: await t.openSecond(),
      clock: t.kernel.clock,
      log: testLog,
      signingKey: new Uint8Array(32),
    })
    // From the same client address as the requests below (inject's 127.0.0.1): the same count.
    const refusedByOther = (pw: string) =>
      other.login('anna@example.com', pw, { ip: '127.0.0.1' }).then(
        () => 'signed in',
        (error: { code: string }) => error.code,
      )
    // Five failures at once, spread over both processes: each one counts.
    const outcomes = await Promise.all([
      login('anna@example.com', 'wrong guess number one'),
      refusedByOther('wrong guess number two'),
      login('anna@example.com', 'wrong guess number three'),
      refusedByOther('wrong guess number four'),
      login('anna@example.com', 'wrong guess number five'),
    ])
    expect(outcomes.map((o) => (typeof o === 'string' ? o : o.json().code))).toEqual(
      Array(5).fill('invalid_credentials'),
    )
    // Locked on both, even with the right password.
    expect((await login()).json().code).toBe('login_throttled')
    expect(await refusedByOther(password)).toBe('login_throttled')
  })

  it('keeps only the current window of failures, and no e-mail in clear', async () => {
    const clock = new ManualClock(Date.now())
    const lockMs = 60_000
    const users = createUserService({
      database: t.database,
      clock,
      log: testLog,
      signingKey: new Uint8Array(32),
      lockMs,
    })
    for (let i = 0; i < 20; i++)
      await expect(users.login(`stranger${i}@example.com`, 'a guess of some length')).rejects.toMatchObject({
        code: 'invalid_credentials',
      })
    // One row per (e-mail, address) and one for the address (no address given: 'unknown').
    const rows = await t.database.db.selectFrom('login_failures').selectAll().execute()
    expect(rows).toHaveLength(21)
    for (const row of rows) expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/)
    // Their window passes; the next failure takes the old rows away with it.
    clock.advance(lockMs + 1)
    await expect(users.login('late@example.com', 'a guess of some length')).rejects.toMatchObject({
      code: 'invalid_credentials',
    })
    expect(await t.database.db.selectFrom('login_failures').select('failures').execute()).toEqual([
      { failures: 1 },
      { failures: 1 },
    ])
  })

  it('rotates refresh tokens; a spent one used again ends the whole session', async () => {
    const first = (await login()).json()
    const second = await post('/auth/refresh', { refreshToken: first.refreshToken })
    expect(second.statusCode).toBe(200)
    const next = second.json()
    expect(next.refreshToken).not.toBe(first.refreshToken)
    const replay = await post('/auth/refresh', { refreshToken: first.refreshToken })
    expect(replay.statusCode).toBe(401)
    expect(replay.json().code).toBe('invalid_refresh_token')
    expect((await post('/auth/refresh', { refreshToken: next.refreshToken })).statusCode).toBe(401)
    const other = (await login()).json()
    expect((await post('/auth/logout', { refreshToken: other.refreshToken })).statusCode).toBe(204)
    expect((await post('/auth/refresh', { refreshToken: other.refreshToken })).statusCode).toBe(401)
    expect(await auditOf('auth.session_revoked')).toEqual([
      expect.objectContaining({
        actor: { type: 'system', id: 'sessions', role: null },
        details: { reason: expect.stringContaining('used again') },
      }),
    ])
    expect((await auditOf('auth.login')).map((e) => e.actor.type)).toEqual(['user', 'user'])
    expect(await auditOf('auth.logout')).toHaveLength(1)
  })

  it('signs out everywhere: the next request with any of its access tokens is refused', async () => {
    const a = (await login()).json()
    const b = (await login()).json()
    expect((await t.app.inject({ url: '/api/v1/runs', headers: bearer(b.accessToken) })).statusCode).toBe(200)
    expect((await post('/auth/logout-everywhere', {}, bearer(a.accessToken))).statusCode).toBe(204)
    for (const token of [a.accessToken, b.accessToken])
      expect((await t.app.inject({ url: '/api/v1/runs', headers: bearer(token) })).statusCode).toBe(401)
    expect((await post('/auth/refresh', { refreshToken: b.refreshToken })).statusCode).toBe(401)
    expect((await login()).statusCode).toBe(200)
  })

  it('refuses tampered, unsigned (alg none), foreign-key and expired tokens', async () => {
    const session = (await login()).json()
    const [header, payload, signature] = session.accessToken.split('.')
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const forged = Buffer.from(JSON.stringify({ ...claims, role: 'owner' })).toString('base64url')
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
    const key = t.vault.deriveKey('openorch session signing v1')
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key)
    const foreign = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('x'.repeat(32)))
    for (const token of [`${header}.${forged}.${signature}`, `${none}.${payload}.`, expired, foreign]) {
      const response = await t.app.inject({ url: '/api/v1/runs', headers: bearer(token) })
      expect(response.statusCode).toBe(401)
      expect(response.json().code).toBe('unauthorized')
    }
  })
})
