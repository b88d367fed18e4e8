import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { isScrubbable, SecretScrubber, scrubValues } from '../platform/secret-scrubber.ts'

describe('secret scrubber', () => {
  const key = 'sk-proj-Zq81mXr2Lw9TbN4v'
  const longer = `${key}-and-more`

  it('scrubs the workspace’s stored secrets, longest first; a rotation replaces, a removal deletes', () => {
    const scrubber = new SecretScrubber()
    scrubber.set('a', 'provider:openai', key)
    scrubber.set('a', 'provider:mistral', longer)
    expect(scrubber.forTenant('a')(`key ${longer} and ${key}.`)).toBe('key [redacted] and [redacted].')
    // Another workspace's answers are not touched by these.
    expect(scrubber.forTenant('b')(`key ${key}`)).toBe(`key ${key}`)
    expect(scrubber.forTenant(undefined)(`key ${key}`)).toBe(`key ${key}`)
    scrubber.set('a', 'provider:openai', 'sk-proj-Rotated7Hq2Xw9Ln3P')
    expect(scrubber.forTenant('a')(`old ${key}x`)).toBe(`old ${key}x`.replace(longer, '[redacted]'))
    expect(scrubber.scrub(`old ${key}.`)).toBe(`old ${key}.`)
    scrubber.set('a', 'provider:openai', null)
    scrubber.set('a', 'provider:mistral', null)
    expect(scrubber.size).toBe(0)
  })

  it('registers only values that look like secrets: long enough and varied', () => {
    const scrubber = new SecretScrubber()
    const ids = [
      '01a23ede-1a73-736d-90a0-dbe57a6293a3',
      'F47AC10B-58CC-4372-A567-0E02B2C3D479',
      'owner.name@example.com',
      // Pieces of an id and ids in context (the outside attack's way round a whole-id rule).
      '01a23ede-1a73-736d-90a0-dbe5',
      '1a73-736d-90a0-dbe57a6293a3',
      'urn:uuid:01a23ede-1a73-736d-90a0-dbe57a6293a3',
      'sk-01a23ede-1a73-736d-90a0-dbe57a6293a3',
    ]
    for (const value of [
      '{"items":[',
      'short-key-12',
      'a'.repeat(40),
      'abababababababababab',
      '',
      null,
      ...ids,
    ]) {
      scrubber.set('a', 'provider:openai', value)
      expect(isScrubbable(value)).toBe(false)
      expect(scrubber.size).toBe(0)
    }
    expect(isScrubbable(key)).toBe(true)
    // Plain hex keys (a hash, an Azure key) are no id: they still register.
    expect(isScrubbable('9f86d081884c7d659a2feaa0c55ad015')).toBe(true)
  })

  it('never rewrites a UUID in a text, whatever a registered value begins or ends with', () => {
    const id = '01a23ee5-a887-7401-8f27-21e617d4314e'
    const scrubber = new SecretScrubber()
    // Values that pass as secrets yet overlap an id in a URL: the id's tail, the id's head.
    scrubber.set('a', 'provider:openai', `${id.slice(-6)}/disable?x=Q7`)
    scrubber.set('a', 'provider:google', `/users/${id.slice(0, 13)}`)
    scrubber.set('a', 'provider:anthropic', key)
    expect(scrubber.size).toBe(3)
    const url = `/api/v1/users/${id}/disable?x=Q7`
    for (const scrub of [scrubber.forTenant('a'), (text: string) => scrubber.scrub(text)])
      expect(scrub(`${url} ${key}`)).toBe(`${url} [redacted]`)
    // Away from an id the same value is scrubbed.
    expect(scrubber.scrub('/users/01a23ee5-a887 and x')).toBe('[redacted] and x')
  })

  it('replaces inside string values only, never keys or structure', () => {
    const scrub = (text: string) => text.replaceAll(key, '[redacted]')
    const answer = { items: [{ name: `a ${key}`, n: 1, ok: true, at: null }], [key]: 'kept as a key' }
    const scrubbed = scrubValues(answer, scrub)
    expect(scrubbed).toEqual({
      items: [{ name: 'a [redacted]', n: 1, ok: true, at: null }],
      [key]: 'kept as a key',
    })
    expect(answer.items[0]?.name).toBe(`a ${key}`)
    // Nothing to replace: the very same object, not a copy.
    const clean = { items: [{ name: 'x' }] }
    expect(scrubValues(clean, scrub)).toBe(clean)
  })

  it('matches in linear time over many secrets (the prefix index), with the same result', () => {
    const scrubber = new SecretScrubber()
    const secrets = Array.from(
      { length: 500 },
      (_, i) => `sk-${i.toString(36).padStart(4, '0')}-Xq7mW2pLz9Tb${i}`,
    )
    for (const [i, secret] of secrets.entries()) scrubber.set(`t${i}`, 'provider:openai', secret)
    expect(scrubber.size).toBe(500)
    const text = `${'x'.repeat(1000)} ${secrets[7]} ${'{"items":['.repeat(50)} ${secrets[499]}`
    expect(scrubber.scrub(text)).toBe(`${'x'.repeat(1000)} [redacted] ${'{"items":['.repeat(50)} [redacted]`)
    // A secret stored by two workspaces stays registered until both are gone.
    scrubber.set('u', 'provider:openai', secrets[7])
    scrubber.set('t7', 'provider:openai', null)
    expect(scrubber.scrub(secrets[7]!)).toBe('[redacted]')
    scrubber.set('u', 'provider:openai', null)
    expect(scrubber.scrub(secrets[7]!)).toBe(secrets[7])
  })

  it('scrubs log fields inside string values and errors, never identity fields', () => {
    const scrubber = new SecretScrubber()
    scrubber.set('a', 'provider:openai', key)
    const fields = scrubber.scrubLogFields({
      tenantId: key,
      userId: key,
      by: `user:${key}`,
      actorId: key,
      actorRole: key,
      nextCursor: key,
      detail: `upstream said ${key}`,
      err: new Error(`Incorrect API key provided: ${key}`),
    })
    expect(fields.tenantId).toBe(key)
    expect(fields.userId).toBe(key)
    for (const field of ['actorId', 'actorRole', 'nextCursor']) expect(fields[field], field).toBe(key)
    expect(fields.by).toBe(`user:${key}`)
    expect(fields.detail).toBe('upstream said [redacted]')
    expect((fields.err as { message: string }).message).toBe('Incorrect API key provided: [redacted]')
  })
})

// Upstream APIs quote the key they refused ("Incorrect API key provided: sk-…"): that quote must not
// reach an answer, a stored run error, a run log or a log line.
describe.each(dialects)('provider keys never leak on %s', (dialect) => {
  const goodKey = `sk-leaktest-good-${dialect}-0123456789`
  const badKey = `sk-leaktest-bad-${dialect}-0123456789`
  let t: TestApp
  let server: ProviderServer
  const captured = createCapturingLog()

  beforeEach(async () => {
    t = await createTestApp(dialect, { log: captured.log })
    server = await startProviderServer('openai', { apiKey: goodKey, models: ['gpt-4o-mini'] })
  })
  afterEach(async () => {
    await server.close()
    await t.close()
  })

  const echo = (key: string, status = 401) => ({
    type: 'raw' as const,
    status,
    body: {
      error: {
        message: `Incorrect API key provided: ${key}.`,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
      },
    },
  })

  it('keeps a refused key out of the answer, the run, its log and every log line', async () => {
    server.setBehaviour(echo(badKey))
    const refused = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: badKey, baseUrl: server.baseUrl },
    })
    expect(refused.statusCode).toBe(422)
    expect(refused.json().code).toBe('provider_auth')

    server.setBehaviour({ type: 'success' })
    const saved = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: goodKey, baseUrl: server.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(saved.statusCode).toBe(200)
    // A 500 whose body quotes the key: the run's error quotes what the provider said.
    server.setBehaviour(echo(goodKey, 500))
    t.startKernel()
    const bot = await t.bots.service.create('default', {
      name: 'Leak',
      prompt: 'p',
      provider: 'openai',
      maxRetries: 0,
    })
    const queued = await t.bots.service.runNow('default', bot.id, { trigger: 'manual' })
    if (queued.status === 'dropped') throw new Error('dropped')
    await waitFor(async () => (await t.kernel.runs.get('default', queued.run.id)).status === 'failed', {
      what: 'the run to fail',
    })

    const answers = [
      refused.body,
      saved.body,
      (await t.app.inject({ url: `/api/v1/runs/${queued.run.id}`, headers: bearer(t.keys.viewer) })).body,
      (await t.app.inject({ url: `/api/v1/runs/${queued.run.id}/log`, headers: bearer(t.keys.viewer) })).body,
      (await t.app.inject({ url: '/api/v1/providers', headers: bearer(t.keys.viewer) })).body,
      (await t.app.inject({ url: '/api/v1/audit', headers: bearer(t.keys.admin) })).body,
    ]
    const logs = JSON.stringify(captured.lines())
    const stored = JSON.stringify(await t.database.db.selectFrom('runs').selectAll().execute())
    for (const key of [goodKey, badKey]) {
      for (const answer of answers) expect(answer).not.toContain(key)
      expect(logs).not.toContain(key)
      expect(stored).not.toContain(key)
    }
    expect(answers[2]).toContain('[redacted]')
  })
})
