import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { AppError } from '../errors.ts'

// Every 4xx (and the 500) path of the HTTP layer answers RFC 9457 problem+json with a stable code.

function expectProblem(response: LightMyRequestResponse, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toBe('application/problem+json')
  const body = response.json()
  expect(body).toMatchObject({ type: `https://openorch.dev/problems/${code}`, status, code })
  expect(typeof body.title).toBe('string')
  expect(typeof body.detail).toBe('string')
  expect(body.detail.length).toBeGreaterThan(0)
  expect(response.headers['x-request-id']).toBeTruthy()
  return body as { detail: string; errors?: Array<{ field: string; message: string }> }
}

describe.each(dialects)('problem responses on %s', (dialect) => {
  let t: TestApp
  let runId: string
  const captured = createCapturingLog()

  beforeAll(async () => {
    t = await createTestApp(dialect, { bodyLimitBytes: 2048, log: captured.log })
    // Routes that fail on purpose, added before the app is ready.
    t.app.get('/api/v1/test/boom', async () => {
      throw new Error('database password is hunter2')
    })
    t.app.get('/api/v1/test/app-error', async () => {
      throw new AppError('quota_exceeded', 'Your workspace used its monthly budget.', 429, {
        retryAfterMs: 1500,
      })
    })
    const created = await t.kernel.runs.enqueue({ tenantId: 'default', kind: 'noop', trigger: 'api' })
    if (created.status !== 'created') throw new Error('expected a created run')
    runId = created.run.id
  })
  afterAll(async () => {
    await t?.close()
  })

  it('answers an unknown route with 404 route_not_found, inside and outside /api/v1', async () => {
    expectProblem(await t.app.inject({ url: '/nope' }), 404, 'route_not_found')
    const inside = expectProblem(
      await t.app.inject({ method: 'DELETE', url: '/api/v1/nope?x=1', headers: bearer(t.keys.owner) }),
      404,
      'route_not_found',
    )
    expect(inside.detail).toContain('DELETE /api/v1/nope')
    expect(inside.detail).not.toContain('x=1')
  })

  it('answers a malformed JSON body with 400 malformed_json', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${runId}/retry`,
      headers: { ...bearer(t.keys.owner), 'content-type': 'application/json' },
      payload: '{"oops": ',
    })
    expectProblem(response, 400, 'malformed_json')
  })

  it('refuses JSON with prototype poisoning as malformed', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${runId}/retry`,
      headers: { ...bearer(t.keys.owner), 'content-type': 'application/json' },
      payload: '{"__proto__": {"admin": true}}',
    })
    expectProblem(response, 400, 'malformed_json')
  })

  it('answers a body that is not JSON with 415 unsupported_media_type', async () => {
    for (const contentType of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const response = await t.app.inject({
        method: 'POST',
        url: `/api/v1/runs/${runId}/cancel`,
        headers: { ...bearer(t.keys.owner), 'content-type': contentType },
        payload: 'a=1',
      })
      const problem = expectProblem(response, 415, 'unsupported_media_type')
      expect(problem.detail).toContain('application/json')
    }
  })

  it('answers a body above the configured limit with 413 payload_too_large', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${runId}/cancel`,
      headers: { ...bearer(t.keys.owner), 'content-type': 'application/json' },
      payload: JSON.stringify({ padding: 'x'.repeat(4096) }),
    })
    expectProblem(response, 413, 'payload_too_large')
  })

  it('lists every invalid field of a query in errors', async () => {
    const response = await t.app.inject({
      url: '/api/v1/runs?limit=0&status=sleeping&cursor=not-a-cursor',
      headers: bearer(t.keys.viewer),
    })
    const problem = expectProblem(response, 400, 'validation_failed')
    expect(problem.errors?.map((e) => e.field).sort()).toEqual(['cursor', 'limit', 'status'])
    for (const error of problem.errors ?? []) expect(error.message.length).toBeGreaterThan(0)
  })

  it('refuses a limit above 200 and a non-numeric one', async () => {
    for (const limit of ['201', 'ten', '1.5']) {
      const problem = expectProblem(
        await t.app.inject({ url: `/api/v1/runs?limit=${limit}`, headers: bearer(t.keys.viewer) }),
        400,
        'validation_failed',
      )
      expect(problem.errors).toEqual([expect.objectContaining({ field: 'limit' })])
    }
  })

  it('answers a missing, malformed, unknown, revoked or expired key with 401 unauthorized', async () => {
    const missing = expectProblem(await t.app.inject({ url: '/api/v1/runs' }), 401, 'unauthorized')
    expect(missing.detail).toContain('Authorization: Bearer')
    expect(missing.detail).toContain('X-API-Key')
    const basic = await t.app.inject({
      url: '/api/v1/runs',
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    })
    expect(expectProblem(basic, 401, 'unauthorized').detail).toContain('Bearer')
    expect(basic.headers['www-authenticate']).toContain('Bearer')
    expectProblem(
      await t.app.inject({ url: '/api/v1/runs', headers: bearer('oo_unknown') }),
      401,
      'unauthorized',
    )
    expectProblem(
      await t.app.inject({ url: '/api/v1/runs', headers: { 'x-api-key': 'oo_unknown' } }),
      401,
      'unauthorized',
    )

    const revoked = await t.apiKeys.createApiKey({ tenantId: 'default', name: 'revoked', role: 'owner' })
    await t.database.db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('id', '=', revoked.apiKey.id)
      .execute()
    expectProblem(
      await t.app.inject({ url: '/api/v1/runs', headers: bearer(revoked.key) }),
      401,
      'unauthorized',
    )

    const expired = await t.apiKeys.createApiKey({
      tenantId: 'default',
      name: 'expired',
      role: 'owner',
      expiresAt: t.kernel.clock.now() - 1,
    })
    expectProblem(
      await t.app.inject({ url: '/api/v1/runs', headers: bearer(expired.key) }),
      401,
      'unauthorized',
    )
  })

  it('checks the key before reading the body', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${runId}/cancel`,
      headers: { 'content-type': 'application/json' },
      payload: '{"oops": ',
    })
    expectProblem(response, 401, 'unauthorized')
  })

  it('answers a role below the route with 403 forbidden', async () => {
    const problem = expectProblem(
      await t.app.inject({
        method: 'POST',
        url: `/api/v1/runs/${runId}/cancel`,
        headers: bearer(t.keys.viewer),
      }),
      403,
      'forbidden',
    )
    expect(problem.detail).toContain('editor')
  })

  it('answers an unknown run, or another tenant’s run, with 404 run_not_found', async () => {
    expectProblem(
      await t.app.inject({
        url: '/api/v1/runs/0190d7c1-5f7e-7cc2-9a43-6f1b2c3d4e5f',
        headers: bearer(t.keys.viewer),
      }),
      404,
      'run_not_found',
    )
    expectProblem(
      await t.app.inject({ url: `/api/v1/runs/${runId}`, headers: bearer(t.keys.otherTenant) }),
      404,
      'run_not_found',
    )
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: `/api/v1/runs/${runId}/cancel`,
        headers: bearer(t.keys.otherTenant),
      }),
      404,
      'run_not_found',
    )
  })

  it('answers a transition the run does not allow with 409', async () => {
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: `/api/v1/runs/${runId}/retry`,
        headers: bearer(t.keys.editor),
      }),
      409,
      'run_not_retriable',
    )
  })

  it('answers an invalid Last-Event-ID with 400 validation_failed', async () => {
    const problem = expectProblem(
      await t.app.inject({
        url: '/api/v1/events',
        headers: { ...bearer(t.keys.viewer), 'last-event-id': 'abc' },
      }),
      400,
      'validation_failed',
    )
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'last-event-id' })])
  })

  it('renders an AppError with its own status and code, and Retry-After from retryAfterMs', async () => {
    const response = await t.app.inject({ url: '/api/v1/test/app-error', headers: bearer(t.keys.viewer) })
    const problem = expectProblem(response, 429, 'quota_exceeded')
    expect(problem.detail).toBe('Your workspace used its monthly budget.')
    expect(response.headers['retry-after']).toBe('2')
  })

  it('answers anything unexpected with 500 internal_error, without message or stack', async () => {
    const response = await t.app.inject({
      url: '/api/v1/test/boom',
      headers: { ...bearer(t.keys.viewer), 'x-request-id': 'req-boom-1' },
    })
    const problem = expectProblem(response, 500, 'internal_error')
    expect(response.body).not.toContain('hunter2')
    expect(response.body).not.toContain('at ')
    expect(problem.detail).toContain('req-boom-1')
    // The log has what the response hides, bound to the request id.
    const logged = captured.lines().find((line) => line.msg === 'request failed')
    expect(logged).toMatchObject({
      level: 50,
      reqId: 'req-boom-1',
      err: { message: 'database password is hunter2' },
    })
  })
})
