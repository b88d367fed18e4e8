import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'

// Issue 15's resilient providers on both engines: a provider that fails again and again opens its
// circuit; runs then use the bot's fallback model, or park until a probe finds it answering again.

const tenantId = 'default'
const openAiKey = 'sk-test-0123456789abcdef3456'
const anthropicKey = 'sk-ant-test-0123456789abcdef'

describe.each(dialects)('provider circuit breaker on %s', (dialect) => {
  let t: TestApp
  const servers: ProviderServer[] = []
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close()
    await t?.close()
  })

  const call = (method: string, url: string, payload?: object, key = t.keys.admin) =>
    t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: bearer(key),
      ...(payload ? { payload } : {}),
    })

  async function setUp() {
    t = await createTestApp(dialect, { circuit: { failures: 2, cooldownMs: 400 } })
    const openai = await startProviderServer('openai', {
      apiKey: openAiKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    const anthropic = await startProviderServer('anthropic', {
      apiKey: anthropicKey,
      models: ['claude-3-5-haiku-latest'],
      chunkDelayMs: 0,
    })
    servers.push(openai, anthropic)
    for (const [name, server, apiKey, model] of [
      ['openai', openai, openAiKey, 'gpt-4o-mini'],
      ['anthropic', anthropic, anthropicKey, 'claude-3-5-haiku-latest'],
    ] as const) {
      const configured = await call('PUT', `/providers/${name}`, {
        apiKey,
        baseUrl: server.baseUrl,
        defaultModel: model,
      })
      expect(configured.statusCode, configured.body).toBe(200)
    }
    t.startKernel()
    return { openai, anthropic }
  }

  const runBot = async (botId: string, statuses = ['completed', 'failed', 'waiting']) => {
    const made = await t.bots.service.runNow(tenantId, botId, { trigger: 'manual' })
    if (made.status === 'dropped') throw new Error('dropped')
    return waitFor(
      async () => {
        const run = await t.kernel.runs.get(tenantId, made.run.id)
        return statuses.includes(run.status) ? run : undefined
      },
      { what: `run ${made.run.id}` },
    )
  }
  const events = async (type: string) =>
    t.database.db.selectFrom('run_events').select('payload').where('type', '=', type).execute()

  it('opens after repeated transient failures; runs then use the fallback model, and the log says which answered', async () => {
    const { openai, anthropic } = await setUp()
    openai.setBehaviour({ type: 'server_error', status: 503 })
    anthropic.setBehaviour({ type: 'success', text: 'Answered by the fallback.' })
    const bot = await t.bots.service.create(tenantId, {
      name: 'Scout',
      prompt: 'Look.',
      provider: 'openai',
      maxRetries: 0,
      fallbacks: [{ provider: 'anthropic', model: 'claude-3-5-haiku-latest' }],
    })
    expect(bot.fallbacks).toEqual([{ provider: 'anthropic', model: 'claude-3-5-haiku-latest' }])
    expect((await runBot(bot.id)).status).toBe('failed')
    expect((await call('GET', '/providers/openai')).json().circuit).toMatchObject({
      state: 'closed',
      failures: 1,
    })
    expect((await runBot(bot.id)).status).toBe('failed')
    const provider = (await call('GET', '/providers/openai', undefined, t.keys.viewer)).json()
    expect(provider.circuit).toMatchObject({ state: 'open', failures: 2 })
    expect(provider.circuit.openedAt).toEqual(expect.any(String))
    await waitFor(async () => ((await events('provider.circuit_opened')).length === 1 ? true : undefined))
    const metrics = await t.app.inject({ url: '/metrics' })
    expect(metrics.body).toContain('openorch_provider_circuits{provider="openai",state="open"} 1')
    expect(JSON.parse((await events('provider.circuit_opened'))[0]!.payload)).toMatchObject({
      provider: 'openai',
      failures: 2,
    })

    const calledBefore = openai.requests.length
    const fallback = await runBot(bot.id)
    expect(fallback.status).toBe('completed')
    expect(fallback.output).toMatchObject({ text: 'Answered by the fallback.' })
    // The open provider was not called at all; the log names the model that answered.
    expect(openai.requests.length).toBe(calledBefore)
    const log = (await call('GET', `/runs/${fallback.id}/log`)).json().items as Array<{ message: string }>
    expect(log.map((line) => line.message).join('\n')).toContain(
      'falling back to anthropic claude-3-5-haiku-latest',
    )
    // The usage is the fallback's.
    const usage = await t.database.db
      .selectFrom('usage_records')
      .select(['provider', 'model'])
      .where('run_id', '=', fallback.id)
      .execute()
    expect(usage).toEqual([{ provider: 'anthropic', model: 'claude-3-5-haiku-latest' }])
  })

  it('without fallbacks, runs park (provider_open) and go on once a probe after the cool-down succeeds', async () => {
    const { openai } = await setUp()
    openai.setBehaviour({ type: 'server_error', status: 500 })
    const bot = await t.bots.service.create(tenantId, {
      name: 'Waiter',
      prompt: 'Look.',
      provider: 'openai',
      maxRetries: 0,
      overlapPolicy: 'allow_all',
    })
    await runBot(bot.id)
    await runBot(bot.id)
    const parked = await Promise.all([runBot(bot.id), runBot(bot.id)])
    for (const run of parked) expect(run).toMatchObject({ status: 'waiting', waitReason: 'provider_open' })
    // No worker slot is held, and nothing calls the provider while it is open.
    const calls = openai.requests.length
    openai.setBehaviour({ type: 'success', text: 'Back.' })
    // Before the cool-down the sweep wakes nobody; after it one run probes, its success closes the
    // circuit, and that wakes the other.
    expect(await t.circuit.sweep()).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 450))
    expect(await t.circuit.sweep()).toBe(1)
    for (const run of parked)
      await waitFor(
        async () => ((await t.kernel.runs.get(tenantId, run.id)).status === 'completed' ? true : undefined),
        {
          what: `parked run ${run.id} to complete`,
        },
      )
    expect(openai.requests.length).toBe(calls + 2)
    expect((await call('GET', '/providers/openai')).json().circuit).toMatchObject({
      state: 'closed',
      failures: 0,
    })
    await waitFor(async () => ((await events('provider.circuit_closed')).length === 1 ? true : undefined))
  })

  it('a probe that fails opens the circuit again for another cool-down', async () => {
    const { openai } = await setUp()
    openai.setBehaviour({ type: 'server_error', status: 502 })
    const bot = await t.bots.service.create(tenantId, {
      name: 'Prober',
      prompt: 'Look.',
      provider: 'openai',
      maxRetries: 0,
    })
    await runBot(bot.id)
    await runBot(bot.id)
    await new Promise((resolve) => setTimeout(resolve, 450))
    expect(await t.circuit.admit(tenantId, 'openai')).toEqual({ call: true, probe: true })
    // Only one probe at a time, in every process.
    expect((await t.circuit.admit(tenantId, 'openai')).call).toBe(false)
    await t.circuit.record(
      tenantId,
      'openai',
      new (await import('./provider.error.ts')).ProviderError('provider_unavailable', 'down', {
        provider: 'openai',
      }),
      null,
    )
    const state = await t.circuit.state(tenantId, 'openai')
    expect(state.state).toBe('open')
    expect((await t.circuit.admit(tenantId, 'openai')).call).toBe(false)
  })
})
