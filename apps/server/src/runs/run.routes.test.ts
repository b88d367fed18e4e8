import { runPageSchema, runSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, otherTenantId, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { RunFailure } from './run.failure.ts'
import type { EnqueueRequest, Run } from './run.types.ts'

const tenantId = 'default'

describe.each(dialects)('runs API on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(async () => {
    await t.close()
  })

  async function enqueue(request: Partial<EnqueueRequest> = {}): Promise<Run> {
    const result = await t.kernel.runs.enqueue({ tenantId, kind: 'noop', trigger: 'api', ...request })
    if (result.status !== 'created') throw new Error('expected a created run')
    return result.run
  }

  const get = (url: string, key = t.keys.viewer) => t.app.inject({ url, headers: bearer(key) })
  const post = (url: string, key = t.keys.editor) =>
    t.app.inject({ method: 'POST', url, headers: bearer(key) })

  it('pages through runs newest first with limit and nextCursor, null on the last page', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await enqueue()).id)
    const seen: string[] = []
    let cursor: string | null = null
    const pages: number[] = []
    do {
      const response = await get(`/api/v1/runs?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(response.statusCode).toBe(200)
      const page = runPageSchema.parse(response.json())
      pages.push(page.items.length)
      seen.push(...page.items.map((run) => run.id))
      cursor = page.nextCursor
    } while (cursor)
    expect(pages).toEqual([2, 2, 1])
    expect(seen).toEqual([...ids].reverse())
  })

  it('uses a default page of 50', async () => {
    for (let i = 0; i < 52; i++) await enqueue()
    const page = (await get('/api/v1/runs')).json()
    expect(page.items).toHaveLength(50)
    expect(page.nextCursor).toEqual(expect.any(String))
  })

  it('filters by status and bot', async () => {
    const a = await enqueue({ subjectId: 'news' })
    const b = await enqueue({ subjectId: 'weather' })
    await t.kernel.runs.cancel(tenantId, b.id)
    const byBot = (await get('/api/v1/runs?botId=news')).json()
    expect(byBot.items.map((run: { id: string }) => run.id)).toEqual([a.id])
    const byStatus = (await get('/api/v1/runs?status=cancelled')).json()
    expect(byStatus.items.map((run: { id: string }) => run.id)).toEqual([b.id])
    expect((await get('/api/v1/runs?status=cancelled&botId=news')).json()).toEqual({
      items: [],
      nextCursor: null,
    })
  })

  it('finds runs by the words of their output (?q=), case-insensitive, the last word as a prefix, punctuation and quotes not syntax', async () => {
    const outputs = [
      'Two new offers: Nike Air Max 90 for 35 €',
      'nothing new on nike.com today',
      'Price dropped 50% — "Air Max" at 40_EUR',
      'Adidas only',
    ]
    const ids: string[] = []
    for (const text of outputs) {
      const run = await enqueue()
      await t.database.db
        .updateTable('runs')
        .set({ output: JSON.stringify({ text }) })
        .where('id', '=', run.id)
        .execute()
      ids.push(run.id)
    }
    await enqueue() // no output at all
    const search = async (q: string) => {
      const response = await get(`/api/v1/runs?q=${encodeURIComponent(q)}`)
      expect(response.statusCode).toBe(200)
      return runPageSchema.parse(response.json()).items.map((run) => run.id)
    }
    expect(await search('NIKE')).toEqual([ids[1], ids[0]])
    expect(await search('50%')).toEqual([ids[2]])
    expect(await search('0%')).toEqual([])
    expect(await search('40_EUR')).toEqual([ids[2]])
    expect(await search('"Air Max"')).toEqual([ids[2], ids[0]])
    expect(await search('max 9')).toEqual([ids[0]])
    expect(await search('%%')).toEqual([])
    expect(await search('zebra')).toEqual([])
    const short = await get('/api/v1/runs?q=a')
    expect(short.statusCode).toBe(400)
    expect(short.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'q' }] })
    // Another tenant's runs never match.
    const other = await t.app.inject({ url: '/api/v1/runs?q=nike', headers: bearer(t.keys.otherTenant) })
    expect(runPageSchema.parse(other.json()).items).toEqual([])
  })

  it('shows only the caller’s tenant', async () => {
    await enqueue()
    const other = (await get('/api/v1/runs', t.keys.otherTenant)).json()
    expect(other).toEqual({ items: [], nextCursor: null })
  })

  it('returns a run as the documented Run JSON with ISO-8601 times', async () => {
    t.kernel.executors.register('echo', async ({ run }) => ({
      output: { echoed: run.input },
      result: { tokensIn: 3, tokensOut: 5, costUsd: 0.25 },
    }))
    t.startKernel()
    const created = await enqueue({
      kind: 'echo',
      subjectId: 'news',
      input: { q: 'hi' },
      trigger: 'schedule',
    })
    await waitFor(async () => (await t.kernel.runs.get(tenantId, created.id)).status === 'completed', {
      what: 'the run to complete',
    })
    const response = await get(`/api/v1/runs/${created.id}`)
    expect(response.statusCode).toBe(200)
    const body = response.json()
    // Exactly the contract's fields, no internal ones (tenantId, leases, runAt …).
    expect(runSchema.strict().safeParse(body).success).toBe(true)
    expect(body).toMatchObject({
      id: created.id,
      kind: 'echo',
      // A kind no domain describes (run-view.ts): its subject and result are the kernel's opaque values,
      // so the bots' fields are there, and null.
      botId: null,
      status: 'completed',
      trigger: 'schedule',
      input: { q: 'hi' },
      output: { echoed: { q: 'hi' } },
      attempt: 1,
      tokensIn: null,
      tokensOut: null,
      costUsd: null,
      outputHash: null,
      isNew: null,
      error: null,
      deadLettered: false,
    })
    expect(body.durationMs).toEqual(expect.any(Number))
    for (const field of ['createdAt', 'startedAt', 'finishedAt']) {
      expect(body[field]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    }
    expect(Date.parse(body.finishedAt)).toBeGreaterThanOrEqual(Date.parse(body.startedAt))
  })

  it("shows a bot run's subject and result under the bots' names (the kernel stores them opaque)", async () => {
    const created = await enqueue({ kind: 'bot', subjectId: 'news', trigger: 'api' })
    const result = {
      outputHash: 'ab12',
      isNew: true,
      tokensIn: 812,
      tokensOut: 240,
      costUsd: 0.0031,
      extra: 1,
    }
    await t.database.db
      .updateTable('runs')
      .set({
        status: 'completed',
        output: '{"text":"hi"}',
        result: JSON.stringify(result),
        finished_at: Date.now(),
      })
      .where('id', '=', created.id)
      .execute()
    const body = (await get(`/api/v1/runs/${created.id}`)).json()
    expect(runSchema.strict().safeParse(body).success).toBe(true)
    expect(body).toMatchObject({ kind: 'bot', botId: 'news', outputHash: 'ab12', isNew: true })
    expect(body).toMatchObject({ tokensIn: 812, tokensOut: 240, costUsd: 0.0031 })
    // Only the fields the bots' view names: anything else in the result stays inside.
    expect(body).not.toHaveProperty('extra')
    const listed = (await get('/api/v1/runs?botId=news')).json().items
    expect(listed).toMatchObject([{ id: created.id, botId: 'news', tokensIn: 812 }])
  })

  it('lets an editor cancel and retry, and refuses a viewer', async () => {
    const run = await enqueue()
    expect((await post(`/api/v1/runs/${run.id}/cancel`, t.keys.viewer)).statusCode).toBe(403)
    const cancelled = await post(`/api/v1/runs/${run.id}/cancel`)
    expect(cancelled.statusCode).toBe(200)
    expect(cancelled.json()).toMatchObject({ id: run.id, status: 'cancelled', error: { code: 'cancelled' } })
    expect((await post(`/api/v1/runs/${run.id}/cancel`)).json()).toMatchObject({
      status: 409,
      code: 'run_not_cancellable',
    })

    expect((await post(`/api/v1/runs/${run.id}/retry`, t.keys.viewer)).statusCode).toBe(403)
    const retried = await post(`/api/v1/runs/${run.id}/retry`, t.keys.admin)
    expect(retried.statusCode).toBe(200)
    expect(retried.json()).toMatchObject({ id: run.id, status: 'pending', error: null, finishedAt: null })
  })

  it('accepts a bodiless POST sent with Content-Type: application/json', async () => {
    const run = await enqueue()
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${run.id}/cancel`,
      headers: { ...bearer(t.keys.owner), 'content-type': 'application/json' },
    })
    expect(response.statusCode).toBe(200)
  })

  it('accepts the key in X-API-Key as well', async () => {
    const run = await enqueue()
    const response = await t.app.inject({
      url: `/api/v1/runs/${run.id}`,
      headers: { 'x-api-key': t.keys.viewer },
    })
    expect(response.statusCode).toBe(200)
  })

  it('lists dead-lettered runs newest first, paginated, per tenant, and retries one by hand', async () => {
    let fixed = false
    t.kernel.executors.register('broken', async () => {
      if (fixed) return { output: 'works now' }
      throw new RunFailure('provider_auth', 'invalid provider key', false)
    })
    t.startKernel()
    const first = await enqueue({ kind: 'broken', maxRetries: 3 })
    const second = await enqueue({ kind: 'broken' })
    await enqueue({ kind: 'broken', runAt: Date.now() + 3_600_000 }) // pending, not dead
    await waitFor(
      async () => {
        const runs = await Promise.all([first, second].map((run) => t.kernel.runs.get(tenantId, run.id)))
        return runs.every((run) => run.deadLettered)
      },
      { what: 'both runs to be dead-lettered' },
    )
    const page1 = (await get('/api/v1/runs/dead-letters?limit=1')).json()
    expect(page1.items.map((run: { id: string }) => run.id)).toEqual([second.id])
    expect(page1.items[0]).toMatchObject({
      status: 'failed',
      deadLettered: true,
      error: { code: 'provider_auth', message: 'invalid provider key' },
    })
    const page2 = (await get(`/api/v1/runs/dead-letters?limit=1&cursor=${page1.nextCursor}`)).json()
    expect(page2).toMatchObject({ items: [{ id: first.id }], nextCursor: null })
    expect((await get('/api/v1/runs/dead-letters', t.keys.otherTenant)).json()).toEqual({
      items: [],
      nextCursor: null,
    })

    fixed = true
    expect((await post(`/api/v1/runs/${first.id}/retry`)).json()).toMatchObject({
      status: 'pending',
      deadLettered: false,
    })
    await waitFor(async () => (await t.kernel.runs.get(tenantId, first.id)).status === 'completed', {
      what: 'the retried run to complete',
    })
    const after = (await get('/api/v1/runs/dead-letters')).json()
    expect(after.items.map((run: { id: string }) => run.id)).toEqual([second.id])
  })

  it('does not let another tenant cancel or retry a run', async () => {
    const run = await enqueue()
    expect((await post(`/api/v1/runs/${run.id}/cancel`, t.keys.otherTenant)).statusCode).toBe(404)
    expect((await t.kernel.runs.get(tenantId, run.id)).status).toBe('pending')
    expect(otherTenantId).not.toBe(tenantId)
  })
})
