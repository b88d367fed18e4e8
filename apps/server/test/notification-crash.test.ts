import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { startProviderServer } from './provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// Issue 14: kill -9 of the process while it sends a notification. The delivery is a run: a new process
// takes it over when the lease lapses and sends it again with the same event id, so a receiver that
// drops repeats by X-OpenOrch-Event-Id handles it exactly once.

const ownerKey = 'notification-crash-owner-key-1234'
const providerKey = 'sk-crash-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

describe.each(dialects)('notifications across a crash on %s', (dialect) => {
  it('a delivery cut off by kill -9 is sent again by the next process, with the same event id: handled once', async () => {
    // The receiver never answers the first delivery (the process dies while sending), then answers.
    const seen: string[] = []
    const handled = new Set<string>()
    let first = true
    const receiver = http.createServer((request, response) => {
      request.resume()
      request.on('end', () => {
        const eventId = String(request.headers['x-openorch-event-id'])
        seen.push(eventId)
        if (first) {
          first = false
          return
        }
        handled.add(eventId)
        response.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          receiver.closeAllConnections()
          receiver.close(() => resolve())
        }),
    )
    const model = await startProviderServer('openai', { apiKey: providerKey, models: ['gpt-4o-mini'] })
    cleanups.push(() => model.close())
    const env = {
      ...(await serverDatabaseEnv(dialect, cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      // A dead process's runs are taken over within seconds, not half a minute.
      OPENORCH_LEASE_SECONDS: '3',
    }
    const a = startServerProcess(env, ownerKey, cleanups)
    const call = a.api(await a.url())
    await call('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    model.setBehaviour({ type: 'success', text: 'Air Max 90 for 35 €' })
    const bot = (await call('POST', '/bots', { name: 'Scout', prompt: 'Look.', provider: 'openai' })).json
    const channel = await call('POST', '/channels', {
      type: 'webhook',
      name: 'Hook',
      config: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
    })
    expect(channel.status, JSON.stringify(channel.json)).toBe(201)
    await call('PUT', `/bots/${bot.id}/channels/${channel.json.id}`, { rule: 'always' })
    await call('POST', `/bots/${bot.id}/runs`, {})
    // The first delivery reached the receiver and hangs there: the process dies mid-send.
    await waitFor(() => seen.length === 1, { what: 'the first delivery', timeoutMs: 30_000 })
    a.child.kill('SIGKILL')
    await a.exited

    const b = startServerProcess(env, ownerKey, cleanups)
    const again = b.api(await b.url())
    await waitFor(() => handled.size === 1, { what: 'the delivery after the restart', timeoutMs: 60_000 })
    expect(seen).toHaveLength(2)
    expect(seen[1]).toBe(seen[0])
    const sent = await waitFor(async () => (await again('GET', '/notifications?status=sent')).json.items[0], {
      what: 'the delivery recorded as sent',
      timeoutMs: 30_000,
    })
    expect(sent).toMatchObject({ event: 'run.completed', attempts: 2 })
    // Nothing more arrives later.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(seen).toHaveLength(2)
  }, 120_000)
})
