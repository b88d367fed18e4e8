import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { maxChainDepth, maxChainRuns } from './bot-triggers.ts'

// Issue 15's triggers between bots on both engines: a completed run starts the bots and pipelines its
// bot's onComplete names, by rule, passing its output; a loop stops at the chain depth limit.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'

describe.each(dialects)('bot triggers on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  async function setUp(text: string) {
    t = await createTestApp(dialect)
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 0 })
    const configured = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.setBehaviour({ type: 'success', text })
    t.startKernel()
  }
  const bot = (name: string, prompt: string, extra: Record<string, unknown> = {}) =>
    t.bots.service.create(tenantId, { name, prompt, provider: 'openai', maxRetries: 0, ...extra })
  const prompts = () =>
    model.requests
      .filter((r) => r.path.endsWith('/chat/completions'))
      .map((r) => {
        const messages = (r.body as { messages: Array<{ role: string; content: unknown }> }).messages
        return String(messages.find((m) => m.role === 'user')?.content ?? '')
      })
  const runsOf = (botId: string) =>
    t.database.db
      .selectFrom('runs')
      .select(['id', 'status', 'trigger', 'parent_run_id'])
      .where('subject_id', '=', botId)
      .execute()

  it('starts the next bot with the output when the rule holds, and not when it does not', async () => {
    await setUp('Found: Air Max 90 for 35 €')
    const writer = await bot('Writer', 'Write a post about it.')
    const scout = await bot('Scout', 'Find offers.', {
      onComplete: [{ start: { botId: writer.id }, when: 'on_results', passOutput: true }],
    })
    expect(scout.onComplete).toEqual([{ start: { botId: writer.id }, when: 'on_results', passOutput: true }])
    const first = await t.bots.service.runNow(tenantId, scout.id, { trigger: 'manual' })
    if (first.status === 'dropped') throw new Error('dropped')
    const started = await waitFor(async () => {
      const runs = await runsOf(writer.id)
      return runs.length === 1 && runs[0]!.status === 'completed' ? runs[0] : undefined
    })
    expect(started).toMatchObject({ trigger: 'event', parent_run_id: first.run.id })
    expect(prompts()[1]).toContain('The previous step produced:')
    expect(prompts()[1]).toContain('Found: Air Max 90 for 35 €')
    expect(prompts()[1]).toContain('Your task: Write a post about it.')
    expect(prompts()[1]).not.toContain('chain')

    // Nothing found: the writer is not started.
    model.setBehaviour({ type: 'success', text: 'NO_RESULTS' })
    const second = await t.bots.service.runNow(tenantId, scout.id, { trigger: 'manual' })
    if (second.status === 'dropped') throw new Error('dropped')
    await waitFor(async () =>
      (await t.kernel.runs.get(tenantId, second.run.id)).status === 'completed' ? true : undefined,
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await runsOf(writer.id)).toHaveLength(1)
  })

  it('starts a pipeline with the output as its input', async () => {
    await setUp('Three offers.')
    const summariser = await bot('Summariser', 'Summarise.')
    const pipeline = await t.pipelines.service.create(tenantId, {
      name: 'After the scout',
      steps: [{ key: 'sum', bot: summariser.id }],
    })
    const scout = await bot('Scout', 'Find offers.', { onComplete: [{ start: { pipelineId: pipeline.id } }] })
    await t.bots.service.runNow(tenantId, scout.id, { trigger: 'manual' })
    const run = await waitFor(async () => {
      const page = await t.pipelines.service.runs(tenantId, pipeline.id, { limit: 5 }, (r) => r as never)
      const found = page.items[0] as { status?: string } | undefined
      return found?.status === 'completed' ? found : undefined
    })
    expect(run).toMatchObject({ trigger: 'event' })
    expect(prompts()[1]).toContain('Three offers.')
  })

  it(`stops a loop of bots starting each other after a chain of ${maxChainDepth}`, async () => {
    await setUp('again')
    const ping = await bot('Ping', 'Ping.')
    const pong = await bot('Pong', 'Pong.', {
      onComplete: [{ start: { botId: ping.id }, passOutput: false }],
    })
    await t.bots.service.update(tenantId, ping.id, {
      onComplete: [{ start: { botId: pong.id }, when: 'always', passOutput: false }],
    })
    await t.bots.service.runNow(tenantId, ping.id, { trigger: 'manual' })
    // The first run has depth 0, each start one more: runs of depth 0…10, then the chain is refused.
    await waitFor(
      async () => {
        const all = [...(await runsOf(ping.id)), ...(await runsOf(pong.id))]
        return all.length === maxChainDepth + 1 && all.every((r) => r.status === 'completed')
          ? true
          : undefined
      },
      { what: 'the chain to end' },
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect([...(await runsOf(ping.id)), ...(await runsOf(pong.id))]).toHaveLength(maxChainDepth + 1)
  })

  it('ignores a chain a caller puts into a run’s input: the loop still stops at the depth limit', async () => {
    await setUp('again')
    const ping = await bot('Ping', 'Ping.')
    const pong = await bot('Pong', 'Pong.', {
      onComplete: [{ start: { botId: ping.id }, passOutput: false }],
    })
    await t.bots.service.update(tenantId, ping.id, {
      onComplete: [{ start: { botId: pong.id }, when: 'always', passOutput: false }],
    })
    // What a webhook caller could send: a chain that would allow a million more starts.
    await t.bots.service.runNow(tenantId, ping.id, {
      trigger: 'webhook',
      input: { chain: { depth: -1_000_000, fromRunId: 'x', budget: 1_000_000 } },
    })
    await waitFor(
      async () => {
        const all = [...(await runsOf(ping.id)), ...(await runsOf(pong.id))]
        return all.length === maxChainDepth + 1 && all.every((r) => r.status === 'completed')
          ? true
          : undefined
      },
      { what: 'the chain to end', timeoutMs: 30_000 },
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect([...(await runsOf(ping.id)), ...(await runsOf(pong.id))]).toHaveLength(maxChainDepth + 1)
  })

  it(`bounds a chain that fans out: at most ${maxChainRuns} runs started from one run, however it branches`, async () => {
    await setUp('again')
    const names = ['North', 'East', 'South', 'West']
    const bots: Array<{ id: string }> = []
    for (const name of names) bots.push(await bot(name, `${name}.`, { overlapPolicy: 'allow_all' }))
    // Each starts the three others: without a budget, 3^10 runs at the last level alone.
    for (const each of bots)
      await t.bots.service.update(tenantId, each.id, {
        onComplete: bots
          .filter((other) => other.id !== each.id)
          .map((other) => ({ start: { botId: other.id }, when: 'always' as const, passOutput: false })),
      })
    await t.bots.service.runNow(tenantId, bots[0]!.id, { trigger: 'manual' })
    const all = async () => (await Promise.all(bots.map((b) => runsOf(b.id)))).flat()
    let seen = 0
    await waitFor(
      async () => {
        const runs = await all()
        const settled = runs.length === seen && runs.every((r) => r.status === 'completed')
        seen = runs.length
        return settled ? true : undefined
      },
      { what: 'the fan-out to settle', timeoutMs: 60_000, intervalMs: 1_000 },
    )
    const runs = await all()
    expect(runs.length).toBeGreaterThan(maxChainDepth)
    expect(runs.length).toBeLessThanOrEqual(maxChainRuns + 1)
  })

  it('refuses the same target twice and a pipeline that does not exist', async () => {
    await setUp('x')
    const a = await bot('A', 'Be.')
    const b = await bot('B', 'Be.')
    const twice = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${a.id}`,
      headers: bearer(t.keys.editor),
      payload: { onComplete: [{ start: { botId: b.id } }, { start: { botId: b.id }, when: 'on_new' }] },
    })
    expect(twice.statusCode).toBe(400)
    expect(twice.json().errors).toEqual([expect.objectContaining({ field: 'onComplete[1].start' })])
    const ghost = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${a.id}`,
      headers: bearer(t.keys.editor),
      payload: { onComplete: [{ start: { pipelineId: 'no-such-pipeline' } }] },
    })
    expect(ghost.statusCode).toBe(400)
    expect(ghost.json().errors[0]).toMatchObject({ field: 'onComplete[0].start.pipelineId' })
  })

  it('refuses a bot that starts itself or a bot that does not exist', async () => {
    await setUp('x')
    const lonely = await bot('Lonely', 'Be.')
    const self = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${lonely.id}`,
      headers: bearer(t.keys.editor),
      payload: { onComplete: [{ start: { botId: lonely.id } }] },
    })
    expect(self.statusCode).toBe(400)
    expect(self.json().errors[0]).toMatchObject({ field: 'onComplete[0].start.botId' })
    const ghost = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${lonely.id}`,
      headers: bearer(t.keys.editor),
      payload: { onComplete: [{ start: { botId: 'ghost' } }] },
    })
    expect(ghost.statusCode).toBe(400)
  })
})
