import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { parseMetrics, sampleOf } from '../../test/metrics-text.ts'
import { startProviderServer } from '../../test/provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from '../../test/server-process.ts'

// openorch_runs_dead_lettered_total counts runs dead-lettered by the lease-expiry rescue too (decision
// 0035): a worker process is killed while it runs a bot's last attempt; another worker process takes
// the run back when the lease expires, fails it `lease_expired` as a dead letter, and counts it.

const ownerKey = 'rescue-metrics-owner-key-0123456789'
const providerKey = 'sk-rescue-metrics-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

describe.each(dialects)('dead letters by lease expiry on %s', (dialect) => {
  it('counts a run dead-lettered because its lease expired on its last attempt in the rescuing process', async () => {
    const model = await startProviderServer('openai', { apiKey: providerKey, models: ['gpt-4o-mini'] })
    cleanups.push(() => model.close())
    const env = {
      ...(await serverDatabaseEnv(dialect, cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      OPENORCH_LEASE_SECONDS: '2',
    }
    const api = startServerProcess({ ...env, OPENORCH_ROLES: 'api,scheduler' }, ownerKey, cleanups)
    const call = api.api(await api.url())
    const configured = await call('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.status, JSON.stringify(configured.json)).toBe(200)
    const bot = await call('POST', '/bots', {
      name: 'Last attempt',
      prompt: 'Go.',
      provider: 'openai',
      maxRetries: 0,
    })
    expect(bot.status, JSON.stringify(bot.json)).toBe(201)
    // The model never finishes its answer: the run is running when its worker is killed.
    model.setBehaviour({ type: 'hang' })

    const doomed = startServerProcess({ ...env, OPENORCH_ROLES: 'worker' }, ownerKey, cleanups)
    await doomed.url()
    const started = await call('POST', `/bots/${bot.json.id}/runs`, {})
    expect(started.status, JSON.stringify(started.json)).toBe(202)
    const runId = started.json.id as string
    await waitFor(async () => (await call('GET', `/runs/${runId}`)).json.status === 'running', {
      what: 'the run to start on the first worker',
      timeoutMs: 60_000,
    })
    doomed.child.kill('SIGKILL')
    await doomed.exited

    const rescuer = startServerProcess({ ...env, OPENORCH_ROLES: 'worker' }, ownerKey, cleanups)
    const base = await rescuer.url()
    const run = await waitFor(
      async () => {
        const answer = (await call('GET', `/runs/${runId}`)).json
        return answer.status === 'failed' ? answer : undefined
      },
      { what: 'the rescue to fail the run', timeoutMs: 60_000 },
    )
    expect(run).toMatchObject({ deadLettered: true, attempt: 1, error: { code: 'lease_expired' } })

    const samples = parseMetrics(await (await fetch(`${base}/metrics`)).text())
    expect(sampleOf(samples, 'openorch_runs_dead_lettered_total', { kind: 'bot' })).toBe(1)
    expect(sampleOf(samples, 'openorch_dead_letters')).toBe(1)
    // The rescuer settled nothing itself: the dead letter is counted from its rescue alone.
    expect(sampleOf(samples, 'openorch_runs_settled_total', { kind: 'bot', outcome: 'failed' })).toBe(0)
  }, 240_000)
})
