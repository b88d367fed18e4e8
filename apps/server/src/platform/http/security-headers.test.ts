import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'
import { loadConfig } from '../config.ts'

describe('browser safety', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('sends a load-nothing CSP, frame denial, nosniff, no referrer and no-store on API and probe answers', async () => {
    t = await createTestApp('sqlite')
    for (const response of [
      await t.app.inject({ url: '/api/v1/runs', headers: bearer(t.keys.viewer) }),
      await t.app.inject({ url: '/api/v1/runs' }),
      await t.app.inject({ url: '/api/v1/nope', headers: bearer(t.keys.viewer) }),
      await t.app.inject({ url: '/health' }),
    ]) {
      expect(response.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'")
      expect(response.headers['x-frame-options']).toBe('DENY')
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(response.headers['referrer-policy']).toBe('no-referrer')
      expect(response.headers['cache-control']).toBe('no-store')
    }
  })

  it('keeps CORS closed by default: no origin is allowed, preflight or not', async () => {
    t = await createTestApp('sqlite')
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/runs',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    })
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined()
    const simple = await t.app.inject({
      url: '/api/v1/runs',
      headers: { ...bearer(t.keys.viewer), origin: 'https://evil.example' },
    })
    expect(simple.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('allows exactly the configured origins, without credentials', async () => {
    t = await createTestApp('sqlite', { corsOrigins: ['https://app.example.com'] })
    const allowed = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/runs',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    })
    expect(allowed.statusCode).toBe(204)
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(allowed.headers['access-control-allow-credentials']).toBeUndefined()
    const other = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/runs',
      headers: { origin: 'https://app.example.com.evil.example', 'access-control-request-method': 'GET' },
    })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('reads OPENORCH_CORS_ORIGINS as a list of origins and names it when an entry is not one', () => {
    expect(
      loadConfig({ OPENORCH_CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).http.corsOrigins,
    ).toEqual(['https://a.example', 'http://localhost:5173'])
    expect(loadConfig({}).http.corsOrigins).toEqual([])
    for (const bad of ['ftp://a.example', 'https://a.example/path', 'not a url'])
      expect(() => loadConfig({ OPENORCH_CORS_ORIGINS: bad }), bad).toThrow(/OPENORCH_CORS_ORIGINS/)
  })
})
