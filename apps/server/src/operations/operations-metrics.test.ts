import { describe, expect, it } from 'vitest'
import { parseMetrics, sampleOf } from '../../test/metrics-text.ts'
import { testLog } from '../../test/output-capture.ts'
import { cachedRead, createMetrics } from '../platform/metrics.ts'
import { slotKeyOf, slotOfKey } from '../schedules/schedule.store.ts'
import { createOperationsMetrics } from './operations-metrics.ts'
import { registerScrapeGauges } from './scrape-gauges.ts'

const day = 86_400_000

async function scrape(metrics: ReturnType<typeof createMetrics>) {
  const samples = parseMetrics(await metrics.registry.metrics())
  return (name: string, labels: Record<string, string> = {}) => sampleOf(samples, name, labels)
}

describe('operations metrics', () => {
  it('report the highest workspace budget share of today only, without naming a workspace', async () => {
    let now = 10 * day + 1000
    const metrics = createMetrics({ defaultMetrics: false })
    const operations = createOperationsMetrics(metrics, { now: () => now })
    operations.budgetUsed('tenant-a', 0.4, now)
    operations.budgetUsed('tenant-b', 0.93, now)
    operations.budgetUsed('tenant-b', 0.5, now) // a lower share seen later (a run that started earlier)
    expect((await scrape(metrics))('openorch_budget_used_ratio')).toBe(0.93)
    expect(await metrics.registry.metrics()).not.toContain('tenant-')
    // A new UTC day: yesterday's shares are gone until a run checks again.
    now += day
    expect((await scrape(metrics))('openorch_budget_used_ratio')).toBe(0)
    operations.budgetUsed('tenant-a', 0.1, now)
    expect((await scrape(metrics))('openorch_budget_used_ratio')).toBe(0.1)
  })

  it('label tools by built-in name, MCP tools as one, made-up names as unknown; rejected calls have no duration', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const operations = createOperationsMetrics(metrics)
    operations.toolCalled({ tool: 'http_fetch', toolSet: 'web', outcome: 'completed', durationMs: 120 })
    operations.toolCalled({ tool: 'acme_tickets', toolSet: 'mcp:acme', outcome: 'failed', durationMs: 30 })
    operations.toolCalled({ tool: 'crm_sync', toolSet: 'mcp:crm', outcome: 'failed', durationMs: 10 })
    operations.toolCalled({ tool: 'hack_the_planet', toolSet: undefined, outcome: 'invalid', durationMs: 0 })
    operations.toolCalled({ tool: 'files_delete', toolSet: 'files', outcome: 'rejected', durationMs: 0 })
    const value = await scrape(metrics)
    expect(value('openorch_tool_calls_total', { tool: 'http_fetch', outcome: 'completed' })).toBe(1)
    expect(value('openorch_tool_calls_total', { tool: 'mcp', outcome: 'failed' })).toBe(2)
    expect(value('openorch_tool_calls_total', { tool: 'unknown', outcome: 'invalid' })).toBe(1)
    expect(value('openorch_tool_calls_total', { tool: 'files_delete', outcome: 'rejected' })).toBe(1)
    expect(value('openorch_tool_call_duration_seconds_count', { tool: 'mcp' })).toBe(2)
    expect(value('openorch_tool_call_duration_seconds_count', { tool: 'files_delete' })).toBe(0)
    const text = await metrics.registry.metrics()
    expect(text).not.toContain('acme')
    expect(text).not.toContain('hack_the_planet')
  })

  it('label a model the price table knows by its name and any other model as other, so made-up names add no series', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const operations = createOperationsMetrics(metrics)
    const call = { outcome: 'ok', durationMs: 250, tokensIn: 100, tokensOut: 20, costUsd: null }
    operations.modelCalled({ ...call, provider: 'openai', model: 'gpt-4o-mini', costUsd: 0.001 })
    // A dated snapshot is its base model, whatever its date; the table's names ignore case.
    operations.modelCalled({ ...call, provider: 'openai', model: 'GPT-4o-mini-2024-07-18' })
    operations.modelCalled({ ...call, provider: 'anthropic', model: 'claude-3-5-haiku-latest' })
    operations.modelCalled({ ...call, provider: 'ollama', model: 'llama3.2:latest', costUsd: 0 })
    operations.modelCalled({
      ...call,
      provider: 'openai',
      model: 'attacker-model-1',
      outcome: 'provider_bad_request',
    })
    const text = await metrics.registry.metrics()
    const value = await scrape(metrics)
    expect(
      value('openorch_llm_calls_total', { provider: 'openai', model: 'gpt-4o-mini', outcome: 'ok' }),
    ).toBe(2)
    expect(
      value('openorch_llm_tokens_total', { provider: 'openai', model: 'gpt-4o-mini', type: 'input' }),
    ).toBe(200)
    expect(value('openorch_llm_cost_usd_total', { provider: 'openai', model: 'gpt-4o-mini' })).toBe(0.001)
    expect(
      value('openorch_llm_calls_total', { provider: 'anthropic', model: 'claude-3-5-haiku', outcome: 'ok' }),
    ).toBe(1)
    expect(value('openorch_llm_calls_total', { provider: 'ollama', model: 'other', outcome: 'ok' })).toBe(1)
    expect(
      value('openorch_llm_calls_total', {
        provider: 'openai',
        model: 'other',
        outcome: 'provider_bad_request',
      }),
    ).toBe(1)
    expect(value('openorch_llm_call_duration_seconds_count', { provider: 'openai', model: 'other' })).toBe(1)
    expect(text).not.toContain('attacker')
    expect(text).not.toContain('llama3')
    expect(text).not.toContain('2024-07-18')

    // A thousand more made-up names (a model's name is any workspace editor's free text), and a
    // provider name that is not one of the five: after the first of each, no new series.
    const seriesCount = async () =>
      (await metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('openorch_llm_')).length
    const madeUp = (i: number) => {
      operations.modelCalled({ ...call, provider: 'openai', model: `attacker-model-${i}-${Math.random()}` })
      operations.modelCalled({ ...call, provider: 'not-a-provider', model: `x-${i}`, costUsd: 0.5 })
      operations.modelCalled({
        ...call,
        provider: 'openai',
        model: `gpt-4o-mini-2099-01-${String(i % 100).padStart(2, '0')}`,
      })
    }
    madeUp(0)
    const before = await seriesCount()
    for (let i = 1; i < 1000; i++) madeUp(i)
    expect(await seriesCount()).toBe(before)
    const after = await metrics.registry.metrics()
    expect(after).not.toContain('attacker')
    expect(after).not.toContain('not-a-provider')
    const final = await scrape(metrics)
    expect(final('openorch_llm_calls_total', { provider: 'openai', model: 'other', outcome: 'ok' })).toBe(
      1000,
    )
    expect(final('openorch_llm_calls_total', { provider: 'other', model: 'other', outcome: 'ok' })).toBe(1000)
    expect(final('openorch_llm_cost_usd_total', { provider: 'other', model: 'other' })).toBeCloseTo(500, 9)
  })

  it('measure schedule lag from the slot for a scheduled run’s first attempt only', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    const operations = createOperationsMetrics(metrics)
    const slot = 1_700_000_000_000
    const key = slotKeyOf('bot-1', slot)
    expect(slotOfKey(key)).toBe(slot)
    expect(slotOfKey(slotKeyOf('pipe-1', slot, 'pipeline'))).toBe(slot)
    expect(slotOfKey('user-key:123')).toBeUndefined()
    expect(slotOfKey(null)).toBeUndefined()
    const run = { kind: 'bot', trigger: 'schedule', runAt: slot + 2000, slot: slotOfKey(key) }
    operations.runClaimed({ ...run, attempt: 1 }, slot + 2500)
    operations.runClaimed({ ...run, attempt: 2 }, slot + 60_000) // a retry: not lag
    operations.runClaimed({ ...run, trigger: 'api', slot: undefined, attempt: 1 }, slot + 9000)
    const value = await scrape(metrics)
    expect(value('openorch_schedule_lag_seconds_count', { kind: 'bot' })).toBe(1)
    expect(value('openorch_schedule_lag_seconds_sum', { kind: 'bot' })).toBe(2.5)
    expect(value('openorch_run_claim_latency_seconds_count', { kind: 'bot' })).toBe(3)
    expect(value('openorch_runs_claimed_total', { kind: 'bot' })).toBe(3)
  })
})

describe('scrape gauges', () => {
  it('share one database read among scrapes within maxAgeMs, and report the database down when it does not answer in time', async () => {
    let reads = 0
    const metrics = createMetrics({ defaultMetrics: false })
    const now = 1_000_000
    registerScrapeGauges(metrics, {
      log: testLog,
      now: () => now,
      maxAgeMs: 60_000,
      timeoutMs: 100,
      readers: {
        queue: async () => {
          reads++
          return { depth: 4, oldestRunAt: now - 90_000 }
        },
        runsByStatus: async () => [{ status: 'pending', value: 4 }],
        deadLetters: async () => 2,
        approvalsPending: async () => 1,
        ping: () => Promise.resolve(),
      },
    })
    let value = await scrape(metrics)
    expect(value('openorch_queue_depth')).toBe(4)
    expect(value('openorch_queue_oldest_pending_age_seconds')).toBe(90)
    expect(value('openorch_dead_letters')).toBe(2)
    expect(value('openorch_approvals_pending')).toBe(1)
    expect(value('openorch_runs', { status: 'pending' })).toBe(4)
    expect(value('openorch_database_up')).toBe(1)
    // Depth and age come from one read; a second scrape within maxAgeMs reads nothing.
    expect(reads).toBe(1)
    await scrape(metrics)
    expect(reads).toBe(1)
    // A database that does not answer: the ping gives up after timeoutMs and says 0.
    const fresh = createMetrics({ defaultMetrics: false })
    registerScrapeGauges(fresh, {
      log: testLog,
      now: () => now,
      timeoutMs: 100,
      readers: {
        queue: async () => ({ depth: 0, oldestRunAt: null }),
        runsByStatus: async () => [],
        deadLetters: async () => 0,
        ping: () => new Promise(() => {}),
      },
    })
    const started = performance.now()
    value = await scrape(fresh)
    expect(value('openorch_database_up')).toBe(0)
    expect(value('openorch_queue_oldest_pending_age_seconds')).toBe(0)
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('cachedRead does not keep a failed read', async () => {
    let calls = 0
    const read = cachedRead(async () => {
      calls++
      if (calls === 1) throw new Error('database_unavailable')
      return calls
    }, 60_000)
    await expect(read()).rejects.toThrow('database_unavailable')
    expect(await read()).toBe(2)
    expect(await read()).toBe(2)
    expect(calls).toBe(2)
  })

  it('cachedRead with staleWhileRefreshing serves the last answer at once and refreshes it once in the background', async () => {
    let calls = 0
    let release: (() => void) | undefined
    const read = cachedRead(
      () =>
        new Promise<number>((resolve) => {
          const n = ++calls
          if (n === 1) resolve(n)
          else release = () => resolve(n)
        }),
      20,
      { staleWhileRefreshing: true },
    )
    expect(await read()).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 30))
    // Stale: the old answer now, one refresh started, however many scrapes ask meanwhile.
    expect(await read()).toBe(1)
    expect(await read()).toBe(1)
    expect(calls).toBe(2)
    release?.()
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await read()).toBe(2)
  })
})
