import http from 'node:http'
import net from 'node:net'
import SqliteDatabase from 'better-sqlite3'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { insertProviderRow } from '../../../apps/server/test/app-harness.ts'
import {
  createAppBehindProxy,
  createAppWithShortBusyTimeout,
  type OutageApp,
} from '../../../apps/server/test/outage-harness.ts'
import { ApiError, createClient } from './client.ts'

// The SDK sends a request again when that is safe (a read, or a write with an idempotency key) and
// the server asks for it (429, 503 with Retry-After) or cannot be reached; anything else it throws.
describe('SDK retries', () => {
  let outage: OutageApp | undefined

  afterEach(async () => {
    await outage?.close()
    outage = undefined
  })

  /** fetch, counting the requests it sends. */
  function countingFetch() {
    const sent: string[] = []
    const wrapped: typeof fetch = (input, init) => {
      sent.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`)
      return fetch(input, init)
    }
    return { sent, fetch: wrapped }
  }

  it.skipIf(process.env.OPENORCH_TEST_POSTGRES !== '1')(
    'reads through a PostgreSQL outage after Retry-After; a plain write gets the 503 at once',
    async () => {
      outage = await createAppBehindProxy()
      const { t } = outage
      const cut = outage.proxy!
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
      const counted = countingFetch()
      const client = createClient({ baseUrl: address, apiKey: t.keys.owner, fetch: counted.fetch })
      const run = await t.kernel.runs.enqueue({ tenantId: 'default', kind: 'noop', trigger: 'api' })
      if (run.status !== 'created') throw new Error('expected a created run')

      await cut.cut()
      const cancel = await client.runs.cancel(run.run.id).catch((error: unknown) => error)
      expect(cancel).toBeInstanceOf(ApiError)
      expect(cancel).toMatchObject({ status: 503, code: 'database_unavailable', retryAfterMs: 5000 })
      expect(counted.sent.filter((r) => r.startsWith('POST'))).toHaveLength(1)

      const started = Date.now()
      const listed = client.runs.list()
      setTimeout(() => void cut.restore(), 1000)
      expect((await listed).items.map((r) => r.id)).toEqual([run.run.id])
      // The server asked for 5 s; the client waited for it, once.
      expect(Date.now() - started).toBeGreaterThanOrEqual(4900)
      expect(counted.sent.filter((r) => r === 'GET /api/v1/runs')).toHaveLength(2)

      // retry: false throws the 503 at once.
      await cut.cut()
      const impatient = createClient({ baseUrl: address, apiKey: t.keys.owner, retry: false })
      await expect(impatient.runs.list()).rejects.toMatchObject({ status: 503, code: 'database_unavailable' })
    },
  )

  it('repeats a write that carries an idempotency key while SQLite is locked: one run, not two', async () => {
    outage = await createAppWithShortBusyTimeout()
    const app = outage.t
    await insertProviderRow(app.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    const address = await app.app.listen({ port: 0, host: '127.0.0.1' })
    const counted = countingFetch()
    const client = createClient({ baseUrl: address, apiKey: app.keys.editor, fetch: counted.fetch })
    const bot = await client.bots.create({ name: 'Scout', prompt: 'Find offers.', provider: 'openai' })

    const other = new SqliteDatabase(app.database.sqlite!.name)
    other.exec('BEGIN IMMEDIATE')
    const released = setTimeout(() => {
      other.exec('ROLLBACK')
      other.close()
    }, 1500)
    try {
      const started = client.bots.run(bot.id, {}, { idempotencyKey: 'sdk-retry-1' })
      const run = await started
      expect(run.botId).toBe(bot.id)
      const attempts = counted.sent.filter((r) => r === `POST /api/v1/bots/${bot.id}/runs`)
      expect(attempts.length).toBeGreaterThan(1)
      // The same key again: the same run.
      expect((await client.bots.run(bot.id, {}, { idempotencyKey: 'sdk-retry-1' })).id).toBe(run.id)
      expect((await client.bots.runs(bot.id)).items).toHaveLength(1)
    } finally {
      clearTimeout(released)
      if (other.open) {
        other.exec('ROLLBACK')
        other.close()
      }
    }
  })

  it('backs off by itself when a 503 carries no Retry-After (a proxy in front of the server)', async () => {
    // A load balancer answering for a server that is away: 503 without Retry-After, twice.
    let answered = 0
    const server = http.createServer((_request, response) => {
      answered++
      if (answered <= 2) {
        response.writeHead(503, { 'content-type': 'text/plain' })
        response.end('Service Unavailable')
        return
      }
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ items: [], nextCursor: null }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    // The jitter's upper end, so the waits are 500 ms and 1,000 ms.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999)
    try {
      const client = createClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'oo_unused' })
      const started = Date.now()
      expect(await client.runs.list()).toEqual({ items: [], nextCursor: null })
      expect(answered).toBe(3)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400)
    } finally {
      random.mockRestore()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('tries an unreachable server a few times for a read, then throws the connection error', async () => {
    // A port that refuses: bound, then closed.
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const counted = countingFetch()
    const client = createClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: 'oo_unused',
      fetch: counted.fetch,
      retry: { retries: 2, maxDelayMs: 20 },
    })
    await expect(client.runs.list()).rejects.toBeInstanceOf(TypeError)
    expect(counted.sent).toEqual(['GET /api/v1/runs', 'GET /api/v1/runs', 'GET /api/v1/runs'])
    // A write without a key is sent once.
    await expect(client.runs.cancel('r1')).rejects.toBeInstanceOf(TypeError)
    expect(counted.sent.filter((r) => r.startsWith('POST'))).toHaveLength(1)
  })
})
