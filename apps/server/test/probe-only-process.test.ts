import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { parseMetrics, sampleOf } from './metrics-text.ts'
import { startProviderServer } from './provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// Decision 0036: a process without the `api` role (here OPENORCH_ROLES=worker) still listens on PORT,
// so it can be probed and scraped — GET /health, /ready and /metrics, the API process's own handlers
// — and answers everything else 404 `api_not_served`. It still does its work: the runs an API process
// (without the worker role) enqueues are run by it, and its /metrics counts them.

const ownerKey = 'probe-only-owner-key-0123456789ab'
const providerKey = 'sk-probe-only-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

describe.each(dialects)('a process without the api role on %s', (dialect) => {
  it('serves /health, /ready and /metrics, refuses the API with 404 api_not_served, and runs the runs', async () => {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
      behaviour: { type: 'success', text: 'Done by the worker.' },
    })
    cleanups.push(() => model.close())
    const env = { ...(await serverDatabaseEnv(dialect, cleanups)), OPENORCH_EGRESS_ALLOW: '127.0.0.1' }
    // The API process first (it migrates the database); it claims nothing.
    const api = startServerProcess({ ...env, OPENORCH_ROLES: 'api,scheduler' }, ownerKey, cleanups)
    const call = api.api(await api.url())
    const worker = startServerProcess({ ...env, OPENORCH_ROLES: 'worker' }, ownerKey, cleanups)
    const base = await worker.url()

    const health = await fetch(`${base}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok' })
    const ready = await fetch(`${base}/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } })
    expect(ready.headers.get('x-request-id')).toBeTruthy()

    for (const [method, route] of [
      ['GET', '/api/v1/bots'],
      ['POST', '/api/v1/bots'],
      ['GET', '/api/v1/openapi.json'],
      ['GET', '/docs'],
      ['GET', '/'],
      ['POST', '/health'],
    ] as const) {
      const refused = await fetch(`${base}${route}`, {
        method,
        headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      })
      expect(refused.status, `${method} ${route}`).toBe(404)
      expect(refused.headers.get('content-type')).toBe('application/problem+json')
      const problem = await refused.json()
      expect(problem).toMatchObject({ status: 404, code: 'api_not_served' })
      expect(problem.detail).toContain('OPENORCH_ROLES=worker')
      expect(problem.detail).toContain(`${method} ${route}`)
      expect(problem.detail).toContain('api role')
    }

    // Work enqueued through the API process is run by the worker-only process.
    const configured = await call('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.status, JSON.stringify(configured.json)).toBe(200)
    const bot = await call('POST', '/bots', { name: 'Worker-run', prompt: 'Go.', provider: 'openai' })
    expect(bot.status, JSON.stringify(bot.json)).toBe(201)
    const runs: string[] = []
    for (let i = 0; i < 2; i++) {
      const started = await call('POST', `/bots/${bot.json.id}/runs`, {})
      expect(started.status, JSON.stringify(started.json)).toBe(202)
      runs.push(started.json.id)
    }
    for (const id of runs) {
      const run = await waitFor(
        async () => {
          const answer = (await call('GET', `/runs/${id}`)).json
          return answer.status === 'completed' || answer.status === 'failed' ? answer : undefined
        },
        { what: `run ${id} to finish`, timeoutMs: 60_000 },
      )
      expect(run, JSON.stringify(run)).toMatchObject({
        status: 'completed',
        output: { text: 'Done by the worker.' },
      })
    }

    // Counted where the work happened: on the worker's /metrics, with the database's gauges.
    const scraped = await fetch(`${base}/metrics`)
    expect(scraped.status).toBe(200)
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/)
    const samples = parseMetrics(await scraped.text())
    expect(sampleOf(samples, 'openorch_runs_settled_total', { kind: 'bot', outcome: 'completed' })).toBe(2)
    expect(
      sampleOf(samples, 'openorch_llm_calls_total', {
        provider: 'openai',
        model: 'gpt-4o-mini',
        outcome: 'ok',
      }),
    ).toBe(2)
    expect(sampleOf(samples, 'openorch_queue_depth')).toBe(0)
    expect(sampleOf(samples, 'openorch_database_up')).toBe(1)
    const apiMetrics = parseMetrics(await (await fetch(`${await api.url()}/metrics`)).text())
    expect(sampleOf(apiMetrics, 'openorch_runs_settled_total', { kind: 'bot', outcome: 'completed' })).toBe(0)
  }, 240_000)
})
