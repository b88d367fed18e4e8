import { pipelineRunSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'

// A condition's regular expression runs with a time limit (50 ms of wall time). The engine tries a
// timed-out pattern three times before it counts as no match, so a pause of the process (a loaded
// machine, the garbage collector) does not skip a branch whose pattern is harmless; a catastrophic
// pattern still ends as no match, and the skip says why.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'

describe.each(dialects)('pipeline conditions on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  it('a catastrophic pattern counts as no match after three tries of 50 ms and skips its step, saying why; a plain one holds', async () => {
    t = await createTestApp(dialect)
    model = await startProviderServer('openai', {
      apiKey: key,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
      // Exponential backtracking for /^(a+)+$/: the string almost matches.
      behaviour: { type: 'success', text: `${'a'.repeat(40)}!` },
    })
    await t.providers.configure(tenantId, 'openai', {
      apiKey: key,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    t.startKernel()
    const bot = async (name: string) =>
      (
        await t.bots.service.create(tenantId, {
          name,
          prompt: `${name}.`,
          provider: 'openai',
          maxRetries: 0,
        })
      ).id
    const scout = await bot('Scout')
    const pipeline = await t.pipelines.service.create(tenantId, {
      name: 'Patterns',
      steps: [
        { key: 'scout', bot: scout },
        { key: 'catastrophic', bot: await bot('Never'), condition: { matches: '^(a+)+$' } },
        { key: 'plain', bot: await bot('Always'), dependsOn: ['scout'], condition: { matches: '!$' } },
      ],
    })
    const started = await t.pipelines.service.start(tenantId, pipeline.id, { trigger: 'api' })
    if (started.status === 'dropped') throw new Error(started.reason)
    const run = await waitFor(
      async () => {
        const answer = await t.app.inject({
          method: 'GET',
          url: `/api/v1/runs/${started.run.id}`,
          headers: bearer(t.keys.viewer),
        })
        const json = pipelineRunSchema.parse(answer.json())
        return json.status === 'completed' || json.status === 'failed' ? json : undefined
      },
      { what: 'the pipeline to end' },
    )
    expect(run.status).toBe('completed')
    const byKey = Object.fromEntries(run.steps.map((step) => [step.key, step]))
    expect(byKey.catastrophic).toMatchObject({ status: 'skipped', runId: null })
    expect(byKey.catastrophic!.skippedReason).toBe(
      'condition: the pattern /^(a+)+$/ took longer than 50 ms and counts as no match',
    )
    expect(byKey.plain).toMatchObject({ status: 'completed' })
    // Three tries of 50 ms each lie between the scout's end and the plain step's run, made by the same
    // decision right after the catastrophic step's condition.
    const runOf = async (id: string) =>
      await t.database.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    const scouted = await runOf(byKey.scout!.runId!)
    const plain = await runOf(byKey.plain!.runId!)
    expect(Number(plain.created_at) - Number(scouted.finished_at)).toBeGreaterThanOrEqual(150)
    // The scout and the plain step called the model; the catastrophic one never ran.
    expect(model.requests.filter((r) => r.path.endsWith('/chat/completions'))).toHaveLength(2)
  })
})
