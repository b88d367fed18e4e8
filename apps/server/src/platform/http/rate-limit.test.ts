import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'

const password = 'violet tram over the quiet river'

// In memory per process: one dialect is enough.
describe('rate limits', () => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp('sqlite', { rateLimits: { perKeyPerMinute: 3, perTenantPerMinute: 5 } })
  })
  afterEach(async () => {
    await t.close()
  })

  const get = (key?: string) => t.app.inject({ url: '/api/v1/runs', headers: key ? bearer(key) : {} })

  it('answers 429 problem+json with Retry-After per API key, then per workspace; other workspaces are not affected', async () => {
    for (let i = 0; i < 10; i++) expect((await get()).statusCode).toBe(401) // anonymous calls do not count
    for (let i = 0; i < 3; i++) expect((await get(t.keys.viewer)).statusCode).toBe(200)
    const limited = await get(t.keys.viewer)
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['content-type']).toContain('application/problem+json')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.json()).toMatchObject({ code: 'rate_limited', status: 429 })
    expect(limited.json().detail).toContain('API key')

    // The workspace has 5 per minute: 3 used (a request refused for its key does not count), so 2 more.
    expect((await get(t.keys.admin)).statusCode).toBe(200)
    expect((await get(t.keys.admin)).statusCode).toBe(200)
    const tenantLimited = await get(t.keys.editor)
    expect(tenantLimited.statusCode).toBe(429)
    expect(tenantLimited.json().detail).toContain('workspace')
    expect((await get(t.keys.otherTenant)).statusCode).toBe(200)
  })

  it('counts a person’s personal keys and sessions in one bucket: more keys buy no more requests', async () => {
    // Issue 11, item 8: a viewer mints many personal keys and uses them in turn.
    await t.close()
    t = await createTestApp('sqlite', { rateLimits: { perKeyPerMinute: 3, perTenantPerMinute: 100 } })
    await t.users.createUser({ tenantId: 'default', email: 'vic@example.com', password, role: 'viewer' })
    const session = (
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'vic@example.com', password },
      })
    ).json()
    const keys: string[] = []
    for (let i = 0; i < 3; i++) {
      const created = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/keys',
        headers: bearer(session.accessToken),
        payload: { name: `k${i}`, role: 'viewer' },
      })
      expect(created.statusCode, created.body).toBe(201)
      keys.push(created.json().key)
    }
    // Three key creations used the person's 3 per minute; none of the keys gets a request through.
    for (const key of [...keys, session.accessToken]) {
      const limited = await get(key)
      expect(limited.statusCode).toBe(429)
      expect(limited.json()).toMatchObject({ code: 'rate_limited', status: 429 })
      expect(limited.json().detail).toContain('person')
    }
    expect((await get(t.keys.viewer)).statusCode).toBe(200)
  })

  it('keeps a fifth of the workspace’s capacity for owners and admins: members hammering cannot lock the owner out', async () => {
    await t.close()
    t = await createTestApp('sqlite', { rateLimits: { perKeyPerMinute: 100, perTenantPerMinute: 10 } })
    // Editors and viewers together get 8 of the workspace's 10.
    const members = [t.keys.viewer, t.keys.editor]
    let through = 0
    for (let i = 0; i < 20; i++) if ((await get(members[i % 2]!)).statusCode === 200) through++
    expect(through).toBe(8)
    const refused = await get(t.keys.viewer)
    expect(refused.statusCode).toBe(429)
    expect(refused.json()).toMatchObject({ code: 'rate_limited', status: 429 })
    expect(refused.json().detail).toContain('owners and admins')
    // The reserve: the owner and an admin still get the remaining 2.
    expect((await get(t.keys.owner)).statusCode).toBe(200)
    expect((await get(t.keys.admin)).statusCode).toBe(200)
    const full = await get(t.keys.owner)
    expect(full.statusCode).toBe(429)
    expect(full.json().detail).toContain('workspace')
  })
})
