import path from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from '../../test/server-process.ts'

// Issue 15: kill -9 of the real server (a child process) while a 3-step pipeline runs, then a new
// process on the same database. What decision 0033 promises, checked against the database and the
// provider stand-in: the pipeline completes; no step run is created twice (one run per
// `pipeline:<runId>:<stepKey>:<attempt>` key); a step that completed is never called again; a call
// cut off in flight is made again only by its own run's next attempt (one call per attempt).

const ownerKey = 'pipeline-crash-owner-key-12345678'
const providerKey = 'sk-crash-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

const prompts = { scout: 'Scout the shops.', check: 'Check the offers.', send: 'Send the summary.' }
type StepKey = keyof typeof prompts

interface ChatRequest {
  messages: Array<{ role: string; content: string | Array<{ type: string; text: string }> }>
}

/** The user turn of every chat request the stand-in received. */
function userTurns(model: ProviderServer): string[] {
  return model.requests
    .filter((r) => r.path.endsWith('/chat/completions'))
    .map((r) => {
      const content = (r.body as ChatRequest).messages.find((m) => m.role === 'user')?.content ?? ''
      return typeof content === 'string' ? content : content.map((c) => c.text).join('')
    })
}

/** Calls of a pipeline step (its bot's prompt, given as the task after the previous output). */
const stepCalls = (model: ProviderServer, step: StepKey) =>
  userTurns(model).filter((text) => text.endsWith(prompts[step]) && text.includes('previous step produced'))
    .length

interface StepRunRow {
  idempotency_key: string
  status: string
  attempt: number
}

/** Rows of the server's database, read directly (also while no server runs); `$1`… parameters. */
async function queryRows<Row>(
  dialect: string,
  env: Record<string, string>,
  query: string,
  parameters: unknown[] = [],
): Promise<Row[]> {
  if (dialect === 'postgres') {
    const client = new pg.Client({ connectionString: env.DATABASE_URL })
    await client.connect()
    try {
      return (await client.query(query, parameters)).rows as Row[]
    } finally {
      await client.end()
    }
  }
  const sqlite = new SqliteDatabase(path.join(env.OPENORCH_DATA_DIR!, 'openorch.db'), { readonly: true })
  try {
    return sqlite.prepare(query.replace(/\$\d+/g, '?')).all(...parameters) as Row[]
  } finally {
    sqlite.close()
  }
}

/** The step runs of a pipeline run, oldest first. */
async function stepRunsOf(dialect: string, env: Record<string, string>, pipelineRunId: string) {
  const rows = await queryRows<StepRunRow>(
    dialect,
    env,
    'SELECT idempotency_key, status, attempt FROM runs WHERE parent_run_id = $1 ORDER BY created_at',
    [pipelineRunId],
  )
  return rows.map((row) => ({ ...row, attempt: Number(row.attempt) }))
}

/** Runs that have not ended (pending, running, waiting), by kind and status. */
const unfinishedRuns = (dialect: string, env: Record<string, string>) =>
  queryRows<{ kind: string; status: string }>(
    dialect,
    env,
    "SELECT kind, status FROM runs WHERE status NOT IN ('completed', 'failed', 'cancelled', 'timeout')",
  )

describe.each(dialects)('pipelines across kill -9 on %s', (dialect) => {
  async function setUp() {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    cleanups.push(() => model.close())
    const env = {
      ...(await serverDatabaseEnv(dialect, cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      // A dead process's runs are taken over within seconds, not half a minute.
      OPENORCH_LEASE_SECONDS: '3',
    }
    const first = startServerProcess(env, ownerKey, cleanups)
    const call = first.api(await first.url())
    const configured = await call('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.status, JSON.stringify(configured.json)).toBe(200)
    const bots = {} as Record<StepKey, string>
    for (const step of Object.keys(prompts) as StepKey[]) {
      // Retries left for a run whose attempt dies with the process (its lease expires).
      const bot = await call('POST', '/bots', {
        name: `Bot ${step}`,
        prompt: prompts[step],
        provider: 'openai',
        maxRetries: 2,
        retryDelaySeconds: 0,
      })
      expect(bot.status, JSON.stringify(bot.json)).toBe(201)
      bots[step] = bot.json.id
    }
    const pipeline = await call('POST', '/pipelines', {
      name: 'Offers',
      steps: [
        { key: 'scout', bot: bots.scout },
        { key: 'check', bot: bots.check },
        { key: 'send', bot: bots.send },
      ],
    })
    expect(pipeline.status, JSON.stringify(pipeline.json)).toBe(201)
    return { model, env, first, call, bots, pipelineId: pipeline.json.id as string }
  }

  /** The pipeline run as its pipeline's run list shows it (with its steps). */
  const pipelineRun = async (
    call: ReturnType<ReturnType<typeof startServerProcess>['api']>,
    pipelineId: string,
    runId: string,
  ) =>
    (
      (await call('GET', `/pipelines/${pipelineId}/runs`)).json.items as Array<{
        id: string
        status: string
        output: unknown
        steps: Array<{ key: string; status: string; runId: string | null; attempt: number }>
      }>
    ).find((run) => run.id === runId)

  it('a kill -9 between two steps loses nothing: after a restart the pipeline completes and each step is called once', async () => {
    const { model, env, first, call, bots, pipelineId } = await setUp()
    // Step 2's bot is busy with a run of its own that hangs at the provider, so step 2's run, once the
    // pipeline enqueues it, waits behind the bot's concurrency key: the kill lands exactly after step
    // 1 ended and step 2's run was created, before step 2 called anything.
    model.setBehaviour({ type: 'slow', delayMs: 120_000 })
    const blocker = await call('POST', `/bots/${bots.check}/runs`, {})
    expect(blocker.status, JSON.stringify(blocker.json)).toBe(202)
    await waitFor(() => userTurns(model).some((text) => text === prompts.check), {
      what: 'the blocking run at the provider',
      timeoutMs: 30_000,
    })
    model.setBehaviour({ type: 'success', text: 'Two offers: 39.90 € and 35 €.' })
    const started = await call('POST', `/pipelines/${pipelineId}/runs`, { input: 'Nike Air Max 90' })
    expect(started.status, JSON.stringify(started.json)).toBe(202)
    const runId = started.json.id as string
    const between = await waitFor(
      async () => {
        const run = await pipelineRun(call, pipelineId, runId)
        const check = run?.steps.find((s) => s.key === 'check')
        if (run?.steps[0]?.status !== 'completed' || !check?.runId) return undefined
        return (await call('GET', `/runs/${check.runId}`)).json.status === 'pending' ? run : undefined
      },
      { what: 'step 1 done and step 2 queued', timeoutMs: 30_000 },
    )
    expect(between.status).toBe('waiting')
    expect(stepCalls(model, 'scout')).toBe(1)
    expect(stepCalls(model, 'check')).toBe(0)
    first.child.kill('SIGKILL')
    await first.exited
    expect((await stepRunsOf(dialect, env, runId)).map((r) => [r.idempotency_key, r.status])).toEqual([
      [`pipeline:${runId}:scout:1`, 'completed'],
      [`pipeline:${runId}:check:1`, 'pending'],
    ])

    const second = startServerProcess(env, ownerKey, cleanups)
    const again = second.api(await second.url())
    const done = await waitFor(
      async () => {
        const run = await pipelineRun(again, pipelineId, runId)
        return run && ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined
      },
      { what: 'the pipeline to end after the restart', timeoutMs: 60_000 },
    )
    expect(done.status).toBe('completed')
    expect(done.steps.map((s) => [s.key, s.status, s.attempt])).toEqual([
      ['scout', 'completed', 1],
      ['check', 'completed', 1],
      ['send', 'completed', 1],
    ])
    expect(done.output).toMatchObject({ step: 'send', text: 'Two offers: 39.90 € and 35 €.' })
    // One run per step key, each done by its first attempt; each step called once.
    const steps = await stepRunsOf(dialect, env, runId)
    expect(steps).toEqual(
      (['scout', 'check', 'send'] as const).map((key) => ({
        idempotency_key: `pipeline:${runId}:${key}:1`,
        status: 'completed',
        attempt: 1,
      })),
    )
    expect([stepCalls(model, 'scout'), stepCalls(model, 'check'), stepCalls(model, 'send')]).toEqual([
      1, 1, 1,
    ])
    // The blocking run, cut off in flight, was called again by its own second attempt.
    const blocked = (await again('GET', `/runs/${blocker.json.id}`)).json
    expect(blocked).toMatchObject({ status: 'completed', attempt: 2 })
    expect(userTurns(model).filter((text) => text === prompts.check)).toHaveLength(2)
    // Nothing more happens later.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(userTurns(model)).toHaveLength(5)
    expect(await unfinishedRuns(dialect, env)).toEqual([])
  }, 120_000)

  it('a kill -9 while a step’s provider call is in flight: only that step’s run calls again (its next attempt), no step run is created twice', async () => {
    const { model, env, first, call, pipelineId } = await setUp()
    // Step 1 answers; step 2's call hangs at the provider until the process dies.
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'success', text: 'Two offers: 39.90 € and 35 €.' },
        { type: 'slow', delayMs: 120_000 },
      ],
    })
    const started = await call('POST', `/pipelines/${pipelineId}/runs`, { input: 'Nike Air Max 90' })
    expect(started.status, JSON.stringify(started.json)).toBe(202)
    const runId = started.json.id as string
    await waitFor(() => stepCalls(model, 'check') === 1, {
      what: 'step 2 at the provider',
      timeoutMs: 30_000,
    })
    first.child.kill('SIGKILL')
    await first.exited
    expect((await stepRunsOf(dialect, env, runId)).map((r) => [r.idempotency_key, r.status])).toEqual([
      [`pipeline:${runId}:scout:1`, 'completed'],
      [`pipeline:${runId}:check:1`, 'running'],
    ])

    model.setBehaviour({ type: 'success', text: 'Sent.' })
    const second = startServerProcess(env, ownerKey, cleanups)
    const again = second.api(await second.url())
    const done = await waitFor(
      async () => {
        const run = await pipelineRun(again, pipelineId, runId)
        return run && ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined
      },
      { what: 'the pipeline to end after the restart', timeoutMs: 60_000 },
    )
    expect(done.status).toBe('completed')
    // The pipeline's step attempts: all first ones (the bot run's own retry is not a new step attempt).
    expect(done.steps.map((s) => [s.key, s.status, s.attempt])).toEqual([
      ['scout', 'completed', 1],
      ['check', 'completed', 1],
      ['send', 'completed', 1],
    ])
    const steps = await stepRunsOf(dialect, env, runId)
    expect(steps).toEqual([
      { idempotency_key: `pipeline:${runId}:scout:1`, status: 'completed', attempt: 1 },
      // Its lease expired with the process; its second attempt made the call again.
      { idempotency_key: `pipeline:${runId}:check:1`, status: 'completed', attempt: 2 },
      { idempotency_key: `pipeline:${runId}:send:1`, status: 'completed', attempt: 1 },
    ])
    // One call per attempt: step 1 (completed before the kill) never again, step 2 once per attempt.
    expect([stepCalls(model, 'scout'), stepCalls(model, 'check'), stepCalls(model, 'send')]).toEqual([
      1, 2, 1,
    ])
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(userTurns(model)).toHaveLength(4)
    expect(await unfinishedRuns(dialect, env)).toEqual([])
  }, 120_000)

  it('kill -9 at random moments while 12 pipelines run: all complete, one run per step key, no completed step called again', async () => {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    cleanups.push(() => model.close())
    const env = {
      ...(await serverDatabaseEnv(dialect, cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      OPENORCH_LEASE_SECONDS: '3',
      OPENORCH_CONCURRENCY: '8',
      OPENORCH_POLL_INTERVAL_MS: '100',
    }
    let server = startServerProcess(env, ownerKey, cleanups)
    let call = server.api(await server.url())
    await call('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    // Every step of every pipeline has a bot of its own, so each call names its step run.
    const count = 12
    const keys = ['scout', 'check', 'send'] as const
    const promptOf = (i: number, key: string) => `Step ${key} of pipeline ${i}.`
    const runIds: string[] = []
    const pipelineIds: string[] = []
    for (let i = 0; i < count; i++) {
      const steps = []
      for (const key of keys) {
        const bot = await call('POST', '/bots', {
          name: `Bot ${key} ${i}`,
          prompt: promptOf(i, key),
          provider: 'openai',
          maxRetries: 5,
          retryDelaySeconds: 0,
        })
        expect(bot.status, JSON.stringify(bot.json)).toBe(201)
        steps.push({ key, bot: bot.json.id as string })
      }
      const pipeline = await call('POST', '/pipelines', { name: `Chaos ${i}`, steps })
      expect(pipeline.status, JSON.stringify(pipeline.json)).toBe(201)
      pipelineIds.push(pipeline.json.id)
    }
    // Calls take a while, so some are always in flight; the engine decides between them.
    model.setBehaviour({
      type: 'slow',
      delayMs: 250,
      // biome-ignore lint/suspicious/noThenProperty: `then` is the stand-in's next behaviour, not a thenable
      then: { type: 'success', text: 'Done.' },
    })
    const callsOf = (i: number, key: string) =>
      userTurns(model).filter((text) => text.endsWith(promptOf(i, key))).length
    for (const id of pipelineIds) {
      const started = await call('POST', `/pipelines/${id}/runs`, {})
      expect(started.status, JSON.stringify(started.json)).toBe(202)
      runIds.push(started.json.id)
    }
    // What had completed at each kill, and how often it had been called by then.
    const completedAtKill = new Map<string, number>()
    for (let kill = 0; kill < 3; kill++) {
      // Once this process is at work (a call arrives; after a restart, once the dead one's leases lapsed).
      const calls = userTurns(model).length
      const finished = async () =>
        (await Promise.all(runIds.map((id) => stepRunsOf(dialect, env, id)))).every(
          (rows) => rows.length === keys.length && rows.every((row) => row.status === 'completed'),
        )
      const busy = await waitFor(
        async () => (userTurns(model).length > calls ? 'busy' : (await finished()) ? 'finished' : undefined),
        { what: 'a call', timeoutMs: 30_000 },
      )
      if (busy === 'finished') break
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(Math.random() * 1300)))
      server.child.kill('SIGKILL')
      await server.exited
      for (const [i, runId] of runIds.entries())
        for (const row of await stepRunsOf(dialect, env, runId)) {
          const key = row.idempotency_key.split(':')[2]!
          if (row.status === 'completed' && !completedAtKill.has(`${i}:${key}`))
            completedAtKill.set(`${i}:${key}`, callsOf(i, key))
        }
      server = startServerProcess(env, ownerKey, cleanups)
      call = server.api(await server.url())
    }
    const ended = await waitFor(
      async () => {
        const runs = await Promise.all(runIds.map(async (id) => (await call('GET', `/runs/${id}`)).json))
        return runs.every((run) => ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status))
          ? runs
          : undefined
      },
      { what: 'every pipeline to end', timeoutMs: 90_000 },
    )
    expect(ended.map((run) => run.status)).toEqual(runIds.map(() => 'completed'))
    expect(await unfinishedRuns(dialect, env)).toEqual([])
    expect(completedAtKill.size).toBeGreaterThan(0)
    for (const [i, runId] of runIds.entries()) {
      const rows = await stepRunsOf(dialect, env, runId)
      // One run per step key, every one the step's first attempt.
      expect(rows.map((row) => row.idempotency_key)).toEqual(keys.map((key) => `pipeline:${runId}:${key}:1`))
      for (const row of rows) {
        const key = row.idempotency_key.split(':')[2]!
        expect(row.status).toBe('completed')
        // At most one call per attempt of the step's run (an attempt cut off before its call makes none).
        expect(callsOf(i, key)).toBeGreaterThanOrEqual(1)
        expect(callsOf(i, key)).toBeLessThanOrEqual(row.attempt)
        // A step that had completed at a kill was never called again.
        const before = completedAtKill.get(`${i}:${key}`)
        if (before !== undefined) expect(callsOf(i, key), `${i}:${key}`).toBe(before)
      }
    }
  }, 180_000)
})
