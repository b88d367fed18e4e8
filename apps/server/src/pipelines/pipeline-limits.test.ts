import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'

// The workspace's limits hold for pipelines as for bots (found by the outsider's attack on issue 15):
// a schedule that fires more often than the workspace may is refused, a schedule that does not parse
// is a 400 naming the field (it was a 500), and a run input past the input limit is refused before
// it is copied into the first steps' runs. Two edits at once do not make a 500 either.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'

describe.each(dialects)('pipeline limits on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  it('refuses a too-frequent or invalid schedule and an input past the limit', async () => {
    t = await createTestApp(dialect, { quotas: { minScheduleSeconds: 3600, inputBytes: 1000 } })
    const call = (method: string, url: string, payload?: object) =>
      t.app.inject({
        method: method as 'POST',
        url: `/api/v1${url}`,
        headers: bearer(t.keys.editor),
        ...(payload ? { payload } : {}),
      })
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 0 })
    await t.providers.configure(tenantId, 'openai', {
      apiKey: key,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    const bot = await t.bots.service.create(tenantId, {
      name: 'Writer',
      prompt: 'Write.',
      provider: 'openai',
    })
    const steps = [{ key: 'write', bot: bot.id }]

    const often = await call('POST', '/pipelines', { name: 'Often', schedule: '@every 1s', steps })
    expect(often.statusCode, often.body).toBe(409)
    expect(often.json()).toMatchObject({ code: 'quota_exceeded', quota: 'min_schedule_seconds' })

    const invalid = await call('POST', '/pipelines', { name: 'Broken', schedule: 'not a schedule', steps })
    expect(invalid.statusCode, invalid.body).toBe(400)
    expect(invalid.json().errors).toEqual([expect.objectContaining({ field: 'schedule' })])

    const hourly = await call('POST', '/pipelines', { name: 'Hourly', schedule: '0 * * * *', steps })
    expect(hourly.statusCode, hourly.body).toBe(201)
    const id = hourly.json().id as string
    const faster = await call('PATCH', `/pipelines/${id}`, { schedule: '*/5 * * * *' })
    expect(faster.statusCode, faster.body).toBe(409)
    expect((await call('GET', `/pipelines/${id}`)).json().schedule).toBe('0 * * * *')

    const big = await call('POST', `/pipelines/${id}/runs`, { input: 'x'.repeat(5_000) })
    expect(big.statusCode, big.body).toBe(409)
    expect(big.json()).toMatchObject({ code: 'quota_exceeded', quota: 'input_bytes' })
    const small = await call('POST', `/pipelines/${id}/runs`, { input: 'Nike Air Max 90' })
    expect(small.statusCode, small.body).toBe(202)

    // Two edits at once: one is saved as the next version, the other is told to load it again (not a 500).
    const edits = await Promise.all([
      call('PATCH', `/pipelines/${id}`, { description: 'first' }),
      call('PATCH', `/pipelines/${id}`, { description: 'second' }),
    ])
    const codes = edits.map((edit) => edit.statusCode).sort()
    expect(codes.length).toBe(2)
    for (const edit of edits)
      if (edit.statusCode !== 200) expect(edit.json()).toMatchObject({ code: 'pipeline_changed' })
    expect(codes[0]).toBe(200)
    const versions = (await call('GET', `/pipelines/${id}/versions`)).json().items as Array<{
      version: number
    }>
    expect(versions.map((v) => v.version).sort()).toEqual(codes[1] === 200 ? [1, 2, 3] : [1, 2])
  })
})
