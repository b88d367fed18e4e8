import { type PipelineRun, pipelineRunSchema, pipelineSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import {
  type ProviderBehaviour,
  type ProviderServer,
  startProviderServer,
} from '../../test/provider-servers/index.ts'

// Issue 15 on both engines: pipelines of bots against the OpenAI stand-in. What each step's bot was
// sent is read back from the stand-in's requests.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'

interface ChatRequest {
  messages: Array<{ role: string; content: string | Array<{ type: string; text: string }> }>
}

describe.each(dialects)('pipelines on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  const call = (method: string, url: string, payload?: object, credential = t.keys.editor) =>
    t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: bearer(credential),
      ...(payload === undefined ? {} : { payload }),
    })

  async function setUp(behaviour: ProviderBehaviour = { type: 'success', text: 'ok' }) {
    t = await createTestApp(dialect)
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 0 })
    const configured = await call(
      'PUT',
      '/providers/openai',
      { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
      t.keys.admin,
    )
    expect(configured.statusCode, configured.body).toBe(200)
    model.setBehaviour(behaviour)
    t.startKernel()
  }

  const bot = async (name: string, prompt: string, extra: Record<string, unknown> = {}) =>
    (
      await t.bots.service.create(tenantId, {
        name,
        prompt,
        provider: 'openai',
        retryDelaySeconds: 0,
        maxRetries: 0,
        ...extra,
      })
    ).id

  async function pipeline(body: Record<string, unknown>) {
    const created = await call('POST', '/pipelines', body)
    expect(created.statusCode, created.body).toBe(201)
    return pipelineSchema.parse(created.json())
  }

  async function runPipeline(id: string, input?: unknown): Promise<PipelineRun> {
    const started = await call(
      'POST',
      `/pipelines/${id}/runs`,
      input === undefined ? { trigger: 'manual' } : { input },
    )
    expect(started.statusCode, started.body).toBe(202)
    return pipelineRunSchema.parse(started.json())
  }

  async function finished(
    pipelineId: string,
    runId: string,
    statuses = ['completed', 'failed', 'timeout', 'cancelled'],
  ) {
    return waitFor(
      async () => {
        const page = await call('GET', `/pipelines/${pipelineId}/runs`)
        const run = pipelineRunSchema
          .array()
          .parse(page.json().items)
          .find((r) => r.id === runId)
        return run && statuses.includes(run.status) ? run : undefined
      },
      { what: `pipeline run ${runId} to end`, timeoutMs: 20_000 },
    )
  }

  /** The user turn each chat request sent, in order (the system text too, when asked). */
  const sent = (part: 'user' | 'system' = 'user') =>
    model.requests
      .filter((r) => r.path.endsWith('/chat/completions'))
      .map((r) => {
        const message = (r.body as ChatRequest).messages.find((m) => m.role === part)
        const content = message?.content ?? ''
        return typeof content === 'string' ? content : content.map((c) => c.text).join('')
      })

  it('refuses definitions that cannot run, naming each bad step', async () => {
    await setUp()
    const writer = await bot('Writer', 'Write.')
    const refused = await call('POST', '/pipelines', {
      name: 'Broken',
      steps: [
        { key: 'a', bot: writer },
        { key: 'b', bot: 'no-such-bot', dependsOn: ['a'] },
        { key: 'c', bot: writer, dependsOn: ['b'] },
        { key: 'c', bot: writer, dependsOn: ['ghost'] },
      ],
    })
    expect(refused.statusCode).toBe(400)
    const problem = refused.json() as { code: string; errors: Array<{ field: string; code: string }> }
    expect(problem.code).toBe('pipeline_invalid')
    const codes = problem.errors.map((e) => `${e.field}:${e.code}`)
    expect(codes).toEqual(
      expect.arrayContaining([
        'steps[1].bot:unknown_bot',
        'steps[3].key:duplicate_step',
        'steps[3].dependsOn:unknown_step',
      ]),
    )
    expect(codes).toHaveLength(3)
    const cycle = await call('POST', '/pipelines', {
      name: 'Cycle',
      steps: [
        { key: 'a', bot: writer, dependsOn: ['c'] },
        { key: 'b', bot: writer, dependsOn: ['a'] },
        { key: 'c', bot: writer, dependsOn: ['b'] },
        { key: 'd', bot: writer, dependsOn: [] },
        { key: 'e', bot: writer, dependsOn: ['e'] },
      ],
    })
    expect(cycle.statusCode).toBe(400)
    expect(
      cycle
        .json()
        .errors.map((e: { field: string; code: string }) => `${e.field}:${e.code}`)
        .sort(),
    ).toEqual([
      'steps[0].dependsOn:cycle',
      'steps[1].dependsOn:cycle',
      'steps[2].dependsOn:cycle',
      'steps[4].dependsOn:cycle',
    ])
    const badCondition = await call('POST', '/pipelines', {
      name: 'Bad condition',
      steps: [
        { key: 'a', bot: writer },
        { key: 'b', bot: writer, condition: { matches: '(' } },
      ],
    })
    expect(badCondition.json().errors[0]).toMatchObject({
      field: 'steps[1].condition.matches',
      code: 'bad_regex',
    })
  })

  it('chains steps with each input mode: forward, merge and independent, and keeps every step a child run', async () => {
    await setUp({
      type: 'script',
      steps: [
        { type: 'success', text: 'Draft: sneakers are back.' },
        { type: 'success', text: 'Checked: Sneakers are back.' },
        { type: 'success', text: 'Sent.' },
      ],
    })
    const writer = await bot('Writer', 'Write the newsletter.')
    const checker = await bot('Checker', 'Fix the grammar.')
    const sender = await bot('Sender', 'Say that it was sent.')
    const newsletter = await pipeline({
      name: 'Newsletter',
      steps: [
        { key: 'write', bot: writer },
        { key: 'check', bot: checker, inputMode: 'forward' },
        { key: 'send', bot: sender, inputMode: 'merge' },
      ],
    })
    expect(newsletter.version).toBe(1)
    const started = await runPipeline(newsletter.id, 'Topic: sneakers')
    expect(started).toMatchObject({
      kind: 'pipeline',
      pipelineId: newsletter.id,
      pipelineVersion: 1,
      trigger: 'api',
    })
    const run = await finished(newsletter.id, started.id)
    expect(run.status, JSON.stringify(run.error)).toBe('completed')
    expect(run.steps.map((s) => [s.key, s.status])).toEqual([
      ['write', 'completed'],
      ['check', 'completed'],
      ['send', 'completed'],
    ])
    expect(run.output).toMatchObject({ text: 'Sent.', step: 'send' })
    const [write, check, send] = sent()
    // The first step gets the pipeline's input; forward puts the previous output before the task.
    expect(write).toContain('Topic: sneakers')
    expect(check).toContain('The previous step produced:')
    expect(check).toContain('Draft: sneakers are back.')
    expect(check).toContain('Your task: Fix the grammar.')
    // merge: the previous output is context (system), the bot's prompt is the task.
    expect(send).toBe('Say that it was sent.')
    expect(sent('system')[2]).toContain('Checked: Sneakers are back.')
    // Read alone through the runs API, a pipeline run carries its version and steps too.
    const alone1 = (await call('GET', `/runs/${run.id}`)).json()
    expect(alone1).toMatchObject({ kind: 'pipeline', pipelineId: newsletter.id, pipelineVersion: 1 })
    expect(alone1.steps.map((s: { status: string }) => s.status)).toEqual([
      'completed',
      'completed',
      'completed',
    ])
    // Every step is a bot run whose parent is the pipeline run, with trigger `pipeline`.
    for (const step of run.steps) {
      const child = (await call('GET', `/runs/${step.runId}`)).json()
      expect(child).toMatchObject({
        kind: 'bot',
        parentRunId: run.id,
        trigger: 'pipeline',
        status: 'completed',
      })
    }
    // independent ignores what came before.
    const alone = await pipeline({
      name: 'Alone',
      steps: [
        { key: 'a', bot: writer },
        { key: 'b', bot: checker, inputMode: 'independent' },
      ],
    })
    model.setBehaviour({ type: 'success', text: 'Something.' })
    const aloneRun = await finished(alone.id, (await runPipeline(alone.id)).id)
    expect(aloneRun.status).toBe('completed')
    expect(sent().at(-1)).toBe('Fix the grammar.')
  })

  /** Answers `text` after `delayMs` (the stand-in's `slow` behaviour). */
  const slowly = (delayMs: number, text: string): ProviderBehaviour => ({
    type: 'slow',
    delayMs,
    // biome-ignore lint/suspicious/noThenProperty: `then` is the fake server's next behaviour, not a thenable
    then: { type: 'success', text },
  })

  it('runs branches in parallel and gives a join both outputs labelled by step key', async () => {
    await setUp(slowly(300, 'Found 2 offers.'))
    const scout = await bot('Scout', 'Find offers.', { overlapPolicy: 'allow_all' })
    const other = await bot('Other scout', 'Find other offers.')
    const merger = await bot('Merger', 'Merge the lists.')
    const p = await pipeline({
      name: 'Fan in',
      steps: [
        { key: 'ebay', bot: scout, dependsOn: [] },
        { key: 'kleinanzeigen', bot: other, dependsOn: [] },
        { key: 'merge', bot: merger, dependsOn: ['ebay', 'kleinanzeigen'] },
      ],
    })
    const run = await finished(p.id, (await runPipeline(p.id)).id)
    expect(run.status, JSON.stringify(run.error)).toBe('completed')
    const [ebay, klein, merge] = run.steps
    // Both branches were running at once: each started before the other ended.
    expect(Date.parse(ebay!.startedAt!)).toBeLessThan(Date.parse(klein!.finishedAt!))
    expect(Date.parse(klein!.startedAt!)).toBeLessThan(Date.parse(ebay!.finishedAt!))
    expect(Date.parse(merge!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(ebay!.finishedAt!))
    const joined = sent().at(-1)!
    expect(joined).toContain('## ebay\nFound 2 offers.')
    expect(joined).toContain('## kleinanzeigen\nFound 2 offers.')
  })

  it('skips steps whose condition does not hold, and the branch after them; other branches run', async () => {
    await setUp({ type: 'success', text: 'No offers today.' })
    const scout = await bot('Scout', 'Find offers.')
    const notifier = await bot('Notifier', 'Tell me.')
    const logger = await bot('Logger', 'Log it.')
    const p = await pipeline({
      name: 'Conditional',
      steps: [
        { key: 'scout', bot: scout },
        { key: 'notify', bot: notifier, condition: { contains: 'offer found' } },
        { key: 'after-notify', bot: notifier },
        {
          key: 'log',
          bot: logger,
          dependsOn: ['scout'],
          condition: { matches: '^No offers', status: 'completed' },
        },
      ],
    })
    const run = await finished(p.id, (await runPipeline(p.id)).id)
    expect(run.status).toBe('completed')
    const byKey = Object.fromEntries(run.steps.map((s) => [s.key, s]))
    expect(byKey.notify).toMatchObject({ status: 'skipped', runId: null })
    expect(byKey.notify!.skippedReason).toContain('does not contain "offer found"')
    expect(byKey['after-notify']).toMatchObject({ status: 'skipped' })
    expect(byKey.log).toMatchObject({ status: 'completed' })
    expect(sent()).toHaveLength(2)
  })

  it('applies error policies: abort stops the pipeline, skip gives the dependant empty input, retry runs the step once more', async () => {
    await setUp()
    const scout = await bot('Scout', 'Find offers.')
    const writer = await bot('Writer', 'Write it up.')
    const steps = (policy: string) => [
      { key: 'scout', bot: scout, errorPolicy: policy },
      { key: 'write', bot: writer },
    ]
    // abort: the pipeline fails with the step's error; the step after is skipped.
    const abort = await pipeline({ name: 'Abort', steps: steps('abort') })
    model.setBehaviour({
      type: 'script',
      steps: [{ type: 'bad_request' }, { type: 'success', text: 'never' }],
    })
    const aborted = await finished(abort.id, (await runPipeline(abort.id)).id)
    expect(aborted.status).toBe('failed')
    expect(aborted.trigger).toBe('manual')
    expect(aborted.error?.code).toBe('pipeline_step_failed')
    expect(aborted.error?.message).toContain('Step "scout" failed')
    expect(aborted.steps.map((s) => s.status)).toEqual(['failed', 'skipped'])
    expect(aborted.steps[1]!.skippedReason).toContain('step "scout" failed')

    // skip: the failed step is skipped, the next one runs with nothing before it.
    const skip = await pipeline({ name: 'Skip', steps: steps('skip') })
    model.setBehaviour({
      type: 'script',
      steps: [{ type: 'bad_request' }, { type: 'success', text: 'Written anyway.' }],
    })
    const skipped = await finished(skip.id, (await runPipeline(skip.id)).id)
    expect(skipped.status).toBe('completed')
    expect(skipped.steps.map((s) => s.status)).toEqual(['skipped', 'completed'])
    expect(skipped.steps[0]!.skippedReason).toMatch(/^failed: /)
    expect(sent().at(-1)).toBe('Write it up.')

    // retry: attempt 2 of the step (a new run), then the pipeline goes on.
    const retry = await pipeline({ name: 'Retry', steps: steps('retry') })
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'bad_request' },
        { type: 'success', text: 'Found one.' },
        { type: 'success', text: 'Done.' },
      ],
    })
    const retried = await finished(retry.id, (await runPipeline(retry.id)).id)
    expect(retried.status).toBe('completed')
    expect(retried.steps[0]).toMatchObject({ status: 'completed', attempt: 2 })
    const children = (await call('GET', `/runs?limit=200`))
      .json()
      .items.filter((r: { parentRunId: string | null }) => r.parentRunId === retried.id)
    expect(children).toHaveLength(3)
  })

  it('parks for an approval of a step’s output: approve goes on, reject fails the pipeline, each decision audited', async () => {
    await setUp({ type: 'success', text: 'The newsletter text.' })
    const checker = await bot('Checker', 'Check.')
    const sender = await bot('Sender', 'Send.')
    const p = await pipeline({
      name: 'Approved newsletter',
      steps: [
        { key: 'check', bot: checker, approval: { required: true } },
        { key: 'send', bot: sender },
      ],
    })
    const started = await runPipeline(p.id)
    await waitFor(async () => {
      const run = (await call('GET', `/runs/${started.id}`)).json()
      return run.status === 'waiting' && run.waitReason === 'approval' ? run : undefined
    })
    const waiting = pipelineRunSchema.parse((await call('GET', `/pipelines/${p.id}/runs`)).json().items[0])
    expect(waiting.steps.map((s) => s.status)).toEqual(['approval', 'pending'])
    const approvalId = waiting.steps[0]!.approvalId!
    const approval = (await call('GET', `/approvals/${approvalId}`)).json()
    expect(approval).toMatchObject({
      status: 'pending',
      runId: started.id,
      tool: 'check',
      botId: null,
      pipelineId: p.id,
      pipelineName: 'Approved newsletter',
    })
    // Its event names the pipeline and carries the output to approve (what a Telegram message shows).
    const requested = await t.database.db
      .selectFrom('run_events')
      .select('payload')
      .where('type', '=', 'approval.requested')
      .where('run_id', '=', started.id)
      .executeTakeFirstOrThrow()
    expect(JSON.parse(requested.payload)).toMatchObject({
      kind: 'pipeline',
      subjectName: 'Approved newsletter',
      arguments: expect.stringContaining('The newsletter text.'),
    })
    expect(JSON.stringify(approval.arguments)).toContain('The newsletter text.')
    expect(sent()).toHaveLength(1)
    const approved = await call('POST', `/approvals/${approvalId}/approve`, { comment: 'looks good' })
    expect(approved.statusCode, approved.body).toBe(200)
    const done = await finished(p.id, started.id)
    expect(done.status).toBe('completed')
    expect(sent()).toHaveLength(2)

    const second = await runPipeline(p.id)
    const secondApproval = (
      await waitFor(async () => {
        const run = (await call('GET', `/pipelines/${p.id}/runs`))
          .json()
          .items.find((r: PipelineRun) => r.id === second.id)
        return run.steps[0].approvalId ? run : undefined
      })
    ).steps[0].approvalId as string
    await call('POST', `/approvals/${secondApproval}/reject`, { comment: 'tone is off' })
    const rejected = await finished(p.id, second.id)
    expect(rejected.status).toBe('failed')
    expect(rejected.error?.message).toContain('tone is off')
    expect(rejected.steps[1]!.status).toBe('skipped')
    const audit = (await call('GET', '/audit?limit=50', undefined, t.keys.admin)).json().items as Array<{
      action: string
    }>
    expect(audit.map((e) => e.action)).toEqual(
      expect.arrayContaining(['approval.approved', 'approval.rejected']),
    )
  })

  it('cancel stops running steps and skips the rest; retry runs only the failed and skipped steps again', async () => {
    await setUp({ type: 'slow', delayMs: 5_000 })
    const slow = await bot('Slow', 'Take your time.')
    const writer = await bot('Writer', 'Write.')
    const p = await pipeline({
      name: 'Cancel me',
      steps: [
        { key: 'slow', bot: slow },
        { key: 'write', bot: writer },
      ],
    })
    const started = await runPipeline(p.id)
    const running = await waitFor(async () => {
      const run = (await call('GET', `/pipelines/${p.id}/runs`)).json().items[0] as PipelineRun
      return run.steps[0]!.status === 'running' ? run : undefined
    })
    expect((await call('POST', `/runs/${started.id}/cancel`)).statusCode).toBe(200)
    const cancelled = await finished(p.id, started.id)
    expect(cancelled.status).toBe('cancelled')
    await waitFor(async () => {
      const step = (await call('GET', `/runs/${running.steps[0]!.runId}`)).json()
      return step.status === 'cancelled' ? step : undefined
    })
    const after = (await call('GET', `/pipelines/${p.id}/runs`)).json().items[0] as PipelineRun
    expect(after.steps.map((s) => s.status)).toEqual(['cancelled', 'skipped'])

    // A failing second step; after a fix, retry keeps the first step's output and runs only the second.
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'success', text: 'First.' },
        { type: 'bad_request' },
        { type: 'success', text: 'Second.' },
      ],
    })
    const fast = await bot('Fast', 'Be quick.')
    const q = await pipeline({
      name: 'Retry me',
      steps: [
        { key: 'one', bot: fast },
        { key: 'two', bot: writer },
      ],
    })
    const failedRun = await finished(q.id, (await runPipeline(q.id)).id)
    expect(failedRun.status).toBe('failed')
    const firstRunId = failedRun.steps[0]!.runId
    expect((await call('POST', `/runs/${failedRun.id}/retry`)).statusCode).toBe(200)
    const retried = await finished(q.id, failedRun.id, ['completed'])
    expect(retried.steps[0]).toMatchObject({ status: 'completed', runId: firstRunId, attempt: 1 })
    expect(retried.steps[1]).toMatchObject({ status: 'completed', attempt: 2 })
    expect(retried.output).toMatchObject({ text: 'Second.' })
  })

  it('exports and imports a pipeline (bots found by id, else by name), duplicates it disabled, and removes it', async () => {
    await setUp()
    const writer = await bot('Writer', 'Write.')
    const checker = await bot('Checker', 'Check.')
    const p = await pipeline({
      name: 'Newsletter',
      schedule: '0 9 * * 1',
      timezone: 'Europe/Berlin',
      steps: [
        { key: 'write', bot: writer },
        { key: 'check', bot: checker, approval: { required: true, expiresAfterSeconds: 3600 } },
      ],
    })
    expect(p.nextRunAt).toEqual(expect.any(String))
    const exported = (await call('GET', `/pipelines/${p.id}/export`)).json()
    expect(exported).toMatchObject({ format: 'openorch.pipeline', version: 1 })
    expect(exported.pipeline.steps.map((s: { botName: string }) => s.botName)).toEqual(['Writer', 'Checker'])
    expect(JSON.stringify(exported)).not.toContain(p.id)
    const imported = await call('POST', '/pipelines/import', exported)
    expect(imported.statusCode, imported.body).toBe(201)
    expect(imported.json()).toMatchObject({ name: 'Newsletter (imported)', enabled: false, nextRunAt: null })
    expect(imported.json().steps.map((s: { bot: string }) => s.bot)).toEqual([writer, checker])
    // From another installation the ids mean nothing: the bots of the same names are used.
    const elsewhere = structuredClone(exported)
    for (const step of elsewhere.pipeline.steps) step.bot = `elsewhere-${step.key}`
    const moved = await call('POST', '/pipelines/import', elsewhere)
    expect(moved.statusCode, moved.body).toBe(201)
    expect(moved.json().name).toBe('Newsletter (imported 2)')
    expect(moved.json().steps.map((s: { bot: string }) => s.bot)).toEqual([writer, checker])
    // A step whose bot is found neither way is named.
    const broken = structuredClone(exported)
    broken.pipeline.steps[1].bot = 'gone'
    broken.pipeline.steps[1].botName = 'Nobody'
    const refused = await call('POST', '/pipelines/import', broken)
    expect(refused.statusCode).toBe(400)
    expect(refused.json().errors[0]).toMatchObject({ field: 'steps[1].bot', code: 'unknown_bot' })
    const copy = await call('POST', `/pipelines/${p.id}/duplicate`)
    expect(copy.statusCode).toBe(201)
    expect(copy.json()).toMatchObject({ name: 'Newsletter (copy)', enabled: false, steps: p.steps })
    expect((await call('DELETE', `/pipelines/${p.id}`)).statusCode).toBe(204)
    expect((await call('GET', `/pipelines/${p.id}`)).json().code).toBe('pipeline_not_found')
  })

  it('keeps a run on the version it started with while the pipeline is edited', async () => {
    await setUp(slowly(400, 'v1 output'))
    const a = await bot('A', 'Step A.')
    const b = await bot('B', 'Step B.')
    const p = await pipeline({ name: 'Versioned', steps: [{ key: 'a', bot: a }] })
    const started = await runPipeline(p.id)
    const edited = await call('PATCH', `/pipelines/${p.id}`, {
      steps: [
        { key: 'a', bot: a },
        { key: 'b', bot: b },
      ],
    })
    expect(edited.json().version).toBe(2)
    const run = await finished(p.id, started.id)
    expect(run.pipelineVersion).toBe(1)
    expect(run.steps.map((s) => s.key)).toEqual(['a'])
    const versions = (await call('GET', `/pipelines/${p.id}/versions`)).json().items
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1])
    const next = await finished(p.id, (await runPipeline(p.id)).id)
    expect(next.steps.map((s) => s.key)).toEqual(['a', 'b'])
  })
})
