import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  createCapturingLog,
  createTestApp,
  createTestDatabaseWithRetry,
  createTestProviderService,
  type TestApp,
} from '../test/app-harness.ts'
import { dialects } from '../test/databases.ts'
import { createTestKernel, testLog, waitFor } from '../test/kernel-harness.ts'
import { buildApp } from './app.ts'
import { migrations } from './migrations/index.ts'
import { createMetrics } from './platform/metrics.ts'

describe.each(dialects)('app on %s', (dialect) => {
  let t: TestApp
  const captured = createCapturingLog()

  beforeAll(async () => {
    t = await createTestApp(dialect, { log: captured.log, defaultMetrics: true })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('answers /health without a key', async () => {
    const response = await t.app.inject({ url: '/health' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it('answers /ready with 200 when the database answers and the schema is current', async () => {
    // Kysely lists the tables of every schema to read the migration state; a parallel test dropping
    // its schema at that moment makes one read fail (503, then fine): ask until it answers.
    const response = await waitFor(
      async () => {
        const answer = await t.app.inject({ url: '/ready' })
        return answer.statusCode === 200 ? answer : undefined
      },
      { timeoutMs: 5000, what: '/ready to answer 200' },
    )
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } })
  })

  it('serves the OpenAPI 3.1 document without a key, generated from the contracts', async () => {
    const response = await t.app.inject({ url: '/api/v1/openapi.json' })
    expect(response.statusCode).toBe(200)
    const doc = response.json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/health',
        '/ready',
        '/metrics',
        '/api/v1/runs',
        '/api/v1/runs/dead-letters',
        '/api/v1/runs/{id}',
        '/api/v1/runs/{id}/cancel',
        '/api/v1/runs/{id}/retry',
        '/api/v1/events',
      ]),
    )
    expect(doc.paths['/api/v1/openapi.json']).toBeUndefined()
    expect(Object.keys(doc.paths).some((path: string) => path.startsWith('/docs'))).toBe(false)
    expect(doc.components.schemas.Run.required).toEqual(
      expect.arrayContaining(['id', 'botId', 'status', 'trigger', 'input', 'output', 'outputHash', 'isNew']),
    )
    expect(doc.components.schemas.Problem.required).toEqual(['type', 'title', 'status', 'detail', 'code'])
    expect(
      doc.paths['/api/v1/runs/{id}'].get.responses['404'].content['application/problem+json'].schema,
    ).toEqual({
      $ref: '#/components/schemas/Problem',
    })
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }])
    expect(doc.paths['/health'].get.security).toEqual([])
    const limit = doc.paths['/api/v1/runs'].get.parameters.find((p: { name: string }) => p.name === 'limit')
    expect(limit.schema).toMatchObject({ minimum: 1, maximum: 200, default: 50 })
    // Every $ref resolves.
    const refs = [...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!)
    for (const ref of refs) expect(doc.components.schemas[ref], ref).toBeDefined()
  })

  it('serves the docs UI at /docs', async () => {
    const response = await t.app.inject({ url: '/docs' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('text/html')
  })

  it('echoes a safe x-request-id, replaces an unsafe one and binds it to the request log lines', async () => {
    const echoed = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'trace-abc.123' } })
    expect(echoed.headers['x-request-id']).toBe('trace-abc.123')
    const unsafe = await t.app.inject({
      url: '/health',
      headers: { 'x-request-id': 'bad id\twith "quotes"' },
    })
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const tooLong = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'x'.repeat(500) } })
    expect(tooLong.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const none = await t.app.inject({ url: '/nope' })
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    const lines = captured.lines().filter((line) => line.reqId === 'trace-abc.123')
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['incoming request', 'request completed']),
    )
  })

  it('never logs the API key', async () => {
    await t.app.inject({ url: '/api/v1/runs', headers: bearer(t.keys.viewer) })
    await t.app.inject({ url: '/api/v1/runs', headers: { 'x-api-key': t.keys.viewer } })
    const text = captured
      .lines()
      .map((line) => JSON.stringify(line))
      .join('\n')
    expect(text).not.toContain(t.keys.viewer)
  })

  it('exposes Prometheus metrics: runs by status, queue depth, request durations by route pattern, process metrics', async () => {
    for (let i = 0; i < 3; i++)
      await t.kernel.runs.enqueue({ tenantId: 'default', kind: 'noop', trigger: 'api' })
    const created = await t.kernel.runs.enqueue({ tenantId: 'default', kind: 'noop', trigger: 'api' })
    if (created.status !== 'created') throw new Error('expected a created run')
    await t.kernel.runs.cancel('default', created.run.id)
    await t.app.inject({ url: `/api/v1/runs/${created.run.id}`, headers: bearer(t.keys.viewer) })
    await t.app.inject({ url: '/no/such/route/42' })

    const response = await t.app.inject({ url: '/metrics' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('text/plain')
    const text = response.body
    expect(text).toMatch(/^openorch_runs\{status="pending"\} 3$/m)
    expect(text).toMatch(/^openorch_runs\{status="cancelled"\} 1$/m)
    expect(text).toMatch(/^openorch_runs\{status="completed"\} 0$/m)
    expect(text).toMatch(/^openorch_queue_depth 3$/m)
    expect(text).toMatch(
      /^openorch_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/runs\/:id",status_code="200"\} 1$/m,
    )
    expect(text).toContain('route="unmatched",status_code="404"')
    expect(text).not.toContain(created.run.id)
    expect(text).not.toContain('/no/such/route')
    expect(text).toContain('process_cpu_user_seconds_total')
    expect(text).toContain('nodejs_eventloop_lag_seconds')
  })
})

describe.each(dialects)('readiness on %s', (dialect) => {
  it('answers 503 not_ready when a migration is pending, and when the database is gone', async () => {
    const testDb = await createTestDatabaseWithRetry(dialect)
    const database = await testDb.open()
    const kernel = createTestKernel(database)
    const vaulted = createTestProviderService(database, kernel.clock)
    const app = await buildApp({
      database,
      kernel,
      bus: kernel.bus,
      clock: kernel.clock,
      log: testLog,
      config: { bodyLimitBytes: 1024 },
      metrics: createMetrics({ defaultMetrics: false }),
      migrations: { ...migrations, '9999-from-the-future': migrations['0001-foundation']! },
      providers: vaulted.providers,
    })
    try {
      // Reading the migration state can trip over another test file dropping its schema (see the harness).
      let pending = await app.inject({ url: '/ready' })
      for (let i = 0; i < 3 && pending.json().detail === 'Could not read the migration state.'; i++) {
        pending = await app.inject({ url: '/ready' })
      }
      expect(pending.statusCode).toBe(503)
      expect(pending.headers['content-type']).toBe('application/problem+json')
      expect(pending.json()).toMatchObject({ code: 'not_ready', status: 503 })
      expect(pending.json().detail).toContain('9999-from-the-future')

      await kernel.bus.close()
      await database.close()
      const gone = await app.inject({ url: '/ready' })
      expect(gone.statusCode).toBe(503)
      expect(gone.json()).toMatchObject({ code: 'not_ready' })
      // Metrics keep answering while the database is down.
      const metrics = await app.inject({ url: '/metrics' })
      expect(metrics.statusCode).toBe(200)
      // Liveness does not depend on the database.
      expect((await app.inject({ url: '/health' })).statusCode).toBe(200)
    } finally {
      await app.close()
      await testDb.cleanup()
      vaulted.cleanup()
    }
  })
})

describe.each(dialects)('shutdown on %s', (dialect) => {
  it('answers requests that arrive while the app closes with 503 shutting_down problem+json', async () => {
    const t = await createTestApp(dialect)
    let release!: () => void
    let holding!: () => void
    const held = new Promise<void>((resolve) => {
      holding = resolve
    })
    // Holds the close in its pre-close phase, where the server still accepts connections.
    t.app.addHook(
      'preClose',
      () =>
        new Promise<void>((resolve) => {
          release = resolve
          holding()
        }),
    )
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const port = (t.app.server.address() as AddressInfo).port
    const closing = t.app.close()
    try {
      await held
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      expect(response.status).toBe(503)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
      expect(response.headers.get('connection')).toBe('close')
      expect(response.headers.get('retry-after')).toBe('1')
      expect(await response.json()).toMatchObject({ code: 'shutting_down', status: 503 })
    } finally {
      release()
      await closing
      await t.close()
    }
  })
})

describe('several apps in one process', () => {
  it('keep their own metrics registries', async () => {
    const first = await createTestApp('sqlite')
    const second = await createTestApp('sqlite')
    try {
      await first.app.inject({ url: '/health' })
      const a = await first.app.inject({ url: '/metrics' })
      const b = await second.app.inject({ url: '/metrics' })
      expect(a.body).toContain('route="/health"')
      expect(b.body).not.toContain('route="/health"')
    } finally {
      await first.close()
      await second.close()
    }
  })
})
