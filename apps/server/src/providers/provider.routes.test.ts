import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { providerPageSchema, providerSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { type ProviderName, providerNames } from './provider.types.ts'

const openAiKey = 'sk-proj-test0123456789abcdef3456'

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe.each(dialects)('providers API on %s', (dialect) => {
  let t: TestApp
  let server: ProviderServer
  const captured = createCapturingLog()

  beforeEach(async () => {
    t = await createTestApp(dialect, { log: captured.log })
    server = await startProviderServer('openai', { apiKey: openAiKey, models: ['gpt-4o', 'gpt-4o-mini'] })
  })
  afterEach(async () => {
    await server.close()
    await t.close()
  })

  const put = (name: string, body: unknown, key = t.keys.admin) =>
    t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${name}`,
      headers: bearer(key),
      payload: body as object,
    })
  const get = (url: string, key = t.keys.viewer) => t.app.inject({ url, headers: bearer(key) })
  const del = (name: string, key = t.keys.admin) =>
    t.app.inject({ method: 'DELETE', url: `/api/v1/providers/${name}`, headers: bearer(key) })

  it('validates the key with the model list, saves it and answers the models', async () => {
    const response = await put('openai', {
      apiKey: openAiKey,
      baseUrl: server.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ valid: true, models: ['gpt-4o', 'gpt-4o-mini'] })
    expect(server.requests).toHaveLength(1)
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: '/v1/models' })
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${openAiKey}`)

    const listed = providerPageSchema.parse((await get('/api/v1/providers')).json())
    expect(listed.nextCursor).toBeNull()
    expect(listed.items).toEqual([
      {
        name: 'openai',
        label: 'OpenAI',
        status: 'valid',
        keyHint: 'sk-…3456',
        baseUrl: server.baseUrl,
        defaultModel: 'gpt-4o-mini',
        models: ['gpt-4o', 'gpt-4o-mini'],
        lastCheckedAt: expect.any(String),
        lastErrorCode: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ])
    const one = providerSchema.parse((await get('/api/v1/providers/openai')).json())
    expect(one.keyHint).toBe('sk-…3456')
  })

  it('never returns or logs the key', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    await put('openai', { apiKey: 'sk-wrong-0123456789abcdef', baseUrl: server.baseUrl })
    for (const url of ['/api/v1/providers', '/api/v1/providers/openai', '/api/v1/openapi.json']) {
      const body = (await get(url)).body
      expect(body).not.toContain(openAiKey)
      expect(body).not.toContain('0123456789abcdef')
    }
    const logged = JSON.stringify(captured.lines())
    expect(logged).not.toContain('0123456789abcdef')
    expect(logged).toContain('provider configured')
  })

  it('keeps the key encrypted in the database', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    const row = await t.database.db.selectFrom('providers').selectAll().executeTakeFirstOrThrow()
    expect(row.api_key_encrypted).not.toContain(openAiKey)
    expect(row.api_key_encrypted).not.toContain('0123456789abcdef')
    expect(row.api_key_encrypted).toMatch(new RegExp(`^v1\\.${t.vault.keyId}\\.`))
    expect(t.vault.decrypt(row.api_key_encrypted!)).toBe(openAiKey)
  })

  it('answers 422 provider_auth with what to do when the key is refused, and saves nothing', async () => {
    const response = await put('openai', { apiKey: 'sk-wrong-key-00000000', baseUrl: server.baseUrl })
    expect(response.statusCode).toBe(422)
    expect(response.headers['content-type']).toBe('application/problem+json')
    expect(response.json()).toMatchObject({ code: 'provider_auth', status: 422 })
    expect(response.json().detail).toBe(
      'The key was refused by OpenAI (401). Create a new key at https://platform.openai.com/api-keys and save it again.',
    )
    expect((await get('/api/v1/providers')).json().items).toEqual([])
  })

  it('keeps a working key when a new one is refused', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    expect(
      (await put('openai', { apiKey: 'sk-wrong-key-00000000', baseUrl: server.baseUrl })).statusCode,
    ).toBe(422)
    const credentials = await t.providers.credentials('default', 'openai')
    expect(credentials.apiKey).toBe(openAiKey)
  })

  it('answers 422 provider_quota when the account has no credit', async () => {
    server.setBehaviour({ type: 'quota' })
    const response = await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_quota')
    expect(response.json().detail).toContain('https://platform.openai.com/settings/organization/billing')
  })

  it('answers 429 provider_rate_limited with Retry-After', async () => {
    server.setBehaviour({ type: 'rate_limited', retryAfter: '12' })
    const response = await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    expect(response.statusCode).toBe(429)
    expect(response.json().code).toBe('provider_rate_limited')
    expect(response.headers['retry-after']).toBe('12')
  })

  it('answers 422 provider_unreachable when nothing listens at the base URL', async () => {
    const base = `http://127.0.0.1:${await closedPort()}/v1`
    const response = await put('openai', { apiKey: openAiKey, baseUrl: base })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_unreachable')
    expect(response.json().detail).toContain('connection refused')
    expect(response.json().detail).toContain('https://api.openai.com/v1')
  })

  it('answers 422 provider_unreachable when the base URL lacks its version path', async () => {
    const response = await put('openai', { apiKey: openAiKey, baseUrl: server.origin })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_unreachable')
    expect(response.json().detail).toContain('404')
  })

  it('answers 422 provider_unavailable when the provider has an outage', async () => {
    server.setBehaviour({ type: 'server_error', status: 503 })
    const response = await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_unavailable')
  })

  it('keeps the saved key when apiKey is omitted and checks it again', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    const response = await put('openai', { baseUrl: server.baseUrl, defaultModel: 'gpt-4o' })
    expect(response.statusCode).toBe(200)
    expect(server.requests.at(-1)!.headers.authorization).toBe(`Bearer ${openAiKey}`)
    expect((await get('/api/v1/providers/openai')).json()).toMatchObject({
      defaultModel: 'gpt-4o',
      keyHint: 'sk-…3456',
    })
  })

  it('answers 400 validation_failed when the first PUT has no key', async () => {
    const response = await put('openai', { baseUrl: server.baseUrl })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'apiKey' }] })
    expect(response.json().detail).toContain('https://platform.openai.com/api-keys')
  })

  it('refuses a base URL that is not http(s), listing the field', async () => {
    const response = await put('openai', { apiKey: openAiKey, baseUrl: 'ftp://example.com/v1' })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([expect.objectContaining({ field: 'baseUrl' })])
  })

  it('answers 400 problem+json for an unknown provider name', async () => {
    for (const response of [
      await put('openrouter', { apiKey: openAiKey }),
      await get('/api/v1/providers/openrouter'),
    ]) {
      expect(response.statusCode).toBe(400)
      expect(response.headers['content-type']).toBe('application/problem+json')
      expect(response.json().code).toBe('validation_failed')
    }
  })

  it('deletes a provider, then answers 404 provider_not_configured', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    const deleted = await del('openai')
    expect(deleted.statusCode).toBe(204)
    expect(deleted.body).toBe('')
    expect((await get('/api/v1/providers')).json().items).toEqual([])
    for (const response of [await del('openai'), await get('/api/v1/providers/openai')]) {
      expect(response.statusCode).toBe(404)
      expect(response.json().code).toBe('provider_not_configured')
    }
  })

  it('lets viewers read, and only admins change', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    expect((await get('/api/v1/providers', t.keys.viewer)).statusCode).toBe(200)
    for (const key of [t.keys.viewer, t.keys.editor]) {
      const refused = await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl }, key)
      expect(refused.statusCode).toBe(403)
      expect(refused.json().code).toBe('forbidden')
      expect((await del('openai', key)).statusCode).toBe(403)
    }
    expect(
      (await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl }, t.keys.owner)).statusCode,
    ).toBe(200)
    expect(server.requests).toHaveLength(2) // the refused callers caused no provider call
  })

  it('needs an API key', async () => {
    const response = await t.app.inject({ url: '/api/v1/providers' })
    expect(response.statusCode).toBe(401)
  })

  it('shows another workspace nothing of this one', async () => {
    await put('openai', { apiKey: openAiKey, baseUrl: server.baseUrl })
    expect((await get('/api/v1/providers', t.keys.otherTenant)).json()).toEqual({
      items: [],
      nextCursor: null,
    })
    expect((await get('/api/v1/providers/openai', t.keys.otherTenant)).statusCode).toBe(404)
    expect((await del('openai', t.keys.otherTenant)).statusCode).toBe(404)
    expect(await t.providers.isConfigured('default', 'openai')).toBe(true)
  })
})

describe.each(dialects)('providers API on %s, every provider', (dialect) => {
  let t: TestApp
  const servers: ProviderServer[] = []

  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
    await t.close()
  })

  const keys: Record<ProviderName, string | undefined> = {
    openai: 'sk-openai-0123456789abcd',
    anthropic: 'sk-ant-api03-0123456789abcd',
    google: 'AIzaSy0123456789abcdefgh',
    mistral: 'mistral0123456789abcdef',
    ollama: undefined,
  }
  const expectedModels: Record<ProviderName, string[]> = {
    openai: ['gpt-4.1', 'gpt-4o', 'gpt-4o-mini'],
    anthropic: ['claude-3-5-haiku-20241022', 'claude-sonnet-4-20250514'],
    google: ['gemini-2.0-flash', 'gemini-2.5-flash'],
    mistral: ['mistral-large-latest', 'mistral-small-latest'],
    ollama: ['llama3.2:latest', 'qwen2.5:7b'],
  }

  it.each(providerNames)('validates a %s key with its own model list and auth header', async (name) => {
    const key = keys[name]
    const server = await startProviderServer(name, key ? { apiKey: key } : {})
    servers.push(server)
    const response = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${name}`,
      headers: bearer(t.keys.admin),
      payload: { ...(key ? { apiKey: key } : {}), baseUrl: server.baseUrl },
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ valid: true, models: expectedModels[name] })
    const listing = server.requests[0]!
    const headers = listing.headers
    switch (name) {
      case 'openai':
      case 'mistral':
        expect(listing.path).toBe('/v1/models')
        expect(headers.authorization).toBe(`Bearer ${key}`)
        break
      case 'anthropic':
        expect(listing.path).toBe('/v1/models')
        expect(headers['x-api-key']).toBe(key)
        expect(headers['anthropic-version']).toBe('2023-06-01')
        break
      case 'google':
        expect(listing.path).toBe('/v1beta/models')
        expect(headers['x-goog-api-key']).toBe(key)
        break
      case 'ollama':
        expect(listing.path).toBe('/api/tags')
        expect(headers.authorization).toBeUndefined()
        break
    }

    // What a bot then gets: the decrypted key and a working call.
    const credentials = await t.providers.credentials('default', name)
    expect(credentials).toEqual({ name, apiKey: key ?? null, baseUrl: server.baseUrl, defaultModel: null })
    const result = await t.providers.generate(credentials, {
      model: expectedModels[name][0]!,
      system: '',
      prompt: 'hi',
      signal: new AbortController().signal,
    })
    expect(result.text).toBe(`Hello from ${name}.`)
  })

  it.each(
    providerNames.filter((name) => name !== 'ollama'),
  )('answers provider_auth for a refused %s key', async (name) => {
    const server = await startProviderServer(name, { apiKey: keys[name]! })
    servers.push(server)
    const response = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${name}`,
      headers: bearer(t.keys.admin),
      payload: { apiKey: 'wrong-key-0123456789', baseUrl: server.baseUrl },
    })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_auth')
    expect(response.json().detail).toMatch(
      /^The key was refused by .+\. Create a new key at https:\/\/.+ and save it again\.$/,
    )
  })

  it.each(
    providerNames.filter((name) => name !== 'ollama'),
  )('answers provider_quota when the %s account has no credit', async (name) => {
    const server = await startProviderServer(name, { apiKey: keys[name]!, behaviour: { type: 'quota' } })
    servers.push(server)
    const response = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${name}`,
      headers: bearer(t.keys.admin),
      payload: { apiKey: keys[name], baseUrl: server.baseUrl },
    })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_quota')
  })

  it('answers provider_unreachable, naming `ollama serve`, when Ollama is not running', async () => {
    const response = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/ollama',
      headers: bearer(t.keys.admin),
      payload: { baseUrl: `http://127.0.0.1:${await closedPort()}` },
    })
    expect(response.statusCode).toBe(422)
    expect(response.json().code).toBe('provider_unreachable')
    expect(response.json().detail).toContain('ollama serve')
  })
})
