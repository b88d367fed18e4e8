import { usageSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  bearer,
  createTestApp,
  insertProviderRow,
  otherTenantId,
  type TestApp,
} from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { recordUsage } from './usage.store.ts'

const day = (iso: string) => Date.parse(iso)

describe.each(dialects)('usage API on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
  })
  afterEach(async () => {
    await t.close()
  })

  const get = (query: string, key = t.keys.viewer) =>
    t.app.inject({ url: `/api/v1/usage?${query}`, headers: bearer(key) })

  async function seed() {
    const bot = await t.bots.service.create('default', {
      name: 'Scout',
      prompt: 'p',
      provider: 'openai',
      timezone: 'UTC',
    })
    const rows = [
      {
        runId: 'r1',
        attempt: 1,
        provider: 'openai',
        model: 'gpt-4o-mini',
        tokensIn: 100,
        tokensOut: 50,
        costUsd: 0.1,
        at: day('2026-05-01T10:00:00Z'),
      },
      {
        runId: 'r1',
        attempt: 2,
        provider: 'openai',
        model: 'gpt-4o-mini',
        tokensIn: 100,
        tokensOut: 0,
        costUsd: 0.2,
        at: day('2026-05-01T23:30:00Z'),
      },
      {
        runId: 'r2',
        attempt: 1,
        provider: 'ollama',
        model: 'llama3.2',
        tokensIn: 10,
        tokensOut: 5,
        costUsd: 0,
        at: day('2026-05-02T08:00:00Z'),
      },
      {
        runId: 'r3',
        attempt: 1,
        provider: 'openai',
        model: 'mystery-model',
        tokensIn: 1,
        tokensOut: 1,
        costUsd: null,
        at: day('2026-05-02T09:00:00Z'),
      },
    ]
    for (const row of rows) await recordUsage(t.database.db, { tenantId: 'default', botId: bot.id, ...row })
    // The same attempt written twice (an executor retried its write) counts once.
    await recordUsage(t.database.db, { tenantId: 'default', botId: bot.id, ...rows[0]! })
    await recordUsage(t.database.db, {
      ...rows[0]!,
      runId: 'foreign',
      tenantId: otherTenantId,
      botId: null,
      tokensIn: 999,
    })
    return bot
  }
  const range = 'from=2026-05-01T00:00:00Z&to=2026-05-03T00:00:00Z'

  it('sums tokens and cost per day, in the requested time zone', async () => {
    await seed()
    const utc = usageSchema.parse((await get(`${range}&groupBy=day`)).json())
    expect(utc.items.map((r) => [r.key, r.calls, r.tokensIn, r.costUsd])).toEqual([
      ['2026-05-01', 2, 200, 0.3],
      ['2026-05-02', 2, 11, 0],
    ])
    expect(utc.total).toEqual({ calls: 4, tokensIn: 211, tokensOut: 56, costUsd: 0.3, unpricedCalls: 1 })
    const berlin = usageSchema.parse((await get(`${range}&groupBy=day&timezone=Europe/Berlin`)).json())
    expect(berlin.items.map((r) => [r.key, r.calls])).toEqual([
      ['2026-05-01', 1],
      ['2026-05-02', 3], // 23:30 UTC is already 2 May in Berlin
    ])
  })

  it('groups by bot (with its name), provider and model', async () => {
    const bot = await seed()
    const byBot = usageSchema.parse((await get(`${range}&groupBy=bot`)).json())
    expect(byBot.items).toEqual([expect.objectContaining({ key: bot.id, label: 'Scout', calls: 4 })])
    const byProvider = usageSchema.parse((await get(`${range}&groupBy=provider`)).json())
    expect(byProvider.items.map((r) => [r.key, r.calls, r.unpricedCalls])).toEqual([
      ['openai', 3, 1],
      ['ollama', 1, 0],
    ])
    const byModel = usageSchema.parse((await get(`${range}&groupBy=model`)).json())
    expect(byModel.items.map((r) => r.key).sort()).toEqual([
      'ollama/llama3.2',
      'openai/gpt-4o-mini',
      'openai/mystery-model',
    ])
  })

  it('never counts another tenant’s usage', async () => {
    await seed()
    const other = usageSchema.parse((await get(`${range}&groupBy=provider`, t.keys.otherTenant)).json())
    expect(other.total).toMatchObject({ calls: 1, tokensIn: 999 })
    const mine = usageSchema.parse((await get(`${range}&groupBy=provider`)).json())
    expect(mine.total.tokensIn).toBe(211)
  })

  it('answers 400 problem+json for a bad range, grouping or time zone', async () => {
    for (const query of [
      'from=2026-05-03T00:00:00Z&to=2026-05-01T00:00:00Z',
      'groupBy=week',
      'timezone=Mars/Base',
      'from=yesterday',
      'from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
    ]) {
      const response = await get(query)
      expect(response.statusCode, query).toBe(400)
      expect(response.headers['content-type']).toContain('application/problem+json')
      expect(response.json().errors.length, query).toBeGreaterThan(0)
    }
  })
})
