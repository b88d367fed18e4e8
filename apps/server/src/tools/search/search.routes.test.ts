import { searchSettingsSchema, toolSetListSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { waitFor } from '../../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../../test/provider-servers/index.ts'
import { type SearchServer, startSearchServer } from '../../../test/search-servers/index.ts'

const braveKey = 'BSA-test-0123456789abcdef7788'
const modelKey = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'

describe.each(dialects)('web search set-up and the search tool set on %s', (dialect) => {
  let t: TestApp
  let brave: SearchServer
  let model: ProviderServer | undefined
  afterEach(async () => {
    await brave?.close()
    await model?.close()
    await t?.close()
  })

  const put = (payload: Record<string, unknown>, key = t.keys.admin) =>
    t.app.inject({ method: 'PUT', url: '/api/v1/tools/search', headers: bearer(key), payload })
  const listed = async () =>
    toolSetListSchema.parse(
      (await t.app.inject({ url: '/api/v1/tools', headers: bearer(t.keys.viewer) })).json(),
    ).items

  it('checks the key with a real search, keeps it encrypted and never shows it; only admins change it', async () => {
    t = await createTestApp(dialect)
    brave = await startSearchServer('brave', { apiKey: braveKey })
    expect((await listed()).find((set) => set.name === 'search')).toMatchObject({ configured: false })
    expect(
      (await t.app.inject({ url: '/api/v1/tools/search', headers: bearer(t.keys.viewer) })).statusCode,
    ).toBe(404)

    const refused = await put({
      provider: 'brave',
      apiKey: 'BSA-wrong-0123456789abcdef',
      baseUrl: brave.baseUrl,
    })
    expect(refused.statusCode).toBe(422)
    expect(refused.json()).toMatchObject({ code: 'search_unauthorized' })
    expect(await t.database.db.selectFrom('tool_settings').selectAll().execute()).toEqual([])
    expect(
      (await put({ provider: 'brave', apiKey: braveKey, baseUrl: brave.baseUrl }, t.keys.editor)).statusCode,
    ).toBe(403)
    // Cloud metadata is no search provider, whatever the admin types.
    const metadata = await put({ provider: 'searxng', baseUrl: 'http://169.254.169.254/' })
    expect(metadata.statusCode).toBe(400)
    expect(metadata.json().code).toBe('egress_refused')

    const saved = await put({ provider: 'brave', apiKey: braveKey, baseUrl: brave.baseUrl })
    expect(saved.statusCode, saved.body).toBe(200)
    expect(searchSettingsSchema.parse(saved.json())).toMatchObject({
      provider: 'brave',
      keyHint: 'BSA-…7788',
    })
    expect(saved.body).not.toContain(braveKey)
    const got = await t.app.inject({ url: '/api/v1/tools/search', headers: bearer(t.keys.viewer) })
    expect(got.json()).toMatchObject({ provider: 'brave', baseUrl: brave.baseUrl })
    expect(got.body).not.toContain(braveKey)
    const row = await t.database.db.selectFrom('tool_settings').selectAll().executeTakeFirstOrThrow()
    expect(row.secret_encrypted).not.toContain(braveKey)
    expect((await listed()).find((set) => set.name === 'search')).toMatchObject({ configured: true })
    // The key went where Brave reads it, never into a URL.
    expect(brave.requests.every((r) => !r.rawUrl.includes(braveKey))).toBe(true)

    expect(
      (await t.app.inject({ method: 'DELETE', url: '/api/v1/tools/search', headers: bearer(t.keys.admin) }))
        .statusCode,
    ).toBe(204)
    expect((await listed()).find((set) => set.name === 'search')).toMatchObject({ configured: false })
  })

  it('lets a bot search the web; without a set-up the model is told so', async () => {
    t = await createTestApp(dialect)
    brave = await startSearchServer('brave', {
      apiKey: braveKey,
      behaviour: {
        type: 'success',
        results: [
          {
            title: 'Air Max 90 <strong>sale</strong>',
            url: 'https://shop.example/air-max',
            snippet: 'Only 35 €',
          },
        ],
      },
    })
    model = await startProviderServer('openai', {
      apiKey: modelKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 1,
    })
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: '/api/v1/providers/openai',
          headers: bearer(t.keys.admin),
          payload: { apiKey: modelKey, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
        })
      ).statusCode,
    ).toBe(200)
    t.startKernel()
    const bot = await t.bots.service.create(tenantId, {
      name: 'Searcher',
      prompt: 'Find offers.',
      provider: 'openai',
      tools: ['search'],
    })
    const runOnce = async () => {
      model!.requests.length = 0
      model!.setBehaviour({
        type: 'script',
        steps: [
          {
            type: 'tool_calls',
            calls: [{ name: 'web_search', arguments: { query: 'nike air max 90', count: 3 } }],
          },
          { type: 'success', text: 'Found one.' },
        ],
      })
      const started = await t.bots.service.runNow(tenantId, bot.id, { trigger: 'manual' })
      if (started.status === 'dropped') throw new Error('dropped')
      const done = await waitFor(async () => {
        const current = await t.kernel.runs.get(tenantId, started.run.id)
        return current.status === 'completed' || current.status === 'failed' ? current : undefined
      })
      expect(done.status).toBe('completed')
      return JSON.stringify(model!.requests.filter((r) => r.path.endsWith('/chat/completions'))[1]!.body)
    }
    expect(await runOnce()).toContain('search_not_configured')
    expect((await put({ provider: 'brave', apiKey: braveKey, baseUrl: brave.baseUrl })).statusCode).toBe(200)
    const second = await runOnce()
    expect(second).toContain('https://shop.example/air-max')
    expect(second).toContain('Air Max 90 sale')
    expect(second).not.toContain('<strong>')
  })
})
