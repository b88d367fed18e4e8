import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { testLog } from '../../test/kernel-harness.ts'
import { createHashLimiter } from './password.ts'
import { createUserService } from './user.service.ts'

// Issue 11, item 9 (decision 0017): sign-in throttling that nobody can turn against an account.
// Failures are counted in the database per (e-mail, client address) and per client address, so every
// process of a cluster sees the same counts (decision 0011) and a stranger's wrong passwords lock only
// the stranger's own address. The client address is the socket's, or with OPENORCH_TRUST_PROXY the
// one a trusted proxy put in X-Forwarded-For.

const password = 'correct horse battery staple'
const stranger = '203.0.113.7'
const ownerAddress = '198.51.100.20'

describe.each(dialects)('sign-in throttling on %s', (dialect) => {
  let t: TestApp | undefined

  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  async function start(options: Parameters<typeof createTestApp>[1] = {}) {
    t = await createTestApp(dialect, options)
    await t.users.createUser({ tenantId: 'default', email: 'olga@example.com', password, role: 'owner' })
    return t
  }
  const login = (
    app: TestApp,
    from: string,
    pw: string,
    email = 'olga@example.com',
    headers: Record<string, string> = {},
  ) =>
    app.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password: pw },
      remoteAddress: from,
      headers,
    })

  it('a stranger’s five wrong passwords lock only the stranger’s address, never the owner’s own', async () => {
    const app = await start()
    for (let i = 0; i < 5; i++)
      expect((await login(app, stranger, `wrong guess ${i} of many`)).json().code).toBe('invalid_credentials')
    const locked = await login(app, stranger, password)
    expect(locked.statusCode).toBe(429)
    expect(locked.json()).toMatchObject({ code: 'login_throttled', status: 429 })
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800)

    const owner = await login(app, ownerAddress, password)
    expect(owner.statusCode, owner.body).toBe(200)
    // The audit trail names the address of each attempt.
    const trail = await app.app.inject({
      url: '/api/v1/audit?action=auth.login_failed&limit=200',
      headers: { authorization: `Bearer ${app.keys.admin}` },
    })
    expect(trail.json().items.map((e: { ip: string }) => e.ip)).toEqual(Array(5).fill(stranger))
  })

  it('an address that fails for many e-mails is throttled for every e-mail; other addresses are not', async () => {
    // The per-minute request limit (in memory) would stop this earlier; here the count in the database is tested.
    const app = await start({
      rateLimits: { perKeyPerMinute: 600, perTenantPerMinute: 3000, signInPerAddressPerMinute: 100 },
    })
    for (let i = 0; i < 30; i++)
      expect((await login(app, stranger, 'a guess of some length', `p${i}@example.com`)).statusCode).toBe(401)
    const sprayed = await login(app, stranger, password)
    expect(sprayed.statusCode).toBe(429)
    expect(sprayed.json()).toMatchObject({ code: 'login_throttled', status: 429 })
    expect(sprayed.json().detail).toContain('address')
    expect((await login(app, ownerAddress, password)).statusCode).toBe(200)
  })

  it('counts an IPv6 client by its /64: rotating the interface id does not reset the count', async () => {
    const app = await start()
    for (let i = 0; i < 5; i++)
      expect((await login(app, `2001:db8:1:2::${i + 1}`, 'wrong guess again')).statusCode).toBe(401)
    expect((await login(app, '2001:db8:1:2:abcd::9', password)).json().code).toBe('login_throttled')
    expect((await login(app, '2001:db8:1:3::1', password)).statusCode).toBe(200)
  })

  it('with OPENORCH_TRUST_PROXY the client address comes from X-Forwarded-For; without it a forged header changes nothing', async () => {
    const proxied = await start({ trustProxy: ['127.0.0.1'] })
    const via = (client: string) => ({ 'x-forwarded-for': client })
    for (let i = 0; i < 5; i++)
      await login(proxied, '127.0.0.1', `wrong guess ${i} of many`, 'olga@example.com', via(stranger))
    expect((await login(proxied, '127.0.0.1', password, 'olga@example.com', via(stranger))).statusCode).toBe(
      429,
    )
    expect(
      (await login(proxied, '127.0.0.1', password, 'olga@example.com', via(ownerAddress))).statusCode,
    ).toBe(200)
    // A proxy we do not trust cannot choose the address.
    expect((await login(proxied, '192.0.2.1', password, 'olga@example.com', via(stranger))).statusCode).toBe(
      200,
    )
    await proxied.close()

    const direct = await start()
    for (let i = 0; i < 5; i++)
      await login(direct, stranger, `wrong guess ${i} of many`, 'olga@example.com', via(`192.0.2.${i}`))
    const still = await login(direct, stranger, password, 'olga@example.com', via(ownerAddress))
    expect(still.json()).toMatchObject({ code: 'login_throttled', status: 429 })
  })

  it('limits sign-in requests per address and minute, right or wrong, before any password is hashed', async () => {
    const app = await start({
      rateLimits: { perKeyPerMinute: 600, perTenantPerMinute: 3000, signInPerAddressPerMinute: 3 },
    })
    for (let i = 0; i < 3; i++) expect((await login(app, stranger, password)).statusCode).toBe(200)
    const limited = await login(app, stranger, password)
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toMatchObject({ code: 'login_throttled', status: 429 })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect((await login(app, ownerAddress, password)).statusCode).toBe(200)
  })

  it('bounds concurrent password hashing: excess sign-ins get 503 sign_in_busy with Retry-After, none queue without bound', async () => {
    const app = await start()
    const users = createUserService({
      database: app.database,
      clock: app.kernel.clock,
      log: testLog,
      signingKey: new Uint8Array(32),
      hashing: createHashLimiter({ concurrency: 1, queue: 1 }),
    })
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        users.login('olga@example.com', password, { ip: `192.0.2.${i}` }).then(
          () => 'signed in',
          (error: { code: string; status: number; extra: { retryAfterMs?: number } }) =>
            `${error.code} ${error.status} ${error.extra.retryAfterMs}`,
        ),
      ),
    )
    expect(outcomes.filter((o) => o === 'signed in')).toHaveLength(2)
    expect(outcomes.filter((o) => o === 'sign_in_busy 503 1000')).toHaveLength(4)
    // Nothing is left holding a slot.
    expect(await users.login('olga@example.com', password, { ip: '192.0.2.99' })).toMatchObject({
      user: { email: 'olga@example.com' },
    })
  })
})
