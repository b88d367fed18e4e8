import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../../test/app-harness.ts'

// Every route the router serves is in the OpenAPI document (issue 5: a route missing from the
// document fails here), so the role, tenant and fuzz tests that walk the document see every route.
describe('route inventory', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp('sqlite')
    await t.app.ready()
  })
  afterAll(async () => {
    await t.close()
  })

  it('documents every route the router serves, and documents no route that does not exist', async () => {
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>
    }
    const documented = new Set(
      Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    )
    const served = new Set(
      t.app.routeInventory
        .filter((route) => !route.hidden && route.method !== 'HEAD' && !route.url.startsWith('/docs'))
        .map((route) => `${route.method} ${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`),
    )
    expect([...served].filter((route) => !documented.has(route))).toEqual([])
    expect([...documented].filter((route) => !served.has(route))).toEqual([])
    expect(served.size).toBeGreaterThan(20)
  })

  it('documents the 503 of a database outage on every API operation', async () => {
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>
    }
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ route: `${method} ${path}`, operation })),
    )
    expect(operations.length).toBeGreaterThan(20)
    // /health and /metrics answer without the database (a failed gauge read is logged, not raised).
    const without = operations
      .filter(({ route }) => route !== 'get /health' && route !== 'get /metrics')
      .filter(({ operation }) => !operation.responses['503']?.description)
      .map(({ route }) => route)
    expect(without).toEqual([])
  })
})
