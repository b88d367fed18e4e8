import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { recordUsage } from '../usage/usage.ts'
import { SummaryUnavailable } from './bot-summary.ts'

// A notification's summary is the bot's spending (issue 14): it is not written once the bot's daily
// budget, or its workspace's, is spent — the same two budgets a bot run checks.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'

describe.each(dialects)('notification summaries on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer | undefined
  afterEach(async () => {
    await model?.close()
    model = undefined
    await t?.close()
  })

  it('writes no summary once the workspace has spent its daily budget, though the bot has none of its own', async () => {
    t = await createTestApp(dialect, { quotas: { dailyBudgetUsd: 1 } })
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.setBehaviour({ type: 'success', text: 'Three offers turned up. The cheapest is 35 €.' })
    const bot = await t.bots.service.create(tenantId, { name: 'Scout', prompt: 'Look.', provider: 'openai' })
    const another = await t.bots.service.create(tenantId, {
      name: 'Other',
      prompt: 'Look.',
      provider: 'openai',
    })
    const summarize = (runId: string) =>
      t.bots.summarize(tenantId, bot.id, 'Found 3 offers.', {
        runId,
        attempt: 1,
        signal: AbortSignal.timeout(10_000),
      })
    const calls = () => model!.requests.filter((request) => request.path.endsWith('/chat/completions')).length

    expect((await summarize('notification-1')).text).toBe('Three offers turned up. The cheapest is 35 €.')
    expect(calls()).toBe(1)
    // Another bot of the workspace spends the rest of today's dollar.
    await recordUsage(t.database.db, {
      tenantId,
      runId: 'run-of-another-bot',
      attempt: 1,
      botId: another.id,
      provider: 'openai',
      model: 'gpt-4o-mini',
      tokensIn: 1_000_000,
      tokensOut: 0,
      costUsd: 1,
      at: Date.now(),
    })
    const refused = await summarize('notification-2').catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(SummaryUnavailable)
    expect(refused).toMatchObject({ code: 'budget_exceeded' })
    expect((refused as Error).message).toMatch(/workspace has spent its daily budget \(\$1\)/)
    expect(calls()).toBe(1)
  })
})
