import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import {
  type ProviderServer,
  type ProviderServerKind,
  startProviderServer,
} from '../../test/provider-servers/index.ts'
import { sha256Hex } from '../platform/ids.ts'
import type { Run } from '../runs/run.types.ts'
import type { BotRunResult } from './bot.run-view.ts'

const key = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'

describe.each(dialects)('bot runs end to end on %s', (dialect) => {
  let t: TestApp
  let server: ProviderServer

  async function setUp(kind: ProviderServerKind = 'openai', model = 'gpt-4o-mini') {
    t = await createTestApp(dialect)
    server = await startProviderServer(kind, {
      ...(kind === 'ollama' ? {} : { apiKey: key }),
      models: [model],
      chunkDelayMs: 2,
    })
    const configured = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${kind}`,
      headers: bearer(t.keys.admin),
      payload: {
        ...(kind === 'ollama' ? {} : { apiKey: key }),
        baseUrl: server.baseUrl,
        defaultModel: model,
      },
    })
    expect(configured.statusCode, configured.body).toBe(200)
    server.requests.length = 0
    t.startKernel()
  }
  beforeEach(() => undefined)
  afterEach(async () => {
    await server?.close()
    await t?.close()
  })

  const createBot = (fields: Record<string, unknown> = {}) =>
    t.bots.service.create(tenantId, {
      name: 'Scout',
      description: 'Finds cheap sneakers.',
      prompt: 'List new offers.',
      provider: 'openai',
      retryDelaySeconds: 0,
      ...fields,
    })
  const runBot = async (botId: string, input?: unknown): Promise<Run> => {
    const result = await t.bots.service.runNow(tenantId, botId, { trigger: 'manual', input })
    if (result.status === 'dropped') throw new Error('dropped')
    return result.run
  }
  const settled = (id: string) =>
    waitFor(
      async () => {
        const run = await t.kernel.runs.get(tenantId, id)
        // The bot's result (tokens, cost, hash, isNew) beside the kernel's fields, as the Run JSON shows it.
        const shown = { ...run, ...(run.result as Partial<BotRunResult> | null) }
        return ['completed', 'failed', 'timeout', 'cancelled'].includes(run.status) ? shown : undefined
      },
      { what: `run ${id} to settle` },
    )
  const logOf = async (id: string) =>
    (await t.app.inject({ url: `/api/v1/runs/${id}/log`, headers: bearer(t.keys.viewer) })).json()
      .items as Array<{
      level: string
      message: string
      attempt: number
      data: Record<string, unknown> | null
    }>

  it('stores output, hash, isNew, tokens, cost and duration, and logs what it did', async () => {
    await setUp()
    server.setBehaviour({
      type: 'success',
      text: 'Offer A: 35 €',
      usage: { inputTokens: 1000, outputTokens: 200 },
    })
    const bot = await createBot()
    const first = await settled((await runBot(bot.id)).id)
    expect(first).toMatchObject({
      status: 'completed',
      output: { text: 'Offer A: 35 €' },
      outputHash: sha256Hex('Offer A: 35 €'),
      isNew: true,
      attempt: 1,
      tokensIn: 1000,
      tokensOut: 200,
    })
    // gpt-4o-mini: $0.15 / $0.60 per million tokens
    expect(first.costUsd).toBeCloseTo(0.00027, 10)
    expect(first.durationMs).toBeGreaterThanOrEqual(0)
    const log = await logOf(first.id)
    expect(log.map((l) => l.message)).toEqual([
      'attempt 1 of 2 started',
      'context built',
      'calling openai gpt-4o-mini',
      'answer received',
    ])
    expect(log[1]!.data).toMatchObject({ hasLastOutput: false, estimatedTokens: expect.any(Number) })

    const second = await settled((await runBot(bot.id)).id)
    expect(second).toMatchObject({ status: 'completed', isNew: false, outputHash: first.outputHash })
    server.setBehaviour({ type: 'success', text: 'Offer B: 30 €' })
    const third = await settled((await runBot(bot.id)).id)
    expect(third.isNew).toBe(true)
    const card = await t.bots.service.get(tenantId, bot.id)
    expect(card.lastRun).toMatchObject({
      id: third.id,
      status: 'completed',
      isNew: true,
      summary: 'Offer B: 30 €',
    })
  })

  it('builds the context: description, last output with its time, notes newest first; input before the prompt', async () => {
    await setUp()
    server.setBehaviour({ type: 'success', text: 'Found: Offer A' })
    const bot = await createBot()
    await t.bots.notes.put({ tenantId, botId: bot.id }, 'rules.md', 'Only size 42.')
    const first = await settled((await runBot(bot.id, { maxPrice: 40 })).id)
    await t.bots.notes.put({ tenantId, botId: bot.id }, 'huge.md', 'y'.repeat(40_000))
    await settled((await runBot(bot.id)).id)
    const [firstCall, secondCall] = server.requests.filter((r) => r.path.endsWith('/chat/completions'))
    const messages = (call: typeof firstCall) =>
      (call!.body as { messages: Array<{ role: string; content: string }> }).messages
    const [system1, user1] = messages(firstCall)
    expect(system1!.role).toBe('system')
    expect(system1!.content).toContain('Finds cheap sneakers.')
    expect(system1!.content).toContain('Only size 42.')
    expect(system1!.content).not.toContain('Your last output')
    expect(user1!.content).toBe('Input:\n{\n  "maxPrice": 40\n}\n\nList new offers.')
    const [system2] = messages(secondCall)
    expect(system2!.content).toContain(`Your last output (${new Date(first.finishedAt!).toISOString()})`)
    expect(system2!.content).toContain('Found: Offer A')
    expect(system2!.content.indexOf('## huge.md')).toBeLessThan(system2!.content.indexOf('## rules.md') >>> 0)
    const log = await logOf(
      (await t.kernel.runs.list(tenantId, { subjectId: bot.id, limit: 1 })).items[0]!.id,
    )
    expect(log.find((l) => l.message === 'note huge.md shortened to fit the context')).toMatchObject({
      level: 'warn',
    })
  })

  it('streams partial output into the live feed while the model writes', async () => {
    await setUp()
    server.setBehaviour({ type: 'success', text: 'one two three four five six', chunks: 6 })
    const bot = await createBot()
    const events: Array<{ type: string; payload: { runId: string; delta?: string; offset?: number } }> = []
    const off = t.kernel.bus.subscribe('events', (message) => events.push(...JSON.parse(message)))
    const run = await settled((await runBot(bot.id)).id)
    // Live events are gathered for a few milliseconds before they go out: the last piece may trail the settlement.
    const deltasOf = () => events.filter((e) => e.type === 'run.output' && e.payload.runId === run.id)
    await waitFor(
      () =>
        deltasOf()
          .map((e) => e.payload.delta)
          .join('') === 'one two three four five six',
      {
        what: 'the whole streamed text',
      },
    )
    off()
    const deltas = deltasOf()
    expect(deltas[0]!.payload.offset).toBe(0)
  })

  it('retries a 429 after its Retry-After and succeeds; the log shows the failed attempt', async () => {
    await setUp()
    server.setBehaviour({
      type: 'script',
      steps: [
        { type: 'rate_limited', retryAfter: '1' },
        { type: 'success', text: 'ok' },
      ],
    })
    const bot = await createBot({ maxRetries: 2 })
    const queued = await runBot(bot.id)
    const run = await settled(queued.id)
    expect(run).toMatchObject({ status: 'completed', attempt: 2, output: { text: 'ok' } })
    const log = await logOf(run.id)
    const failed = log.find((l) => l.level === 'error')!
    expect(failed).toMatchObject({
      attempt: 1,
      data: { code: 'provider_rate_limited', retryable: true, willRetry: true },
    })
    expect(failed.data!.retryAfterMs).toBe(1000)
    expect(run.finishedAt! - run.createdAt).toBeGreaterThanOrEqual(1000)
  })

  it('does not retry a refused key (401): failed provider_auth at once, and the provider is marked failing', async () => {
    await setUp()
    server.setBehaviour({ type: 'unauthorized' })
    const bot = await createBot({ maxRetries: 3 })
    const run = await settled((await runBot(bot.id)).id)
    expect(run).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'provider_auth' } })
    expect(run.error!.message).toMatch(/key/i)
    const [provider] = await t.providers.list(tenantId)
    expect(provider).toMatchObject({ status: 'failing', lastErrorCode: 'provider_auth' })
  })

  it('times out a slow provider after maxRuntimeSeconds; the late answer is discarded', async () => {
    await setUp()
    // biome-ignore lint/suspicious/noThenProperty: `then` is the fake server's next behaviour, not a thenable
    server.setBehaviour({ type: 'slow', delayMs: 5000, then: { type: 'success', text: 'too late' } })
    const bot = await createBot({ maxRuntimeSeconds: 1, maxRetries: 0 })
    const run = await settled((await runBot(bot.id)).id)
    expect(run).toMatchObject({ status: 'timeout', output: null })
    expect((await logOf(run.id)).at(-1)).toMatchObject({ level: 'error', message: 'aborted: timeout' })
  })

  it('cancels a run mid-stream: the call is aborted and the run ends cancelled', async () => {
    await setUp()
    server.setBehaviour({ type: 'hang', afterChunks: 2, text: 'partial answer that never ends' })
    const bot = await createBot({ maxRetries: 0 })
    const queued = await runBot(bot.id)
    await waitFor(async () => (await t.kernel.runs.get(tenantId, queued.id)).status === 'running', {
      what: 'running',
    })
    await waitFor(() => server.requests.some((r) => r.path.endsWith('/chat/completions')), {
      what: 'the call',
    })
    const cancel = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${queued.id}/cancel`,
      headers: bearer(t.keys.editor),
    })
    expect(cancel.statusCode).toBe(200)
    const run = await settled(queued.id)
    expect(run).toMatchObject({ status: 'cancelled', output: null })
    await waitFor(async () => (await logOf(run.id)).some((l) => l.message === 'aborted: cancelled'), {
      what: 'the log line',
    })
  })

  it('does not start a run over its per-run limit or daily budget (budget_exceeded, provider not called)', async () => {
    await setUp()
    const bot = await createBot({ prompt: 'x'.repeat(4000), maxCostPerRunUsd: 0.0001 })
    const run = await settled((await runBot(bot.id)).id)
    expect(run).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'budget_exceeded' } })
    expect(server.requests).toHaveLength(0)

    // Daily budget: $0.0003 per call here; the second call spends all of $0.0006 (past 80 %), the third is refused.
    server.setBehaviour({ type: 'success', text: 'ok', usage: { inputTokens: 1000, outputTokens: 250 } })
    const daily = await createBot({ name: 'Daily', dailyBudgetUsd: 0.0006, maxOutputTokens: 250 })
    for (let i = 0; i < 2; i++) expect((await settled((await runBot(daily.id)).id)).status).toBe('completed')
    const warned = await t.database.db
      .selectFrom('run_events')
      .selectAll()
      .where('type', '=', 'bot.budget_warning')
      .execute()
    expect(warned).toHaveLength(1)
    expect(JSON.parse(warned[0]!.payload)).toMatchObject({ botId: daily.id, dailyBudgetUsd: 0.0006 })
    const refused = await settled((await runBot(daily.id)).id)
    expect(refused).toMatchObject({ status: 'failed', error: { code: 'budget_exceeded' } })
    expect(refused.error!.message).toContain('daily budget')
    const usage = (
      await t.app.inject({ url: '/api/v1/usage?groupBy=bot', headers: bearer(t.keys.viewer) })
    ).json()
    expect(usage.items.find((r: { key: string }) => r.key === daily.id)).toMatchObject({
      calls: 2,
      tokensIn: 2000,
      tokensOut: 500,
    })
  })

  it.each(['anthropic', 'google', 'mistral', 'ollama'] as const)('runs a bot on %s', async (kind) => {
    const model = {
      anthropic: 'claude-3-5-haiku-latest',
      google: 'gemini-2.0-flash',
      mistral: 'mistral-small-latest',
      ollama: 'llama3.2',
    }[kind]
    await setUp(kind, model)
    server.setBehaviour({
      type: 'success',
      text: `hello from ${kind}`,
      usage: { inputTokens: 10, outputTokens: 4 },
    })
    const bot = await createBot({ provider: kind })
    const run = await settled((await runBot(bot.id)).id)
    expect(run).toMatchObject({
      status: 'completed',
      output: { text: `hello from ${kind}` },
      tokensIn: 10,
      tokensOut: 4,
    })
    if (kind === 'ollama') expect(run.costUsd).toBe(0)
  })
})
