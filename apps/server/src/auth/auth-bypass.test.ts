import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'

// Lessons of our peers' advisories (n8n, Langflow, Flowise, Windmill): no route works before
// authentication, and no path variant or "internal" header gets around it.

describe('authentication cannot be bypassed', () => {
  let t: TestApp
  let botId: string
  let operations: Array<{ method: string; path: string }>

  beforeAll(async () => {
    t = await createTestApp('sqlite')
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    botId = (await t.bots.service.create('default', { name: 'Canary', prompt: 'p', provider: 'openai' })).id
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, { security?: unknown[] }>>
    }
    operations = Object.entries(document.paths)
      .filter(([p]) => p.startsWith('/api/v1/'))
      .flatMap(([p, methods]) =>
        Object.entries(methods)
          .filter(([, op]) => !(Array.isArray(op.security) && op.security.length === 0))
          .map(([method]) => ({ method: method.toUpperCase(), path: p })),
      )
  })
  afterAll(async () => {
    await t.close()
  })

  async function snapshot() {
    const count = async (
      table: 'bots' | 'runs' | 'audit_log' | 'api_keys' | 'providers' | 'run_events' | 'bot_files',
    ) =>
      Number(
        (
          await t.database.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    return {
      bots: await count('bots'),
      runs: await count('runs'),
      audit: await count('audit_log'),
      keys: await count('api_keys'),
      providers: await count('providers'),
      events: await count('run_events'),
      notes: await count('bot_files'),
      bot: JSON.stringify(await t.bots.service.get('default', botId)),
    }
  }

  it('refuses every route without a valid key before doing anything (canary: nothing changes)', async () => {
    const before = await snapshot()
    for (const { method, path: route } of operations) {
      const url = route
        .replace('{id}', botId)
        .replace('{name}', route.includes('providers') ? 'openai' : 'a.md')
      for (const headers of [
        {},
        { authorization: 'Bearer oo_not-a-key' },
        { 'x-api-key': '' },
        { authorization: 'Basic YTpi' },
      ]) {
        const response = await t.app.inject({
          method: method as 'GET',
          url,
          headers: { ...headers, 'content-type': 'application/json' },
          ...(['POST', 'PUT', 'PATCH'].includes(method)
            ? {
                payload: {
                  name: 'Injected',
                  prompt: 'p',
                  provider: 'openai',
                  content: 'x',
                  role: 'owner',
                  apiKey: 'sk-x',
                },
              }
            : {}),
        })
        expect(response.statusCode, `${method} ${url}`).toBe(401)
        expect(response.headers['content-type']).toContain('application/problem+json')
      }
    }
    expect(await snapshot()).toEqual(before)
  })

  it('gives path variants and "internal" headers no way around it', async () => {
    const variants = [
      '/api/v1/bots.svg',
      '/API/V1/BOTS',
      '/api/v1/Bots',
      '/api/v1/bots/',
      '/api/v1//bots',
      '/api/v1/%62ots',
      '/api/v1/bots;.css',
      '/api/v1/./bots',
      '/api/v1/x/../bots',
      '/api/v1/bots%2F',
      '/api/v1/bots?.js',
      '/api/v1/bots#x',
      `/api/v1/bots/${botId}/../../bots`,
    ]
    const internalHeaders = {
      'x-forwarded-for': '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-original-url': '/health',
      'x-rewrite-url': '/health',
      'x-internal': 'true',
      'x-forwarded-user': 'admin',
      host: 'localhost',
    }
    for (const url of variants) {
      for (const headers of [{}, internalHeaders]) {
        const response = await t.app.inject({ url, headers })
        expect([401, 404], `${url} ${JSON.stringify(headers).slice(0, 20)}`).toContain(response.statusCode)
        expect(response.body).not.toContain('Canary')
        expect(response.headers['content-type']).toContain('application/problem+json')
      }
    }
  })
})
