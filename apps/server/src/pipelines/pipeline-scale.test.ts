import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'

// Issue 15 at scale: many 5-step pipelines at once, every step a real bot run against the OpenAI
// stand-in answering at once. Every pipeline completes, every step runs once (one run per step key,
// one model call per attempt of it), and nothing is left pending, running or waiting: the issue's
// 1,000 on both engines.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'
const count = 1000

describe.each(dialects)('pipelines at scale on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  it(`${count} pipelines of 5 steps all complete, each step run once, no run left behind`, async () => {
    t = await createTestApp(dialect, {
      // As a production worker: more slots than the tests' default, a lease that load cannot outlast.
      kernel: { worker: { concurrency: 16, leaseMs: 30_000 } },
    })
    model = await startProviderServer('openai', {
      apiKey: key,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
      behaviour: { type: 'success', text: 'ok', chunks: 1 },
    })
    await t.providers.configure(tenantId, 'openai', {
      apiKey: key,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    const steps = []
    for (let i = 1; i <= 5; i++) {
      const bot = await t.bots.service.create(tenantId, {
        name: `Step ${i}`,
        prompt: `Do step ${i}.`,
        provider: 'openai',
        // A call that fails on the way (a loaded machine, a reused connection) is the bot's to retry, as
        // in production; the pipeline's promise is about step runs, checked below.
        maxRetries: 2,
        retryDelaySeconds: 0,
        // Every pipeline uses these five bots at once.
        overlapPolicy: 'allow_all',
      })
      steps.push({ key: `s${i}`, bot: bot.id })
    }
    const pipeline = await t.pipelines.service.create(tenantId, {
      name: 'Five steps',
      overlapPolicy: 'allow_all',
      steps,
    })
    for (let i = 0; i < count; i++) {
      const result = await t.pipelines.service.start(tenantId, pipeline.id, {
        trigger: 'api',
        input: `#${i}`,
      })
      if (result.status === 'dropped') throw new Error(`dropped: ${result.reason}`)
    }
    t.startKernel()
    const db = t.database.db
    await waitFor(
      async () => {
        const open = await db
          .selectFrom('runs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('kind', '=', 'pipeline')
          .where('status', 'not in', ['completed', 'failed', 'cancelled', 'timeout'])
          .executeTakeFirstOrThrow()
        return Number(open.n) === 0
      },
      // ~80 s on SQLite and ~40 s on PostgreSQL on a shared 2-core machine; room for a slower one.
      { what: `${count} pipelines to end`, timeoutMs: 240_000, intervalMs: 500 },
    )

    const pipelineRuns = await db
      .selectFrom('runs')
      .select(['status', 'error_code', 'error_message'])
      .where('kind', '=', 'pipeline')
      .execute()
    expect(pipelineRuns).toHaveLength(count)
    expect(
      pipelineRuns
        .filter((run) => run.status !== 'completed')
        .map((run) => `${run.status} ${run.error_code}: ${run.error_message}`),
    ).toEqual([])
    // One bot run per step key, each completed; every step row completed.
    const stepRuns = await db
      .selectFrom('runs')
      .select(['idempotency_key', 'status', 'attempt', 'error_message'])
      .where('kind', '=', 'bot')
      .execute()
    expect(stepRuns).toHaveLength(count * 5)
    expect(new Set(stepRuns.map((run) => run.idempotency_key)).size).toBe(count * 5)
    expect(
      stepRuns
        .filter((run) => run.status !== 'completed')
        .map((run) => `${run.idempotency_key} ${run.status} attempt ${run.attempt}: ${run.error_message}`),
    ).toEqual([])
    const stepRows = await db
      .selectFrom('pipeline_run_steps')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute()
    expect(stepRows.map((row) => [row.status, Number(row.n)])).toEqual([['completed', count * 5]])
    // Nothing pending, running or waiting, of any kind.
    const unfinished = await sql<{ n: number }>`
      SELECT count(*) AS n FROM runs WHERE status NOT IN ('completed', 'failed', 'cancelled', 'timeout')
    `.execute(db)
    expect(Number(unfinished.rows[0]!.n)).toBe(0)
    // Every step run called the model, at most once per attempt (nearly always one attempt).
    const attempts = stepRuns.reduce((sum, run) => sum + Number(run.attempt), 0)
    const calls = model.requests.filter((r) => r.path.endsWith('/chat/completions')).length
    expect(calls).toBeGreaterThanOrEqual(count * 5)
    expect(calls).toBeLessThanOrEqual(attempts)
  }, 300_000)
})
