import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { runEventPayloadSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, otherTenantId, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { listEventsAfter } from '../runs/run.store.ts'
import type { Run } from '../runs/run.types.ts'

const tenantId = 'default'

interface Frame {
  id?: string
  event?: string
  data?: string
  comment?: string
}

/** A minimal SSE client over fetch: parses frames and waits for the ones a test expects. */
async function openFeed(url: string, headers: Record<string, string>) {
  const controller = new AbortController()
  const response = await fetch(url, { headers, signal: controller.signal })
  const frames: Frame[] = []
  if (!response.body) throw new Error('no body')
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  let ended = false

  async function readMore(): Promise<void> {
    const { value, done } = await reader.read()
    if (done) {
      ended = true
      return
    }
    buffer += value
    let end = buffer.indexOf('\n\n')
    while (end >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      for (const frame of parseBlock(block)) frames.push(frame)
      end = buffer.indexOf('\n\n')
    }
  }

  function parseBlock(block: string): Frame[] {
    const event: Frame = {}
    const comments: Frame[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push({ comment: line.slice(1).trim() })
      else {
        const colon = line.indexOf(':')
        const field = line.slice(0, colon)
        const value = line.slice(colon + 1).replace(/^ /, '')
        if (field === 'id' || field === 'event' || field === 'data') event[field] = value
      }
    }
    return event.event || event.data ? [...comments, event] : comments
  }

  return {
    response,
    frames,
    get ended() {
      return ended
    },
    /** Reads until `done(frames)` holds; fails after `timeoutMs`. */
    async until(done: (frames: Frame[]) => boolean, timeoutMs = 15_000): Promise<Frame[]> {
      const deadline = Date.now() + timeoutMs
      while (!done(frames)) {
        if (ended) throw new Error(`stream ended; got ${JSON.stringify(frames)}`)
        const remaining = deadline - Date.now()
        if (remaining <= 0) throw new Error(`timed out; got ${JSON.stringify(frames)}`)
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          readMore(),
          new Promise((resolve) => {
            timer = setTimeout(resolve, remaining)
          }),
        ])
        clearTimeout(timer)
      }
      return frames
    },
    close() {
      controller.abort()
    },
  }
}

const eventsOf = (frames: Frame[], runId?: string) =>
  frames.filter((frame) => frame.event).filter((frame) => !runId || JSON.parse(frame.data!).runId === runId)

describe.each(dialects)('live feed on %s', (dialect) => {
  let t: TestApp
  let base: string
  const feeds: Array<{ close(): void }> = []

  beforeEach(async () => {
    t = await createTestApp(dialect, { sseHeartbeatMs: 100 })
    await t.kernel.bus.ready()
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
    t.kernel.executors.register('echo', async ({ run }) => ({ output: { echoed: run.input } }))
  })
  afterEach(async () => {
    for (const feed of feeds.splice(0)) feed.close()
    await t.close()
  })

  async function feed(key: string, headers: Record<string, string> = {}, path = '/api/v1/events') {
    const opened = await openFeed(`${base}${path}`, { ...bearer(key), ...headers })
    feeds.push(opened)
    return opened
  }

  async function enqueueEcho(forTenant = tenantId): Promise<Run> {
    const result = await t.kernel.runs.enqueue({
      tenantId: forTenant,
      kind: 'echo',
      trigger: 'api',
      input: 1,
    })
    if (result.status !== 'created') throw new Error('expected a created run')
    return result.run
  }

  // run.running is announced live and may trail run.completed (the kernel coalesces it), so wait for all three.
  const lifecycle = ['run.completed', 'run.pending', 'run.running']
  const completed = (runId: string) => (frames: Frame[]) =>
    lifecycle.every((type) => eventsOf(frames, runId).some((frame) => frame.event === type))

  it('streams the state changes of the caller’s tenant as SSE frames, and nothing of other tenants', async () => {
    const live = await feed(t.keys.viewer)
    expect(live.response.status).toBe(200)
    expect(live.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(live.response.headers.get('cache-control')).toContain('no-cache')
    expect(live.response.headers.get('x-request-id')).toBeTruthy()
    await live.until((frames) => frames.some((frame) => frame.comment === 'connected'))

    t.startKernel()
    const foreign = await enqueueEcho(otherTenantId)
    const ours = await enqueueEcho()
    await live.until(completed(ours.id))
    await waitFor(async () => (await t.kernel.runs.get(otherTenantId, foreign.id)).status === 'completed', {
      what: 'the other tenant’s run',
    })

    const mine = eventsOf(live.frames, ours.id)
    expect(mine.map((frame) => frame.event).sort()).toEqual(lifecycle)
    // Stored events carry their id, in order; the claim's run.running is live-only and carries none.
    const stored = mine.filter((frame) => frame.id !== undefined)
    expect(stored.map((frame) => frame.event)).toEqual(['run.pending', 'run.completed'])
    expect(Number(stored[1]!.id)).toBeGreaterThan(Number(stored[0]!.id))
    expect(mine.find((frame) => frame.event === 'run.running')!.id).toBeUndefined()
    for (const frame of mine) {
      const payload = runEventPayloadSchema.parse(JSON.parse(frame.data!))
      expect(payload).toMatchObject({ runId: ours.id, tenantId, kind: 'echo' })
    }
    expect(JSON.parse(stored[1]!.data!)).toMatchObject({ status: 'completed', attempt: 1, error: null })
    expect(eventsOf(live.frames).every((frame) => JSON.parse(frame.data!).tenantId === tenantId)).toBe(true)
    expect(eventsOf(live.frames, foreign.id)).toEqual([])
  })

  it('replays what came after Last-Event-ID, then goes live without duplicates', async () => {
    t.startKernel()
    const earlier = await enqueueEcho()
    await waitFor(async () => (await t.kernel.runs.get(tenantId, earlier.id)).status === 'completed', {
      what: 'the first run',
    })
    // On PostgreSQL events become readable once every older transaction of the cluster has ended
    // (the relay's horizon); parallel test files keep some open for a moment.
    const stored = await waitFor(async () => {
      const rows = await listEventsAfter(t.database, tenantId, 0, 100)
      return rows.length >= 2 ? rows : undefined
    })
    expect(stored.map((row) => row.type)).toEqual(['run.pending', 'run.completed'])
    const firstId = String(stored[0]!.id)

    const resumed = await feed(t.keys.viewer, { 'last-event-id': firstId })
    await resumed.until((frames) => eventsOf(frames).length >= 1)
    expect(eventsOf(resumed.frames).map((frame) => [frame.id, frame.event])).toEqual([
      [String(stored[1]!.id), 'run.completed'],
    ])

    const later = await enqueueEcho()
    await resumed.until(completed(later.id))
    const ids = eventsOf(resumed.frames)
      .map((frame) => frame.id)
      .filter((id) => id !== undefined)
    expect(new Set(ids).size).toBe(ids.length)
    expect(
      eventsOf(resumed.frames, later.id)
        .map((frame) => frame.event)
        .sort(),
    ).toEqual(lifecycle)

    // The query parameter works the same, for clients that cannot set headers.
    const byQuery = await feed(t.keys.viewer, {}, `/api/v1/events?lastEventId=${stored[0]!.id}`)
    await byQuery.until((frames) => eventsOf(frames).length >= 1)
    expect(eventsOf(byQuery.frames)[0]!.id).toBe(String(stored[1]!.id))
  })

  it('replays only the caller’s tenant', async () => {
    t.startKernel()
    const foreign = await enqueueEcho(otherTenantId)
    const ours = await enqueueEcho()
    for (const [tenant, run] of [
      [otherTenantId, foreign],
      [tenantId, ours],
    ] as const) {
      await waitFor(async () => (await t.kernel.runs.get(tenant, run.id)).status === 'completed', {
        what: 'runs',
      })
    }
    const replay = await feed(t.keys.otherTenant, { 'last-event-id': '0' })
    await replay.until((frames) => eventsOf(frames).length >= 2)
    // Give a stray frame of the other tenant the chance to arrive before we check.
    await replay.until((frames) => frames.some((frame) => frame.comment === 'heartbeat'))
    expect(eventsOf(replay.frames).map((frame) => [JSON.parse(frame.data!).runId, frame.event])).toEqual([
      [foreign.id, 'run.pending'],
      [foreign.id, 'run.completed'],
    ])
  })

  it('sends a heartbeat comment while idle', async () => {
    const idle = await feed(t.keys.viewer)
    await idle.until((frames) => frames.filter((frame) => frame.comment === 'heartbeat').length >= 2)
  })

  it('refuses a caller without a key before opening the stream', async () => {
    const response = await fetch(`${base}/api/v1/events`)
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toBe('application/problem+json')
    expect(await response.json()).toMatchObject({ code: 'unauthorized' })
  })

  it('drops the bus subscription when the client disconnects', async () => {
    const bus = t.kernel.bus
    const subscribe = bus.subscribe.bind(bus)
    let active = 0
    bus.subscribe = (topic, handler) => {
      const off = subscribe(topic, handler)
      if (topic !== 'events') return off
      active++
      return () => {
        active--
        off()
      }
    }
    // A raw socket, so the disconnect is immediate (fetch may linger on a kept-alive socket).
    const request = http.get(`${base}/api/v1/events`, { headers: bearer(t.keys.viewer) })
    const response = await new Promise<http.IncomingMessage>((resolve) => request.once('response', resolve))
    await new Promise((resolve) => response.once('data', resolve))
    expect(active).toBe(1)
    request.destroy()
    await waitFor(() => active === 0, { what: 'the subscription to be dropped', timeoutMs: 1000 })
  })

  it('ends open streams when the app closes', async () => {
    const client = await feed(t.keys.viewer)
    await client.until((frames) => frames.some((frame) => frame.comment === 'connected'))
    const started = Date.now()
    await t.app.close()
    expect(Date.now() - started).toBeLessThan(5000)
    await client.until(() => client.ended).catch(() => {})
    expect(client.ended).toBe(true)
  })

  // Issue 11 item 6: a stream outlived the credential that opened it.
  const closedBy = (frames: Frame[]) => frames.find((frame) => frame.event === 'stream.closed')

  it('ends a stream at the next heartbeat once its key is revoked, saying why', async () => {
    const made = await t.apiKeys.createApiKey({ tenantId, name: 'script', role: 'viewer' })
    const client = await feed(made.key)
    await client.until((frames) => frames.some((frame) => frame.comment === 'heartbeat'))
    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/keys/${made.apiKey.id}`,
      headers: bearer(t.keys.admin),
    })
    expect(revoked.statusCode).toBeLessThan(300)
    // Work of the workspace after the revocation does not reach the stream.
    await client.until((frames) => closedBy(frames) !== undefined, 5000)
    expect(JSON.parse(closedBy(client.frames)!.data!)).toMatchObject({ code: 'unauthorized' })
    const run = await enqueueEcho()
    t.startKernel()
    await client.until(() => client.ended, 5000).catch(() => {})
    expect(client.ended).toBe(true)
    expect(eventsOf(client.frames, run.id)).toEqual([])
  })

  it('ends a signed-in stream when the password changes, and a workspace’s streams when it is disabled', async () => {
    await t.users.createUser({
      tenantId,
      email: 'stream@example.com',
      password: 'quiet river lantern 1',
      role: 'editor',
    })
    const signIn = async (password: string) =>
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: 'stream@example.com', password },
        })
      ).json() as { accessToken: string }
    const session = await signIn('quiet river lantern 1')
    const client = await feed(session.accessToken)
    await client.until((frames) => frames.some((frame) => frame.comment === 'heartbeat'))
    const changed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: bearer(session.accessToken),
      payload: { currentPassword: 'quiet river lantern 1', newPassword: 'amber harbour window 2' },
    })
    expect(changed.statusCode).toBeLessThan(300)
    await client.until((frames) => closedBy(frames) !== undefined, 5000)

    // A workspace disabled by an installation admin: its owner's stream ends too.
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/workspaces',
      headers: bearer(t.keys.owner),
      payload: {
        name: 'Streams',
        owner: { email: 'streams-owner@example.com', password: 'violet meadow compass' },
      },
    })
    expect(created.statusCode).toBe(201)
    const owner = (
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'streams-owner@example.com', password: 'violet meadow compass' },
      })
    ).json() as { accessToken: string }
    const theirs = await feed(owner.accessToken)
    await theirs.until((frames) => frames.some((frame) => frame.comment === 'heartbeat'))
    const disabled = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/workspaces/${created.json().id}`,
      headers: bearer(t.keys.owner),
      payload: { disabled: true },
    })
    expect(disabled.statusCode).toBe(200)
    await theirs.until((frames) => closedBy(frames) !== undefined, 5000)
    expect(JSON.parse(closedBy(theirs.frames)!.data!)).toMatchObject({ code: 'workspace_disabled' })
  })
})

describe.each(dialects)('live feed limits on %s', (dialect) => {
  let t: TestApp
  let base: string

  beforeEach(async () => {
    t = await createTestApp(dialect, {
      sseHeartbeatMs: 100,
      streams: {
        maxStreamMs: 600,
        maxStreamsPerCredential: 3,
        maxStreamsPerWorkspace: 5,
        maxStreamsPerPerson: 3,
      },
      requestTimeoutMs: 1000,
    })
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
  })
  afterEach(() => t.close())

  it('refuses a stream past the cap per key and per workspace with 429 too_many_streams; a closed one frees its slot', async () => {
    const open = await Promise.all(
      [1, 2, 3].map(() => openFeed(`${base}/api/v1/events`, bearer(t.keys.viewer))),
    )
    for (const feed of open) expect(feed.response.status).toBe(200)
    const fourth = await fetch(`${base}/api/v1/events`, { headers: bearer(t.keys.viewer) })
    expect(fourth.status).toBe(429)
    expect(await fourth.json()).toMatchObject({ code: 'too_many_streams', cap: 'credential', limit: 3 })
    // Another key of the workspace: one more fits; the last of the five is kept for admins
    // (attack finding F3: members had taken every stream of the workspace).
    const more = [await openFeed(`${base}/api/v1/events`, bearer(t.keys.editor))]
    const reserved = await fetch(`${base}/api/v1/events`, { headers: bearer(t.keys.editor) })
    expect(reserved.status).toBe(429)
    const kept = await reserved.json()
    expect(kept).toMatchObject({ cap: 'workspace_members', limit: 4 })
    expect(kept.detail).toContain('kept for its admins')
    more.push(await openFeed(`${base}/api/v1/events`, bearer(t.keys.admin)))
    expect(more[1]!.response.status).toBe(200)
    const sixth = await fetch(`${base}/api/v1/events`, { headers: bearer(t.keys.admin) })
    expect(sixth.status).toBe(429)
    expect(await sixth.json()).toMatchObject({ cap: 'workspace', limit: 5 })
    // Another workspace is not affected.
    const other = await openFeed(`${base}/api/v1/events`, bearer(t.keys.otherTenant))
    expect(other.response.status).toBe(200)
    open[0]!.close()
    await waitFor(
      async () => {
        const again = await fetch(`${base}/api/v1/events`, { headers: bearer(t.keys.admin) })
        if (again.status === 200) await again.body?.cancel()
        return again.status === 200
      },
      { what: 'a slot to be free again', timeoutMs: 3000 },
    )
    for (const feed of [...open, ...more, other]) feed.close()
  })

  it('caps one person over all their keys (attack finding F3: ten keys of ten streams each)', async () => {
    const ada = await t.users.createUser({
      tenantId: 'default',
      email: 'ada@example.com',
      password: 'correct horse battery staple',
      role: 'admin',
    })
    const keyOf = async (name: string) =>
      (await t.apiKeys.createApiKey({ tenantId: 'default', name, role: 'viewer', createdBy: ada.id })).key
    const first = await keyOf('one')
    const second = await keyOf('two')
    const feeds = await Promise.all(
      [first, first, second].map((key) => openFeed(`${base}/api/v1/events`, bearer(key))),
    )
    for (const feed of feeds) expect(feed.response.status).toBe(200)
    // The person's fourth stream is refused although this key has a slot and the workspace room.
    const fourth = await fetch(`${base}/api/v1/events`, { headers: bearer(second) })
    expect(fourth.status).toBe(429)
    expect(await fourth.json()).toMatchObject({ code: 'too_many_streams', cap: 'person', limit: 3 })
    for (const feed of feeds) feed.close()
  })

  it('keeps owners and admins in the feed when two members open all they can (attack finding F3)', async () => {
    // As the attack ran: each member signs in and mints personal keys, then opens streams with the
    // session and every key. Caps here: 3 per key, 3 per person, 5 per workspace (the last one kept).
    const password = 'correct horse battery staple'
    const member = async (email: string, role: 'viewer' | 'editor') => {
      await t.users.createUser({ tenantId: 'default', email, password, role })
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      })
      expect(login.status).toBe(200)
      const session = ((await login.json()) as { accessToken: string }).accessToken
      const keys = [session]
      for (const name of ['k1', 'k2']) {
        const minted = await fetch(`${base}/api/v1/auth/keys`, {
          method: 'POST',
          headers: { ...bearer(session), 'content-type': 'application/json' },
          body: JSON.stringify({ name, role: 'viewer', expiresAt: null }),
        })
        expect(minted.status).toBe(201)
        keys.push(((await minted.json()) as { key: string }).key)
      }
      return keys
    }
    const credentials = [
      ...(await member('vic@example.com', 'viewer')),
      ...(await member('ed@example.com', 'editor')),
    ]
    // A stream held open (its body never read), or the refusal's problem.
    type Attempt = { close: () => void } | { refusal: { cap: string } }
    const attempt = async (key: string): Promise<Attempt> => {
      const controller = new AbortController()
      const answer = await fetch(`${base}/api/v1/events`, { headers: bearer(key), signal: controller.signal })
      if (answer.status === 200) return { close: () => controller.abort() }
      expect(answer.status).toBe(429)
      return { refusal: (await answer.json()) as { cap: string } }
    }
    const feeds: Array<{ close: () => void }> = []
    const refusals: string[] = []
    // Every credential tries three streams (its own cap).
    for (const key of credentials)
      for (let i = 0; i < 3; i++) {
        const result = await attempt(key)
        if ('close' in result) feeds.push(result)
        else refusals.push(result.refusal.cap)
      }
    // The workspace's four member slots are taken, the fifth kept: the first member hit the person
    // cap, the second the members' share.
    expect(feeds).toHaveLength(4)
    expect(refusals).toContain('person')
    expect(refusals).toContain('workspace_members')
    // The admin still gets in; the owner too once a member lets go.
    const admin = await attempt(t.keys.admin)
    expect('close' in admin).toBe(true)
    feeds.pop()!.close()
    await waitFor(
      async () => {
        const again = await fetch(`${base}/api/v1/events`, { headers: bearer(t.keys.owner) })
        if (again.status === 200) await again.body?.cancel()
        return again.status === 200
      },
      { what: 'the owner to get a stream', timeoutMs: 3000 },
    )
    for (const feed of feeds) feed.close()
    if ('close' in admin) admin.close()
  })

  it('ends a stream after its longest life with stream.closed; the client reconnects', async () => {
    const client = await openFeed(`${base}/api/v1/events`, bearer(t.keys.viewer))
    await client.until((frames) => frames.some((frame) => frame.event === 'stream.closed'), 5000)
    expect(JSON.parse(client.frames.find((frame) => frame.event === 'stream.closed')!.data!)).toMatchObject({
      code: 'stream_lifetime',
    })
    await client.until(() => client.ended, 2000).catch(() => {})
    expect(client.ended).toBe(true)
  })

  it('cuts off a request whose body drips in (Node answers 408 once the request timeout passes)', async () => {
    const started = Date.now()
    const status = await new Promise<number | string>((resolve) => {
      const request = http.request(`${base}/api/v1/bots`, {
        method: 'POST',
        headers: { ...bearer(t.keys.editor), 'content-type': 'application/json', 'content-length': '1000' },
      })
      request.on('response', (response) => resolve(response.statusCode ?? 0))
      request.on('error', (error) => resolve((error as NodeJS.ErrnoException).code ?? 'error'))
      request.write('{')
      const drip = setInterval(() => {
        if (!request.destroyed) request.write(' ')
      }, 200)
      request.on('close', () => clearInterval(drip))
    })
    expect([408, 'ECONNRESET', 'EPIPE']).toContain(status)
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
