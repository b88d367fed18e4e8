import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestApp, createTestProviderService, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { AppError } from '../platform/errors.ts'
import { ProviderError } from './provider.error.ts'

const tenantId = 'default'
const key = 'sk-service-test-0123456789'

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected an AppError')
}

describe.each(dialects)('provider service on %s', (dialect) => {
  let t: TestApp
  let server: ProviderServer

  beforeEach(async () => {
    t = await createTestApp(dialect)
    server = await startProviderServer('anthropic', { apiKey: key })
  })
  afterEach(async () => {
    await server.close()
    await t.close()
  })

  const configure = () =>
    t.providers.configure(tenantId, 'anthropic', { apiKey: key, baseUrl: server.baseUrl })

  it('hands out the decrypted key to callers, and tells whether a provider is configured', async () => {
    expect(await t.providers.isConfigured(tenantId, 'anthropic')).toBe(false)
    await configure()
    expect(await t.providers.isConfigured(tenantId, 'anthropic')).toBe(true)
    expect(await t.providers.isConfigured('other', 'anthropic')).toBe(false)
    expect(await t.providers.isConfigured(tenantId, 'no-such-provider')).toBe(false)
    expect(await t.providers.credentials(tenantId, 'anthropic')).toEqual({
      name: 'anthropic',
      apiKey: key,
      baseUrl: server.baseUrl,
      defaultModel: null,
    })
  })

  it('answers 422 provider_not_configured, saying how to set it up, for a missing provider', async () => {
    const missing = await appErrorOf(t.providers.credentials(tenantId, 'mistral'))
    expect(missing.code).toBe('provider_not_configured')
    expect(missing.status).toBe(422)
    expect(missing.message).toBe(
      'Mistral is not set up in this workspace. An admin saves a key with PUT /api/v1/providers/mistral, or choose another provider.',
    )
    const unknown = await appErrorOf(t.providers.credentials(tenantId, 'openrouter'))
    expect(unknown.code).toBe('provider_not_configured')
  })

  it('says clearly when the saved key was encrypted with another master key', async () => {
    await configure()
    const other = createTestProviderService(t.database, t.kernel.clock)
    try {
      const error = await appErrorOf(other.providers.credentials(tenantId, 'anthropic'))
      expect(error.code).toBe('provider_key_unreadable')
      expect(error.message).toContain('OPENORCH_MASTER_KEY')
    } finally {
      other.cleanup()
    }
  })

  it('marks a provider failing when a run finds its key refused or out of credit, and valid again after a success', async () => {
    await configure()
    const refused = new ProviderError('provider_auth', 'refused', { provider: 'anthropic', status: 401 })
    await t.providers.recordCall(tenantId, 'anthropic', refused)
    expect(await t.providers.get(tenantId, 'anthropic')).toMatchObject({
      status: 'failing',
      lastErrorCode: 'provider_auth',
    })

    // A transient failure says nothing about the key.
    const outage = new ProviderError('provider_unavailable', 'down', { provider: 'anthropic', status: 500 })
    await t.providers.recordCall(tenantId, 'anthropic', outage)
    await t.providers.recordCall(tenantId, 'anthropic', new Error('bug'))
    expect((await t.providers.get(tenantId, 'anthropic')).lastErrorCode).toBe('provider_auth')

    const noCredit = new ProviderError('provider_quota', 'no credit', { provider: 'anthropic', status: 400 })
    await t.providers.recordCall(tenantId, 'anthropic', noCredit)
    expect((await t.providers.get(tenantId, 'anthropic')).lastErrorCode).toBe('provider_quota')

    await t.providers.recordCall(tenantId, 'anthropic')
    const valid = await t.providers.get(tenantId, 'anthropic')
    expect(valid).toMatchObject({ status: 'valid', lastErrorCode: null })
    // Further successes within a minute write nothing (a write per run was a bot run's costliest
    // statement); a failure is written at once, and the next success again.
    await new Promise((resolve) => setTimeout(resolve, 5))
    await t.providers.recordCall(tenantId, 'anthropic')
    expect((await t.providers.get(tenantId, 'anthropic')).lastCheckedAt).toBe(valid.lastCheckedAt)
    await t.providers.recordCall(tenantId, 'anthropic', refused)
    expect((await t.providers.get(tenantId, 'anthropic')).status).toBe('failing')
    await t.providers.recordCall(tenantId, 'anthropic')
    expect((await t.providers.get(tenantId, 'anthropic')).status).toBe('valid')
  })

  it('keeps created_at and moves updated_at when a provider is saved again', async () => {
    await configure()
    const first = await t.providers.get(tenantId, 'anthropic')
    await new Promise((resolve) => setTimeout(resolve, 5))
    await configure()
    const second = await t.providers.get(tenantId, 'anthropic')
    expect(second.createdAt).toBe(first.createdAt)
    expect(second.updatedAt).toBeGreaterThan(first.updatedAt)
  })

  it('gives up a key check that gets no answer, as provider_unreachable', async () => {
    const impatient = createTestProviderService(t.database, t.kernel.clock, undefined, {
      validationTimeoutMs: 200,
    })
    server.setBehaviour({ type: 'slow', delayMs: 10_000 })
    try {
      const started = Date.now()
      const error = await appErrorOf(
        impatient.providers.configure(tenantId, 'anthropic', { apiKey: key, baseUrl: server.baseUrl }),
      )
      expect(Date.now() - started).toBeLessThan(2000)
      expect(error.code).toBe('provider_unreachable')
      expect(error.message).toContain('no answer within')
      expect(await t.providers.isConfigured(tenantId, 'anthropic')).toBe(false)
    } finally {
      impatient.cleanup()
    }
  })

  it('stores Ollama without a key', async () => {
    const ollama = await startProviderServer('ollama')
    try {
      await t.providers.configure(tenantId, 'ollama', { baseUrl: `${ollama.origin}/v1/` })
      const view = await t.providers.get(tenantId, 'ollama')
      // A pasted OpenAI-compatible root still reaches /api/tags.
      expect(ollama.requests[0]!.path).toBe('/api/tags')
      expect(view).toMatchObject({
        keyHint: null,
        baseUrl: `${ollama.origin}/v1`,
        models: ['llama3.2:latest', 'qwen2.5:7b'],
      })
      const row = await t.database.db
        .selectFrom('providers')
        .selectAll()
        .where('name', '=', 'ollama')
        .executeTakeFirstOrThrow()
      expect(row.api_key_encrypted).toBeNull()
      expect((await t.providers.credentials(tenantId, 'ollama')).apiKey).toBeNull()
    } finally {
      await ollama.close()
    }
  })
})
