import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'

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
})
