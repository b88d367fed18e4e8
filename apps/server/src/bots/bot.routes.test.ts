import fs from 'node:fs'
import path from 'node:path'
import { botPageSchema, botSchema, runSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  bearer,
  createTestApp,
  insertProviderRow,
  otherTenantId,
  type TestApp,
} from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'

const scout = {
  name: 'eBay scout',
  description: 'Finds cheap sneakers.',
  emoji: '👟',
  prompt: 'Look for new offers of Nike Air Max 90 under 40 €.',
  provider: 'openai',
  model: 'gpt-4o-mini',
  schedule: '@hourly',
  timezone: 'Europe/Berlin',
}

describe.each(dialects)('bots API on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    await insertProviderRow(t.database, 'ollama', { defaultModel: null })
  })
  afterEach(async () => {
    await t.close()
  })

  const send = (
    method: 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
    key = t.keys.editor,
  ) =>
    t.app.inject({
      method,
      url,
      headers: bearer(key),
      ...(body !== undefined ? { payload: body as object } : {}),
    })
  const get = (url: string, key = t.keys.viewer) => t.app.inject({ url, headers: bearer(key) })
  const create = async (body: Record<string, unknown> = scout) => {
    const response = await send('POST', '/api/v1/bots', body)
    expect(response.statusCode, response.body).toBe(201)
    return botSchema.parse(response.json())
  }

  it('creates a bot with the documented defaults and its next run', async () => {
    const bot = await create()
    expect(bot).toMatchObject({
      name: 'eBay scout',
      enabled: true,
      maxRuntimeSeconds: 120,
      maxRetries: 1,
      retryDelaySeconds: 30,
      missedRunPolicy: 'ignore',
      overlapPolicy: 'skip',
      jitterSeconds: 0,
      maxCostPerRunUsd: null,
      dailyBudgetUsd: null,
      lastRun: null,
      recentRuns: [],
      consecutiveFailures: 0,
    })
    const next = Date.parse(bot.nextRunAt!)
    expect(next).toBeGreaterThan(Date.now())
    expect(next % 3_600_000).toBe(0)
    expect(next - Date.now()).toBeLessThanOrEqual(3_600_000)
  })

  it('takes the provider’s default model and the server’s time zone when they are omitted', async () => {
    const { model: _m, timezone: _t, ...rest } = scout
    const bot = await create(rest)
    expect(bot.model).toBe('gpt-4o-mini')
    expect(bot.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone)
  })

  it('answers 400 listing every bad field, and rejects unknown fields such as tenantId', async () => {
    const response = await send('POST', '/api/v1/bots', {
      ...scout,
      name: '',
      maxRetries: 99,
      provider: 'skynet',
      overlapPolicy: 'sometimes',
      tenantId: 'other',
    })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toContain('application/problem+json')
    const problem = response.json()
    expect(problem.code).toBe('validation_failed')
    const fields = problem.errors.map((e: { field: string }) => e.field).join(' ')
    for (const field of ['name', 'maxRetries', 'provider', 'overlapPolicy']) expect(fields).toContain(field)
    expect(JSON.stringify(problem.errors)).toContain('tenantId')
  })

  it('checks schedule and time zone, listing both when both are wrong', async () => {
    const bad = await send('POST', '/api/v1/bots', {
      ...scout,
      schedule: '61 * * * *',
      timezone: 'Mars/Base',
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().errors.map((e: { field: string }) => e.field)).toEqual(['timezone'])
    const both = await send('POST', '/api/v1/bots', { ...scout, schedule: '@every 0s', model: '   ' })
    expect(both.statusCode).toBe(400)
    const fields = both.json().errors.map((e: { field: string }) => e.field)
    expect(fields).toContain('model')
    const schedule = await send('POST', '/api/v1/bots', { ...scout, schedule: 'every monday' })
    expect(schedule.json().errors).toEqual([
      { field: 'schedule', message: expect.stringContaining('not a valid schedule') },
    ])
    for (const ok of ['*/10 * * * * *', '0 8 * * 1-5', '@every 90s', '@daily'])
      expect((await send('POST', '/api/v1/bots', { ...scout, name: ok, schedule: ok })).statusCode).toBe(201)
  })

  it('says so when the provider is not set up, and when no model is given and the provider has no default', async () => {
    const missing = await send('POST', '/api/v1/bots', { ...scout, provider: 'anthropic' })
    expect(missing.statusCode).toBe(400)
    expect(missing.json()).toMatchObject({ code: 'provider_not_configured' })
    expect(missing.json().detail).toContain('PUT /api/v1/providers/anthropic')
    const { model: _m, ...noModel } = scout
    const noDefault = await send('POST', '/api/v1/bots', { ...noModel, provider: 'ollama' })
    expect(noDefault.statusCode).toBe(400)
    expect(noDefault.json().errors).toEqual([{ field: 'model', message: expect.any(String) }])
  })

  it('refuses a second bot with the same name (409)', async () => {
    await create()
    const again = await send('POST', '/api/v1/bots', scout)
    expect(again.statusCode).toBe(409)
    expect(again.json().code).toBe('bot_name_taken')
  })

  it('lists bots with cursor pagination, each with its last run in short', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await create({ ...scout, name: `bot ${i}` })).id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = botPageSchema.parse(
        (await get(`/api/v1/bots?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json(),
      )
      seen.push(...page.items.map((b) => b.id))
      cursor = page.nextCursor
    } while (cursor)
    expect(seen).toEqual(ids)
    const run = await send('POST', `/api/v1/bots/${ids[0]}/runs`, { input: 'go' })
    const first = botSchema.parse((await get(`/api/v1/bots/${ids[0]}`)).json())
    expect(first.lastRun).toMatchObject({ id: run.json().id, status: 'pending', summary: null })
    const second = await send('POST', `/api/v1/bots/${ids[0]}/runs`, {})
    const page = botPageSchema.parse((await get('/api/v1/bots?limit=2')).json())
    expect(page.items[0]!.recentRuns).toEqual([
      { id: second.json().id, status: 'pending', isNew: null },
      { id: run.json().id, status: 'pending', isNew: null },
    ])
    expect(page.items[1]!.recentRuns).toEqual([])
  })

  it('changes a schedule at once: new nextRunAt, disabling clears it, enabling sets it again', async () => {
    const bot = await create()
    const every = await send('PATCH', `/api/v1/bots/${bot.id}`, { schedule: '@every 10s' })
    expect(every.statusCode, every.body).toBe(200)
    const next = Date.parse(every.json().nextRunAt)
    expect(next % 10_000).toBe(0)
    expect(next - Date.now()).toBeLessThanOrEqual(10_000)
    const disabled = await send('PATCH', `/api/v1/bots/${bot.id}`, { enabled: false })
    expect(disabled.json()).toMatchObject({ enabled: false, nextRunAt: null })
    const enabled = await send('PATCH', `/api/v1/bots/${bot.id}`, { enabled: true })
    expect(enabled.json().nextRunAt).not.toBeNull()
    const manualOnly = await send('PATCH', `/api/v1/bots/${bot.id}`, { schedule: null })
    expect(manualOnly.json()).toMatchObject({ schedule: null, nextRunAt: null })
    const bad = await send('PATCH', `/api/v1/bots/${bot.id}`, { schedule: 'sometimes', id: 'x' })
    expect(bad.statusCode).toBe(400)
  })

  it('enforces roles and tenants: viewer reads only, another tenant sees nothing', async () => {
    const bot = await create()
    expect((await send('POST', '/api/v1/bots', { ...scout, name: 'v' }, t.keys.viewer)).statusCode).toBe(403)
    expect((await send('PATCH', `/api/v1/bots/${bot.id}`, { name: 'x' }, t.keys.viewer)).statusCode).toBe(403)
    expect((await send('POST', `/api/v1/bots/${bot.id}/runs`, {}, t.keys.viewer)).statusCode).toBe(403)
    expect((await get(`/api/v1/bots/${bot.id}`)).statusCode).toBe(200)
    for (const url of [
      `/api/v1/bots/${bot.id}`,
      `/api/v1/bots/${bot.id}/runs`,
      `/api/v1/bots/${bot.id}/export`,
    ]) {
      const response = await get(url, t.keys.otherTenant)
      expect(response.statusCode, url).toBe(404)
      expect(response.json().code).toBe('bot_not_found')
    }
    expect((await send('DELETE', `/api/v1/bots/${bot.id}`, undefined, t.keys.otherTenant)).statusCode).toBe(
      404,
    )
    expect((await get('/api/v1/bots', t.keys.otherTenant)).json().items).toEqual([])
    expect(otherTenantId).not.toBe('default')
  })

  it('runs a bot now (202) and returns the same run for a repeated Idempotency-Key', async () => {
    const bot = await create()
    const headers = { ...bearer(t.keys.editor), 'idempotency-key': 'order-42' }
    const first = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bots/${bot.id}/runs`,
      headers,
      payload: { input: { q: 1 }, trigger: 'manual' },
    })
    expect(first.statusCode, first.body).toBe(202)
    const run = runSchema.parse(first.json())
    expect(run).toMatchObject({
      botId: bot.id,
      status: 'pending',
      trigger: 'manual',
      input: { q: 1 },
      attempt: 0,
      maxAttempts: 2,
    })
    const second = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bots/${bot.id}/runs`,
      headers,
      payload: {},
    })
    expect(second.statusCode).toBe(202)
    expect(second.json().id).toBe(run.id)
    expect(second.headers['idempotent-replayed']).toBe('true')
    const noBody = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bots/${bot.id}/runs`,
      headers: bearer(t.keys.editor),
    })
    expect(noBody.statusCode).toBe(202)
    expect(noBody.json().trigger).toBe('api')
    const list = (await get(`/api/v1/bots/${bot.id}/runs`)).json()
    expect(list.items.map((r: { id: string }) => r.id)).toEqual([noBody.json().id, run.id])
  })

  it('duplicates a bot with its notes, and exports and imports it without ids or state', async () => {
    const bot = await create()
    expect(
      (await send('PUT', `/api/v1/bots/${bot.id}/notes/seen.md`, { content: 'offer 1' })).statusCode,
    ).toBe(200)
    const copy = await send('POST', `/api/v1/bots/${bot.id}/duplicate`)
    expect(copy.statusCode).toBe(201)
    expect(copy.json()).toMatchObject({ name: 'eBay scout (copy)', prompt: scout.prompt })
    expect((await get(`/api/v1/bots/${copy.json().id}/notes/seen.md`)).json().content).toBe('offer 1')
    expect((await send('POST', `/api/v1/bots/${bot.id}/duplicate`)).json().name).toBe('eBay scout (copy 2)')

    const exported = (await get(`/api/v1/bots/${bot.id}/export`)).json()
    expect(exported.format).toBe('openorch.bot')
    expect(JSON.stringify(exported)).not.toContain(bot.id)
    expect(exported.bot).not.toHaveProperty('nextRunAt')
    const imported = await send('POST', '/api/v1/bots/import', exported)
    expect(imported.statusCode, imported.body).toBe(201)
    expect(imported.json()).toMatchObject({
      name: 'eBay scout (imported)',
      enabled: false,
      nextRunAt: null,
      schedule: '@hourly',
    })
    const hostile = await send('POST', '/api/v1/bots/import', {
      ...exported,
      bot: { ...exported.bot, id: 'x', tenantId: 'other' },
    })
    expect(hostile.statusCode).toBe(400)
  })

  it('keeps notes with the bot (in the database, nothing on disk) and removes them with it', async () => {
    const bot = await create()
    const put = await send('PUT', `/api/v1/bots/${bot.id}/notes/prices%202026.md`, {
      content: '# Prices\n35 €',
    })
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json()).toMatchObject({ name: 'prices 2026.md', size: 15 })
    const stored = () =>
      t.database.db
        .selectFrom('bot_files')
        .select(['space', 'name', 'content'])
        .where('bot_id', '=', bot.id)
        .execute()
    expect(await stored()).toEqual([{ space: 'notes', name: 'prices 2026.md', content: '# Prices\n35 €' }])
    expect(
      (await get(`/api/v1/bots/${bot.id}/notes`)).json().items.map((n: { name: string }) => n.name),
    ).toEqual(['prices 2026.md'])
    for (const name of ['..%2F..%2Fescape', '.hidden', 'a..b', 'a%2Fb', '%2Fetc%2Fpasswd', 'x%00y', 'a%5Cb'])
      for (const method of ['PUT', 'DELETE'] as const) {
        const response = await send(
          method,
          `/api/v1/bots/${bot.id}/notes/${name}`,
          method === 'PUT' ? { content: 'x' } : undefined,
        )
        expect([400, 404], `${method} ${name}`).toContain(response.statusCode)
        expect(response.headers['content-type']).toContain('application/problem+json')
      }
    expect((await stored()).map((note) => note.name)).toEqual(['prices 2026.md'])
    expect(fs.existsSync(path.join(t.dataDir, 'bots'))).toBe(false)
    expect(fs.existsSync(path.join(t.dataDir, 'escape'))).toBe(false)
    expect((await get(`/api/v1/bots/${bot.id}/notes/missing.md`)).json().code).toBe('note_not_found')
    expect((await send('DELETE', `/api/v1/bots/${bot.id}/notes/prices%202026.md`)).statusCode).toBe(204)
    await send('PUT', `/api/v1/bots/${bot.id}/notes/a.md`, { content: 'x' })
    const queued = (await send('POST', `/api/v1/bots/${bot.id}/runs`, {})).json()
    expect((await send('DELETE', `/api/v1/bots/${bot.id}`)).statusCode).toBe(204)
    expect((await get(`/api/v1/runs/${queued.id}`)).json()).toMatchObject({
      status: 'cancelled',
      botId: bot.id,
    })
    expect(await stored()).toEqual([])
    expect((await get(`/api/v1/bots/${bot.id}`)).statusCode).toBe(404)
  })
})
