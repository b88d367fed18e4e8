import { approvalPageSchema, approvalSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import type { Run } from '../runs/run.types.ts'

const key = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'

describe.each(dialects)('approvals on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer

  async function setUp() {
    t = await createTestApp(dialect)
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.requests.length = 0
    t.startKernel()
  }
  afterEach(async () => {
    await model?.close()
    await t?.close()
  })

  const createBot = () =>
    t.bots.service.create(tenantId, {
      name: 'Librarian',
      prompt: 'Tidy up your files.',
      provider: 'openai',
      tools: ['files'],
      retryDelaySeconds: 0,
    })
  const start = async (botId: string) => {
    const result = await t.bots.service.runNow(tenantId, botId, { trigger: 'manual' })
    if (result.status === 'dropped') throw new Error('dropped')
    return result.run.id
  }
  const settled = (id: string): Promise<Run> =>
    waitFor(
      async () => {
        const current = await t.kernel.runs.get(tenantId, id)
        return ['completed', 'failed', 'timeout', 'cancelled'].includes(current.status) ? current : undefined
      },
      { what: 'the run to settle' },
    )
  /** The run's pending approval, once its parking has committed and been announced. */
  const pendingOf = (runId: string) =>
    waitFor(
      async () => {
        const page = await t.app.inject({
          url: `/api/v1/approvals?status=pending&runId=${runId}`,
          headers: bearer(t.keys.viewer),
        })
        expect(page.statusCode, page.body).toBe(200)
        return approvalPageSchema.parse(page.json()).items[0]
      },
      { what: 'the pending approval' },
    )
  const decide = (id: string, action: 'approve' | 'reject', apiKey: string, comment?: string) =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/approvals/${id}/${action}`,
      headers: bearer(apiKey),
      payload: comment === undefined ? {} : { comment },
    })
  const filesOf = async (botId: string) =>
    (
      await t.database.db
        .selectFrom('bot_files')
        .select('name')
        .where('bot_id', '=', botId)
        .where('space', '=', 'files')
        .execute()
    ).map((row) => row.name)
  const chatBodies = () =>
    model.requests.filter((r) => r.path.endsWith('/chat/completions')).map((r) => JSON.stringify(r.body))
  const eventsOf = async (runId: string, type: string) =>
    (
      await t.database.db
        .selectFrom('run_events')
        .select('payload')
        .where('run_id', '=', runId)
        .where('type', '=', type)
        .execute()
    ).map((row) => JSON.parse(row.payload) as Record<string, unknown>)
  const writeThenDelete = (answer: string) =>
    model.setBehaviour({
      type: 'script',
      steps: [
        {
          type: 'tool_calls',
          calls: [{ name: 'files_write', arguments: { name: 'old.txt', content: 'x' } }],
        },
        {
          type: 'tool_calls',
          text: 'The list is outdated; I will start a new one.',
          calls: [{ name: 'files_delete', arguments: { name: 'old.txt' } }],
        },
        { type: 'success', text: answer },
      ],
    })

  it('files_delete parks the run without a worker slot; approving makes the call once; deciding twice is 409', async () => {
    await setUp()
    const bot = await createBot()
    writeThenDelete('Deleted the old list.')
    const runId = await start(bot.id)
    const approval = await pendingOf(runId)
    expect(approval).toMatchObject({
      status: 'pending',
      runId,
      botId: bot.id,
      botName: 'Librarian',
      toolSet: 'files',
      tool: 'files_delete',
      arguments: { name: 'old.txt' },
      reason: 'The list is outdated; I will start a new one.',
      expiresAt: null,
      decidedAt: null,
    })
    const parked = await t.kernel.runs.get(tenantId, runId)
    expect(parked).toMatchObject({ status: 'waiting', waitReason: 'approval' })
    // Waiting holds no lease: nothing of it counts as running.
    expect(
      await t.database.db
        .selectFrom('runs')
        .select('lease_expires_at')
        .where('id', '=', runId)
        .executeTakeFirst(),
    ).toMatchObject({ lease_expires_at: null })
    expect(await filesOf(bot.id)).toEqual(['old.txt'])
    expect(await eventsOf(runId, 'approval.requested')).toEqual([
      // Who asks and what for: enough to decide from a notification (attack on issue 14, finding 3).
      expect.objectContaining({
        approvalId: approval.id,
        tool: 'files_delete',
        status: 'pending',
        botName: bot.name,
        arguments: expect.stringContaining('old.txt'),
      }),
    ])
    const one = await t.app.inject({
      url: `/api/v1/approvals/${approval.id}`,
      headers: bearer(t.keys.viewer),
    })
    expect(approvalSchema.parse(one.json())).toEqual(approval)

    // A viewer may look but not decide.
    expect((await decide(approval.id, 'approve', t.keys.viewer)).statusCode).toBe(403)
    const approved = await decide(approval.id, 'approve', t.keys.editor, 'Fine, go ahead.')
    expect(approved.statusCode, approved.body).toBe(200)
    expect(approved.json()).toMatchObject({
      status: 'approved',
      comment: 'Fine, go ahead.',
      decidedBy: { type: 'api_key' },
    })
    const done = await settled(runId)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    expect(done.output).toEqual({ text: 'Deleted the old list.' })
    expect(await filesOf(bot.id)).toEqual([])
    // The model got the delete's result; three model calls in all, tokens of each counted.
    expect(chatBodies()).toHaveLength(3)
    expect(chatBodies()[2]).toContain('{\\"deleted\\":\\"old.txt\\"}')
    expect(done.result).toMatchObject({ tokensIn: 36, tokensOut: 15 })

    for (const action of ['approve', 'reject'] as const) {
      const again = await decide(approval.id, action, t.keys.editor)
      expect(again.statusCode).toBe(409)
      expect(again.json()).toMatchObject({ code: 'approval_decided' })
    }
    const audit = await t.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'approval.approved')
      .execute()
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ target_id: approval.id, actor_type: 'api_key', actor_role: 'editor' })
    expect(JSON.parse(audit[0]!.details!)).toMatchObject({ comment: 'Fine, go ahead.', tool: 'files_delete' })
    expect(await eventsOf(runId, 'approval.decided')).toEqual([
      expect.objectContaining({ approvalId: approval.id, status: 'approved', comment: 'Fine, go ahead.' }),
    ])
    const log = (
      await t.app.inject({ url: `/api/v1/runs/${runId}/log`, headers: bearer(t.keys.viewer) })
    ).json().items as Array<{ message: string; data: Record<string, unknown> | null }>
    const messages = log.map((line) => line.message)
    expect(messages).toContain('waiting for approval of files_delete')
    expect(messages).toContain('approval approved: going on from the conversation')
    expect(messages.filter((m) => m === 'tool files_delete completed')).toHaveLength(1)
    expect(messages.filter((m) => m === 'tool files_write completed')).toHaveLength(1)
    // The log line of a call keeps the start of its result for people.
    expect(log.find((line) => line.message === 'tool files_delete completed')?.data).toMatchObject({
      result: '{"deleted":"old.txt"}',
    })
  })

  it('a rejection is told to the model with the comment, and the call is not made', async () => {
    await setUp()
    const bot = await createBot()
    writeThenDelete('Kept the list.')
    const runId = await start(bot.id)
    const approval = await pendingOf(runId)
    const rejected = await decide(approval.id, 'reject', t.keys.editor, 'We still need it')
    expect(rejected.json()).toMatchObject({ status: 'rejected', comment: 'We still need it' })
    const done = await settled(runId)
    expect(done.status).toBe('completed')
    expect(await filesOf(bot.id)).toEqual(['old.txt'])
    expect(chatBodies()[2]).toContain('rejected by a person: We still need it')
    expect(
      await t.database.db.selectFrom('approvals').select('execution_started_at').executeTakeFirst(),
    ).toEqual({ execution_started_at: null })
  })

  it('the policy marks built-ins that wait; an approval nobody decides in time expires as a rejection', async () => {
    await setUp()
    const refused = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/tools/policy',
      headers: bearer(t.keys.admin),
      payload: { requireApproval: ['files_write', 'launch_rockets'], expiresAfterSeconds: 60 },
    })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().detail).toContain('launch_rockets')
    const editorTry = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/tools/policy',
      headers: bearer(t.keys.editor),
      payload: { requireApproval: [], expiresAfterSeconds: null },
    })
    expect(editorTry.statusCode).toBe(403)
    const put = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/tools/policy',
      headers: bearer(t.keys.admin),
      payload: { requireApproval: ['files_write'], expiresAfterSeconds: 60 },
    })
    expect(put.statusCode, put.body).toBe(200)
    expect(
      (await t.app.inject({ url: '/api/v1/tools/policy', headers: bearer(t.keys.viewer) })).json(),
    ).toEqual({ requireApproval: ['files_write'], expiresAfterSeconds: 60 })
    const sets = (await t.app.inject({ url: '/api/v1/tools', headers: bearer(t.keys.viewer) })).json()
      .items as Array<{
      name: string
      needsApproval: string[]
    }>
    expect(sets.find((set) => set.name === 'files')?.needsApproval.sort()).toEqual([
      'files_delete',
      'files_write',
    ])
    expect(sets.find((set) => set.name === 'web')?.needsApproval).toEqual([])

    const bot = await createBot()
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'tool_calls', calls: [{ name: 'files_write', arguments: { name: 'a.txt', content: 'x' } }] },
        { type: 'success', text: 'Could not write.' },
      ],
    })
    const before = Date.now()
    const runId = await start(bot.id)
    const approval = await pendingOf(runId)
    expect(Date.parse(approval.expiresAt!)).toBeGreaterThanOrEqual(before + 59_000)
    // Not yet due: the sweep leaves it.
    expect(await t.approvals.sweepExpired()).toBe(0)
    await t.database.db
      .updateTable('approvals')
      .set({ expires_at: Date.now() - 1 })
      .execute()
    expect(await t.approvals.sweepExpired()).toBe(1)
    const done = await settled(runId)
    expect(done.status).toBe('completed')
    expect(chatBodies()[1]).toContain('approval_expired')
    expect(await filesOf(bot.id)).toEqual([])
    const expired = (
      await t.app.inject({ url: `/api/v1/approvals/${approval.id}`, headers: bearer(t.keys.viewer) })
    ).json()
    expect(expired).toMatchObject({ status: 'expired', decidedBy: { type: 'system', id: 'expiry' } })
    expect((await decide(approval.id, 'approve', t.keys.editor)).statusCode).toBe(409)
  })

  it('a run cancelled while it waits ends its approval, which can no longer be approved', async () => {
    await setUp()
    const bot = await createBot()
    writeThenDelete('never')
    const runId = await start(bot.id)
    const approval = await pendingOf(runId)
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${runId}/cancel`,
      headers: bearer(t.keys.editor),
    })
    expect(cancelled.statusCode, cancelled.body).toBe(200)
    const ended = await waitFor(
      async () => {
        const current = (
          await t.app.inject({ url: `/api/v1/approvals/${approval.id}`, headers: bearer(t.keys.viewer) })
        ).json()
        return current.status === 'expired' ? current : undefined
      },
      { what: 'the approval to end with its run' },
    )
    expect(ended.comment).toContain('cancelled')
    expect((await decide(approval.id, 'approve', t.keys.editor)).json()).toMatchObject({
      code: 'approval_decided',
    })
    expect(await filesOf(bot.id)).toEqual(['old.txt'])
    expect((await t.kernel.runs.get(tenantId, runId)).status).toBe('cancelled')
  })

  it('lists by status with cursor pages, and keeps workspaces apart', async () => {
    await setUp()
    const bot = await createBot()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      model.setBehaviour({
        type: 'script',
        steps: [{ type: 'tool_calls', calls: [{ name: 'files_delete', arguments: { name: `f${i}.txt` } }] }],
      })
      const runId = await start(bot.id)
      ids.push((await pendingOf(runId)).id)
    }
    const first = approvalPageSchema.parse(
      (
        await t.app.inject({
          url: '/api/v1/approvals?status=pending&limit=2',
          headers: bearer(t.keys.viewer),
        })
      ).json(),
    )
    expect(first.items.map((item) => item.id)).toEqual([ids[2], ids[1]])
    const second = approvalPageSchema.parse(
      (
        await t.app.inject({
          url: `/api/v1/approvals?status=pending&limit=2&cursor=${first.nextCursor}`,
          headers: bearer(t.keys.viewer),
        })
      ).json(),
    )
    expect(second).toEqual({ items: [expect.objectContaining({ id: ids[0] })], nextCursor: null })
    const approvedOnly = await t.app.inject({
      url: '/api/v1/approvals?status=approved',
      headers: bearer(t.keys.viewer),
    })
    expect(approvedOnly.json().items).toEqual([])
    // Another workspace sees none of them, and cannot decide them.
    expect(
      (await t.app.inject({ url: '/api/v1/approvals', headers: bearer(t.keys.otherTenant) })).json().items,
    ).toEqual([])
    const foreign = await decide(ids[0]!, 'approve', t.keys.otherTenant)
    expect(foreign.statusCode).toBe(404)
    expect(foreign.json()).toMatchObject({ code: 'approval_not_found' })
    const bad = await t.app.inject({ url: '/api/v1/approvals?status=maybe', headers: bearer(t.keys.viewer) })
    expect(bad.statusCode).toBe(400)
  })
})
