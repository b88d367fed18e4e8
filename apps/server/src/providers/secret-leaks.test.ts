import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { SecretScrubber } from '../platform/secret-scrubber.ts'

describe('secret scrubber', () => {
  it('replaces every registered secret, longest first, and ignores short or empty values', () => {
    const scrubber = new SecretScrubber()
    scrubber.add('sk-abcdefgh12345678')
    scrubber.add('sk-abcdefgh')
    scrubber.add('short')
    scrubber.add(null)
    expect(scrubber.scrub('key sk-abcdefgh12345678 and sk-abcdefgh, short stays')).toBe(
      'key [redacted] and [redacted], short stays',
    )
    expect(new SecretScrubber().scrub('nothing to do')).toBe('nothing to do')
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
