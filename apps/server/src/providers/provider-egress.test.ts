import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'

// Issue 11 item 3 through the API: a provider base URL is outside input. The test app opens loopback
// (its provider stand-ins listen there), as an operator would with OPENORCH_EGRESS_ALLOW; everything
// else private stays closed.

describe.each(dialects)('provider base URLs go through the egress guard on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(() => t.close())

  const put = (payload: Record<string, unknown>, name = 'openai') =>
    t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${name}`,
      headers: bearer(t.keys.admin),
      payload,
    })

  it('refuses cloud metadata and private addresses with 400 egress_refused, saying what to set', async () => {
    for (const baseUrl of ['http://169.254.169.254/v1', 'http://10.0.0.1/v1', 'http://[fd00:ec2::254]/v1']) {
      const answer = await put({ apiKey: 'sk-egress-test-Xq7mW2pLz9Tb', baseUrl })
      expect(answer.statusCode, baseUrl).toBe(400)
      expect(answer.json()).toMatchObject({
        code: 'egress_refused',
        detail: expect.stringContaining('OPENORCH_EGRESS_ALLOW'),
      })
    }
    const ollama = await put({ baseUrl: 'http://169.254.169.254' }, 'ollama')
    expect(ollama.json().code).toBe('egress_refused')
    const list = await t.app.inject({ url: '/api/v1/providers', headers: bearer(t.keys.viewer) })
    expect(list.json().items).toEqual([])
  })

  it('refuses a query, a fragment or credentials in the base URL before any call', async () => {
    for (const [baseUrl, words] of [
      ['https://api.example.com/v1?', 'query'],
      ['https://api.example.com/v1?x=1', 'query'],
      ['https://api.example.com/v1#', 'fragment'],
      ['https://user:pass@api.example.com/v1', 'user name or password'],
    ] as const) {
      const answer = await put({ apiKey: 'sk-egress-test-Xq7mW2pLz9Tb', baseUrl })
      expect(answer.statusCode, baseUrl).toBe(400)
      expect(answer.json()).toMatchObject({
        code: 'validation_failed',
        errors: [{ field: 'baseUrl', message: expect.stringContaining(words) }],
      })
    }
  })

  it('fails a run whose saved base URL is refused, once and for good (not retried)', async () => {
    // Saved before the guard existed (or the allow list narrowed since).
    const now = Date.now()
    await t.database.db
      .insertInto('providers')
      .values({
        tenant_id: 'default',
        name: 'ollama',
        api_key_encrypted: null,
        key_hint: null,
        base_url: 'http://169.254.169.254',
        default_model: 'llama3.2',
        models: '[]',
        status: 'valid',
        last_error_code: null,
        last_checked_at: now,
        created_at: now,
        updated_at: now,
      })
      .execute()
    t.startKernel()
    const bot = await t.bots.service.create('default', {
      name: 'Metadata reader',
      prompt: 'p',
      provider: 'ollama',
      maxRetries: 3,
    })
    const queued = await t.bots.service.runNow('default', bot.id, { trigger: 'manual' })
    if (queued.status === 'dropped') throw new Error('dropped')
    await waitFor(async () => (await t.kernel.runs.get('default', queued.run.id)).status === 'failed', {
      what: 'the run to fail',
    })
    const run = await t.kernel.runs.get('default', queued.run.id)
    expect(run.attempt).toBe(1)
    expect(run.error).toMatchObject({ code: 'egress_refused', retryable: false })
  })
})
