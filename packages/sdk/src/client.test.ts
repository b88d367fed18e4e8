import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../../apps/server/test/app-harness.ts'
import { dialects } from '../../../apps/server/test/databases.ts'
import { waitFor } from '../../../apps/server/test/kernel-harness.ts'
import { ApiError, createClient, type LiveEvent, parseSseMessage } from './client.ts'

describe.each(dialects)('SDK client against a real server on %s', (dialect) => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('sets up a provider (with the exact refusal code), previews a schedule and searches outputs', async () => {
    const { startProviderServer } = await import('../../../apps/server/test/provider-servers/index.ts')
    const provider = await startProviderServer('openai', { apiKey: 'sk-sdk-1234', models: ['gpt-4o-mini'] })
    try {
      t = await createTestApp(dialect)
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
      const client = createClient({ baseUrl: address, apiKey: t.keys.owner })
      const refused = await client.providers
        .configure('openai', { apiKey: 'sk-wrong', baseUrl: provider.baseUrl })
        .catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(ApiError)
      expect((refused as ApiError).code).toBe('provider_auth')
      const saved = await client.providers.configure('openai', {
        apiKey: 'sk-sdk-1234',
        baseUrl: provider.baseUrl,
        defaultModel: 'gpt-4o-mini',
      })
      expect(saved).toEqual({ valid: true, models: ['gpt-4o-mini'] })
      const listed = await client.providers.list()
      expect(listed.items.map((p) => [p.name, p.status])).toEqual([['openai', 'valid']])

      const preview = await client.schedules.preview({ schedule: '@hourly', timezone: 'UTC', count: 3 })
      expect(preview.nextRuns).toHaveLength(3)
      const bad = await client.schedules.preview({ schedule: 'nope' }).catch((error: unknown) => error)
      expect((bad as ApiError).code).toBe('invalid_schedule')

      expect((await client.runs.list({ q: 'nothing like this' })).items).toEqual([])
    } finally {
      await provider.close()
    }
  })

  it('lists, reads, cancels and retries runs, and follows the live feed', async () => {
    t = await createTestApp(dialect)
    const server = t
    server.kernel.executors.register('sdk.echo', async ({ run }) => ({ output: { echo: run.input } }))
    server.startKernel()
    const address = await server.app.listen({ port: 0, host: '127.0.0.1' })
    const client = createClient({ baseUrl: address, apiKey: server.keys.editor })

    const controller = new AbortController()
    const seen: LiveEvent[] = []
    const following = (async () => {
      try {
        for await (const event of client.events({ signal: controller.signal })) seen.push(event)
      } catch (error) {
        if (!controller.signal.aborted) throw error
      }
    })()
    await new Promise((resolve) => setTimeout(resolve, 200))

    const created = await server.kernel.runs.enqueue({
      tenantId: 'default',
      kind: 'sdk.echo',
      trigger: 'api',
      input: 42,
    })
    if (created.status === 'dropped') throw new Error('dropped')
    await waitFor(() => seen.some((e) => e.type === 'run.completed' && e.payload.runId === created.run.id), {
      what: 'the completed event',
    })
    const run = await client.runs.get(created.run.id)
    expect(run).toMatchObject({ status: 'completed', output: { echo: 42 }, attempt: 1 })
    expect(typeof run.createdAt).toBe('string')
    const page = await client.runs.list({ status: 'completed', limit: 1 })
    expect(page.items.map((r) => r.id)).toEqual([created.run.id])
    expect(page.nextCursor).toBeNull()

    const parked = await server.kernel.runs.enqueue({
      tenantId: 'default',
      kind: 'sdk.none',
      trigger: 'api',
      runAt: Date.now() + 60_000,
    })
    if (parked.status === 'dropped') throw new Error('dropped')
    expect((await client.runs.cancel(parked.run.id)).status).toBe('cancelled')
    expect((await client.runs.retry(parked.run.id)).status).toBe('pending')

    const missing = await client.runs.get('does-not-exist').catch((error: unknown) => error)
    expect(missing).toBeInstanceOf(ApiError)
    expect(missing).toMatchObject({ status: 404, code: 'run_not_found' })
    controller.abort()
    await following
  })

  it('reports a refused key as an ApiError with the problem code', async () => {
    t = await createTestApp(dialect)
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const client = createClient({ baseUrl: address, apiKey: 'oo_wrong' })
    await expect(client.runs.list()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
  })
})

describe('parseSseMessage', () => {
  it('reads id, event and multi-line data, and skips comments', () => {
    expect(parseSseMessage(': heartbeat')).toBeUndefined()
    expect(parseSseMessage('id: 7\nevent: run.completed\ndata: {"runId":\ndata: "r1"}')).toEqual({
      id: 7,
      type: 'run.completed',
      payload: { runId: 'r1' },
    })
    expect(parseSseMessage('event: run.running\ndata: {}')?.id).toBeNull()
  })
})
