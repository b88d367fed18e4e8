import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { startProviderServer } from '../../test/provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from '../../test/server-process.ts'

// Issue 15: two server processes on one PostgreSQL database drive the same pipelines. Either may
// claim a pipeline run or a step, and each process's `pipelines` consumer and pipeline executor
// decide for the same pipeline runs: the `pipeline_runs` row lock makes them take turns and the step
// keys make a second start impossible. Checked against the database and the provider stand-in.

const ownerKey = 'pipeline-processes-owner-key-1234'
const providerKey = 'sk-processes-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

interface ChatRequest {
  messages: Array<{ role: string; content: string | Array<{ type: string; text: string }> }>
}

/** Runs this process's workers settled, by kind and outcome (its Prometheus counter). */
async function settledBy(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const counts: Record<string, number> = {}
  for (const match of text.matchAll(
    /^openorch_runs_settled_total\{kind="([^"]+)",outcome="([^"]+)"\} (\d+)/gm,
  ))
    counts[`${match[1]}:${match[2]}`] = Number(match[3])
  return counts
}

describe.skipIf(!dialects.includes('postgres'))('pipelines driven by two processes on PostgreSQL', () => {
  it('50 pipelines of 3 steps with a branch, started through both processes: all complete, no step run doubled, no run left behind', async () => {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    cleanups.push(() => model.close())
    const env: Record<string, string> = {
      ...(await serverDatabaseEnv('postgres', cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      OPENORCH_CONCURRENCY: '8',
      OPENORCH_LEASE_SECONDS: '5',
    }
    // One after the other: the first migrates the database, the second finds it current.
    const a = startServerProcess(env, ownerKey, cleanups)
    const baseA = await a.url()
    const b = startServerProcess(env, ownerKey, cleanups)
    const baseB = await b.url()
    const callA = a.api(baseA)
    const callB = b.api(baseB)
    const configured = await callA('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.status, JSON.stringify(configured.json)).toBe(200)
    // Answers take a little while, so the two branches of a pipeline often end at the same moment.
    model.setBehaviour({
      type: 'slow',
      delayMs: 20,
      // biome-ignore lint/suspicious/noThenProperty: `then` is the stand-in's next behaviour, not a thenable
      then: { type: 'success', text: 'Two offers found: 39.90 € and 35 €.' },
    })
    const prompts = { scout: 'Scout the shops.', notify: 'Tell me about it.', log: 'Log the offers.' }
    const bots: Record<string, string> = {}
    for (const [key, prompt] of Object.entries(prompts)) {
      const bot = await callB('POST', '/bots', {
        name: `Bot ${key}`,
        prompt,
        provider: 'openai',
        maxRetries: 0,
        // Many pipelines use each bot at once.
        overlapPolicy: 'allow_all',
      })
      expect(bot.status, JSON.stringify(bot.json)).toBe(201)
      bots[key] = bot.json.id
    }
    // scout → notify and log in parallel, each with a condition on scout's output.
    const pipeline = await callA('POST', '/pipelines', {
      name: 'Offers',
      overlapPolicy: 'allow_all',
      steps: [
        { key: 'scout', bot: bots.scout },
        { key: 'notify', bot: bots.notify, dependsOn: ['scout'], condition: { contains: 'offers found' } },
        { key: 'log', bot: bots.log, dependsOn: ['scout'], condition: { matches: '\\d+ €' } },
      ],
    })
    expect(pipeline.status, JSON.stringify(pipeline.json)).toBe(201)
    const count = 50
    const runIds: string[] = []
    for (let i = 0; i < count; i++) {
      const started = await (i % 2 === 0 ? callA : callB)('POST', `/pipelines/${pipeline.json.id}/runs`, {
        input: `Topic ${i}`,
      })
      expect(started.status, JSON.stringify(started.json)).toBe(202)
      runIds.push(started.json.id)
    }

    const ended = await waitFor(
      async () => {
        const runs = await Promise.all(
          runIds.map(async (id, i) => (await (i % 2 === 0 ? callB : callA)('GET', `/runs/${id}`)).json),
        )
        return runs.every((run) => ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status))
          ? runs
          : undefined
      },
      { what: 'every pipeline to end', timeoutMs: 90_000, intervalMs: 250 },
    )
    expect(ended.map((run) => run.status)).toEqual(runIds.map(() => 'completed'))
    for (const run of ended)
      expect(run.steps.map((s: { key: string; status: string }) => `${s.key}:${s.status}`)).toEqual([
        'scout:completed',
        'notify:completed',
        'log:completed',
      ])

    const client = new pg.Client({ connectionString: env.DATABASE_URL! })
    await client.connect()
    cleanups.push(() => client.end())
    // One run per step key: three per pipeline, each the step's first attempt, tried once.
    const stepRuns = (
      await client.query<{ parent_run_id: string; idempotency_key: string; status: string; attempt: number }>(
        'SELECT parent_run_id, idempotency_key, status, attempt FROM runs WHERE parent_run_id = ANY($1)',
        [runIds],
      )
    ).rows
    expect(stepRuns).toHaveLength(count * 3)
    expect(new Set(stepRuns.map((row) => row.idempotency_key)).size).toBe(count * 3)
    for (const runId of runIds)
      expect(
        stepRuns
          .filter((row) => row.parent_run_id === runId)
          .map((row) => row.idempotency_key)
          .sort(),
      ).toEqual(['log', 'notify', 'scout'].map((key) => `pipeline:${runId}:${key}:1`))
    expect(stepRuns.every((row) => row.status === 'completed' && Number(row.attempt) === 1)).toBe(true)
    // Nothing is left pending, running or waiting.
    const unfinished = await client.query(
      "SELECT kind, status FROM runs WHERE status NOT IN ('completed', 'failed', 'cancelled', 'timeout')",
    )
    expect(unfinished.rows).toEqual([])

    // Each step was called once: scout once per topic, each branch once per pipeline.
    const turns = model.requests
      .filter((r) => r.path.endsWith('/chat/completions'))
      .map((r) => {
        const content = (r.body as ChatRequest).messages.find((m) => m.role === 'user')?.content ?? ''
        return typeof content === 'string' ? content : content.map((c) => c.text).join('')
      })
    const scouted = turns.filter((text) => text.endsWith(prompts.scout))
    expect(scouted).toHaveLength(count)
    expect(new Set(scouted.map((text) => /Topic \d+/.exec(text)?.[0])).size).toBe(count)
    expect(turns.filter((text) => text.endsWith(prompts.notify))).toHaveLength(count)
    expect(turns.filter((text) => text.endsWith(prompts.log))).toHaveLength(count)
    expect(turns).toHaveLength(count * 3)

    // Both processes did the work: each settled pipeline runs and step runs.
    const [settledA, settledB] = await Promise.all([settledBy(baseA), settledBy(baseB)])
    for (const settled of [settledA, settledB]) {
      expect(settled['bot:completed'] ?? 0).toBeGreaterThan(0)
      expect((settled['pipeline:waiting'] ?? 0) + (settled['pipeline:completed'] ?? 0)).toBeGreaterThan(0)
    }
    expect((settledA['bot:completed'] ?? 0) + (settledB['bot:completed'] ?? 0)).toBe(count * 3)
    expect((settledA['pipeline:completed'] ?? 0) + (settledB['pipeline:completed'] ?? 0)).toBe(count)
  }, 180_000)
})
