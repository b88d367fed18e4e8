import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { startProviderServer } from './provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// Issue 13: kill -9 of the process while a run waits for approval. The parking and the approval are
// rows, not memory: a new process finds them, the approval decides, and the call runs exactly once.

const ownerKey = 'approval-crash-owner-key-12345678'
const providerKey = 'sk-crash-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

describe.each(dialects)('approvals across a crash on %s', (dialect) => {
  it('a run waiting for approval survives kill -9; after a restart, approving makes the call once', async () => {
    const model = await startProviderServer('openai', { apiKey: providerKey, models: ['gpt-4o-mini'] })
    cleanups.push(() => model.close())
    const env = { ...(await serverDatabaseEnv(dialect, cleanups)), OPENORCH_EGRESS_ALLOW: '127.0.0.1' }

    const first = startServerProcess(env, ownerKey, cleanups)
    const call = first.api(await first.url())
    expect(
      (
        await call('PUT', '/providers/openai', {
          apiKey: providerKey,
          baseUrl: model.baseUrl,
          defaultModel: 'gpt-4o-mini',
        })
      ).status,
    ).toBe(200)
    // Scripted after the provider's key check, which is a model call too.
    model.setBehaviour({
      type: 'script',
      steps: [
        {
          type: 'tool_calls',
          calls: [{ name: 'files_write', arguments: { name: 'old.txt', content: 'x' } }],
        },
        { type: 'tool_calls', calls: [{ name: 'files_delete', arguments: { name: 'old.txt' } }] },
        { type: 'success', text: 'Deleted.' },
      ],
    })
    const bot = await call('POST', '/bots', {
      name: 'Librarian',
      prompt: 'Tidy up your files.',
      provider: 'openai',
      tools: ['files'],
    })
    expect(bot.status, JSON.stringify(bot.json)).toBe(201)
    const started = await call('POST', `/bots/${bot.json.id}/runs`, {})
    expect(started.status, JSON.stringify(started.json)).toBe(202)
    const runId = started.json.id as string
    const pending = await waitFor(
      async () => (await call('GET', `/approvals?status=pending&runId=${runId}`)).json.items[0],
      { what: 'the pending approval', timeoutMs: 30_000 },
    )
    expect(pending).toMatchObject({ tool: 'files_delete', arguments: { name: 'old.txt' } })

    first.child.kill('SIGKILL')
    await first.exited

    const second = startServerProcess(env, ownerKey, cleanups)
    const again = second.api(await second.url())
    expect((await again('GET', `/runs/${runId}`)).json).toMatchObject({
      status: 'waiting',
      waitReason: 'approval',
    })
    expect((await again('GET', `/approvals/${pending.id}`)).json).toMatchObject({ status: 'pending' })
    const approved = await again('POST', `/approvals/${pending.id}/approve`, { comment: 'after the crash' })
    expect(approved.status, JSON.stringify(approved.json)).toBe(200)
    const done = await waitFor(
      async () => {
        const run = (await again('GET', `/runs/${runId}`)).json
        return ['completed', 'failed'].includes(run.status) ? run : undefined
      },
      { what: 'the run to finish', timeoutMs: 30_000 },
    )
    expect(done).toMatchObject({ status: 'completed', output: { text: 'Deleted.' } })
    const log = (await again('GET', `/runs/${runId}/log`)).json.items as Array<{ message: string }>
    expect(log.filter((line) => line.message === 'tool files_delete completed')).toHaveLength(1)
    expect(log.filter((line) => line.message === 'tool files_write completed')).toHaveLength(1)
    // Three model calls in all: the conversation went on after the crash, nothing was asked twice.
    expect(model.requests.filter((r) => r.path.endsWith('/chat/completions'))).toHaveLength(3)
    expect((await again('POST', `/approvals/${pending.id}/approve`)).status).toBe(409)
    // The parking used no retry: the resumed attempt still had one left.
    expect(done).toMatchObject({ attempt: 2, maxAttempts: 3 })
  }, 120_000)
})
