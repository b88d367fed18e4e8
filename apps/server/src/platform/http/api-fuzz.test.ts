import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../../test/app-harness.ts'

// Issue 5: requests derived from the OpenAPI document, mangled — random JSON bodies, hostile query
// values, odd path parameters — must never produce a 5xx, and every error must be problem+json.

interface Operation {
  method: string
  path: string
  query: string[]
  hasBody: boolean
}

const hostileStrings = fc.oneof(
  fc.string(),
  fc.constantFrom(
    '',
    ' ',
    '-1',
    '1e309',
    'NaN',
    'null',
    '[]',
    '{}',
    '../../etc/passwd',
    '%00',
    '💥',
    'a'.repeat(5000),
  ),
)

describe('API fuzz from the OpenAPI document', () => {
  let t: TestApp
  let operations: Operation[]
  let botId: string

  beforeAll(async () => {
    t = await createTestApp('sqlite')
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    botId = (await t.bots.service.create('default', { name: 'Fuzz', prompt: 'p', provider: 'openai' })).id
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<string, { parameters?: Array<{ in: string; name: string }>; requestBody?: unknown }>
      >
    }
    operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/api/v1/') && path !== '/api/v1/events')
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({
          method: method.toUpperCase(),
          path,
          query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
          hasBody: op.requestBody !== undefined,
        })),
      )
  })
  afterAll(async () => {
    await t.close()
  })

  it('answers every mangled request without a 5xx, and every error as problem+json', async () => {
    expect(operations.length).toBeGreaterThan(20)
    for (const op of operations) {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            body: fc.oneof(
              fc.jsonValue({ maxDepth: 4 }),
              fc.dictionary(hostileStrings, fc.jsonValue({ maxDepth: 2 })),
            ),
            query: fc.dictionary(
              fc.constantFrom(...op.query, 'limit', 'cursor', '__proto__'),
              hostileStrings,
              { maxKeys: 4 },
            ),
            id: fc.oneof(
              fc.constant(botId),
              hostileStrings.filter((s) => s.length > 0),
            ),
          }),
          async ({ body, query, id }) => {
            const url = new URL(
              `http://x${op.path.replace('{id}', encodeURIComponent(id)).replace('{name}', encodeURIComponent(id))}`,
            )
            for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value)
            const response = await t.app.inject({
              method: op.method as 'GET',
              url: `${url.pathname}${url.search}`,
              headers: {
                ...bearer(t.keys.owner),
                ...(op.hasBody ? { 'content-type': 'application/json' } : {}),
              },
              ...(op.hasBody ? { payload: JSON.stringify(body) } : {}),
            })
            const where = `${op.method} ${url.pathname}${url.search}`
            expect(response.statusCode, where).toBeLessThan(500)
            if (response.statusCode >= 400)
              expect(response.headers['content-type'], where).toContain('application/problem+json')
          },
        ),
        { numRuns: 12 },
      )
    }
  }, 120_000)

  it('rejects prototype-polluting keys and deeply nested JSON with 400 problem+json', async () => {
    for (const payload of [
      '{"__proto__":{"role":"owner"},"name":"x","prompt":"p","provider":"openai"}',
      '{"constructor":{"prototype":{"admin":true}},"name":"x","prompt":"p","provider":"openai"}',
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
    ]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/bots',
        headers: { ...bearer(t.keys.owner), 'content-type': 'application/json' },
        payload,
      })
      expect(response.statusCode, payload.slice(0, 40)).toBe(400)
      expect(response.headers['content-type']).toContain('application/problem+json')
    }
    expect(({} as Record<string, unknown>).role).toBeUndefined()
  })

  it('answers router-level refusals as problem+json too: a broken %-encoding, an overlong path part', async () => {
    const broken = await t.app.inject({ url: '/api/v1/runs/%E0%A4%A', headers: bearer(t.keys.owner) })
    expect(broken.statusCode).toBe(400)
    expect(broken.headers['content-type']).toBe('application/problem+json')
    expect(broken.json().code).toBe('bad_url')
    const long = await t.app.inject({ url: `/api/v1/runs/${'a'.repeat(500)}`, headers: bearer(t.keys.owner) })
    expect(long.statusCode).toBe(414)
    expect(long.json().code).toBe('uri_too_long')
  })
})
