import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../apps/server/src/platform/clock.ts'
import { createTestApp, type TestApp } from '../../../apps/server/test/app-harness.ts'
import { dialects } from '../../../apps/server/test/databases.ts'
import { waitFor } from '../../../apps/server/test/kernel-harness.ts'
import { ApiError, createClient, type LiveEvent, parseSseMessage } from './client.ts'
import { createSessionCredentials, type SignedIn, signedInFrom } from './session.ts'

const password = 'correct horse battery staple'

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

  it('sets the approval policy, and approves a waiting call from the inbox (a second decision is approval_decided)', async () => {
    const { startProviderServer } = await import('../../../apps/server/test/provider-servers/index.ts')
    const provider = await startProviderServer('openai', { apiKey: 'sk-sdk-1234', models: ['gpt-4o-mini'] })
    try {
      t = await createTestApp(dialect)
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
      const client = createClient({ baseUrl: address, apiKey: t.keys.owner })
      await client.providers.configure('openai', {
        apiKey: 'sk-sdk-1234',
        baseUrl: provider.baseUrl,
        defaultModel: 'gpt-4o-mini',
      })
      expect(
        await client.tools.setPolicy({ requireApproval: ['files_write'], expiresAfterSeconds: null }),
      ).toEqual({
        requireApproval: ['files_write'],
        expiresAfterSeconds: null,
      })
      expect((await client.tools.policy()).requireApproval).toEqual(['files_write'])
      t.startKernel()
      provider.setBehaviour({
        type: 'script',
        steps: [
          {
            type: 'tool_calls',
            calls: [{ name: 'files_write', arguments: { name: 'a.txt', content: 'hi' } }],
          },
          { type: 'success', text: 'Written.' },
        ],
      })
      const bot = await client.bots.create({
        name: 'Writer',
        prompt: 'Write a.txt.',
        provider: 'openai',
        tools: ['files'],
      })
      const run = await client.bots.run(bot.id)
      const waiting = await waitFor(
        async () => (await client.approvals.list({ status: 'pending' })).items[0],
        {
          what: 'the approval',
        },
      )
      expect(waiting).toMatchObject({
        runId: run.id,
        tool: 'files_write',
        arguments: { name: 'a.txt', content: 'hi' },
      })
      expect(await client.approvals.get(waiting.id)).toEqual(waiting)
      expect((await client.approvals.approve(waiting.id, { comment: 'yes' })).status).toBe('approved')
      const again = await client.approvals.reject(waiting.id).catch((error: unknown) => error)
      expect((again as ApiError).code).toBe('approval_decided')
      const done = await waitFor(
        async () => {
          const current = await client.runs.get(run.id)
          return current.status === 'completed' ? current : undefined
        },
        { what: 'the run to finish' },
      )
      expect(done.output).toEqual({ text: 'Written.' })
    } finally {
      await provider.close()
    }
  })

  it('creates, lists, changes, duplicates and removes a pipeline; runs it to the end and reads its steps; a bad definition is pipeline_invalid naming the step', async () => {
    const { startProviderServer } = await import('../../../apps/server/test/provider-servers/index.ts')
    const provider = await startProviderServer('openai', {
      apiKey: 'sk-sdk-1234',
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
      behaviour: { type: 'success', text: 'Done.' },
    })
    try {
      t = await createTestApp(dialect)
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
      const client = createClient({ baseUrl: address, apiKey: t.keys.owner })
      await client.providers.configure('openai', {
        apiKey: 'sk-sdk-1234',
        baseUrl: provider.baseUrl,
        defaultModel: 'gpt-4o-mini',
      })
      t.startKernel()
      const bot = (name: string) =>
        client.bots.create({ name, prompt: `${name}.`, provider: 'openai', maxRetries: 0 })
      const [scout, writer, checker] = await Promise.all([bot('Scout'), bot('Writer'), bot('Checker')])

      const refused = await client.pipelines
        .create({
          name: 'Broken',
          steps: [
            { key: 'scout', bot: scout.id },
            { key: 'write', bot: writer.id, dependsOn: ['ghost'] },
          ],
        })
        .catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(ApiError)
      expect(refused).toMatchObject({ status: 400, code: 'pipeline_invalid' })
      expect((refused as ApiError).problem?.errors).toEqual([
        expect.objectContaining({ field: 'steps[1].dependsOn', code: 'unknown_step' }),
      ])

      // A branch: write and check both start after scout.
      const created = await client.pipelines.create({
        name: 'Newsletter',
        emoji: '📰',
        schedule: '0 9 * * 1',
        timezone: 'Europe/Berlin',
        steps: [
          { key: 'scout', bot: scout.id },
          { key: 'write', bot: writer.id },
          { key: 'check', bot: checker.id, dependsOn: ['scout'], inputMode: 'merge' },
        ],
      })
      expect(created).toMatchObject({ name: 'Newsletter', version: 1, errorPolicy: 'abort', enabled: true })
      expect(created.nextRunAt).not.toBeNull()
      expect(created.lastRun).toBeNull()
      expect(created.steps.map((s) => [s.key, s.inputMode, s.dependsOn])).toEqual([
        ['scout', 'forward', undefined],
        ['write', 'forward', undefined],
        ['check', 'merge', ['scout']],
      ])
      expect(await client.pipelines.get(created.id)).toEqual(created)
      const changed = await client.pipelines.update(created.id, { errorPolicy: 'skip', schedule: null })
      expect(changed).toMatchObject({ version: 2, errorPolicy: 'skip', schedule: null, nextRunAt: null })
      const versions = await client.pipelines.versions(created.id)
      expect(versions.items.map((v) => [v.version, v.errorPolicy])).toEqual([
        [2, 'skip'],
        [1, 'abort'],
      ])
      const copy = await client.pipelines.duplicate(created.id)
      expect(copy).toMatchObject({ name: 'Newsletter (copy)', enabled: false })
      expect((await client.pipelines.list({ limit: 10 })).items.map((p) => p.name).sort()).toEqual([
        'Newsletter',
        'Newsletter (copy)',
      ])

      const started = await client.pipelines.run(created.id, { input: 'Berlin' }, { idempotencyKey: 'sdk-1' })
      expect(started).toMatchObject({ kind: 'pipeline', pipelineId: created.id, pipelineVersion: 2 })
      expect(started.steps.map((s) => s.key)).toEqual(['scout', 'write', 'check'])
      expect((await client.pipelines.run(created.id, {}, { idempotencyKey: 'sdk-1' })).id).toBe(started.id)
      const done = await waitFor(
        async () => {
          const run = await client.runs.get(started.id)
          return run.status === 'completed' ? run : undefined
        },
        { what: 'the pipeline run to finish', timeoutMs: 20_000 },
      )
      expect(done.pipelineId).toBe(created.id)
      expect(done.pipelineVersion).toBe(2)
      expect(done.steps?.map((s) => [s.key, s.status])).toEqual([
        ['scout', 'completed'],
        ['write', 'completed'],
        ['check', 'completed'],
      ])
      const stepRun = await client.runs.get(done.steps![0]!.runId!)
      expect(stepRun).toMatchObject({
        kind: 'bot',
        botId: scout.id,
        parentRunId: started.id,
        pipelineId: null,
      })
      const runs = await client.pipelines.runs(created.id, { limit: 5 })
      expect(runs.items.map((r) => [r.id, r.status])).toEqual([[started.id, 'completed']])
      // The newest run comes with the pipeline, in the list and alone.
      const lastRun = {
        id: started.id,
        status: 'completed',
        createdAt: done.createdAt,
        finishedAt: done.finishedAt,
      }
      expect((await client.pipelines.get(created.id)).lastRun).toEqual(lastRun)
      const listed = await client.pipelines.list({ limit: 10 })
      expect(listed.items.map((p) => [p.name, p.lastRun])).toEqual([
        ['Newsletter (copy)', null],
        ['Newsletter', lastRun],
      ])
      expect(runs.items[0]!.steps.every((s) => s.status === 'completed')).toBe(true)

      await client.pipelines.remove(copy.id)
      const gone = await client.pipelines.get(copy.id).catch((error: unknown) => error)
      expect(gone).toMatchObject({ status: 404, code: 'pipeline_not_found' })
    } finally {
      await provider.close()
    }
  })

  it('registers, reads, changes and removes an MCP server; a second of the same name is mcp_server_exists', async () => {
    t = await createTestApp(dialect)
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const client = createClient({ baseUrl: address, apiKey: t.keys.admin })
    const created = await client.mcpServers.create({
      name: 'crm',
      transport: 'http',
      url: 'http://127.0.0.1:9/mcp',
      headers: { authorization: 'Bearer mcp-secret-123456' },
    })
    expect(created).toMatchObject({
      name: 'crm',
      toolSet: 'mcp:crm',
      enabled: false,
      status: 'disabled',
      headerNames: ['authorization'],
    })
    expect(JSON.stringify(created)).not.toContain('mcp-secret')
    const again = await client.mcpServers
      .create({ name: 'crm', transport: 'http', url: 'http://127.0.0.1:9/mcp' })
      .catch((error: unknown) => error)
    expect((again as ApiError).code).toBe('mcp_server_exists')
    expect((await client.mcpServers.list()).items.map((server) => server.name)).toEqual(['crm'])
    expect(await client.mcpServers.update(created.id, { requireApproval: '*' })).toMatchObject({
      requireApproval: '*',
    })
    expect(await client.mcpServers.get(created.id)).toMatchObject({ status: 'disabled', tools: [] })
    await client.mcpServers.remove(created.id)
    expect((await client.mcpServers.list()).items).toEqual([])
  })

  it('reports a refused key as an ApiError with the problem code', async () => {
    t = await createTestApp(dialect)
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const client = createClient({ baseUrl: address, apiKey: 'oo_wrong' })
    await expect(client.runs.list()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
  })

  it('signs in with e-mail and password, and says why a sign-in was refused (wrong password, throttled with the wait)', async () => {
    t = await createTestApp(dialect)
    await t.users.createUser({ tenantId: 'default', email: 'anna@example.com', password, role: 'editor' })
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const anonymous = createClient({ baseUrl: address, apiKey: '' })
    const session = await anonymous.auth.login({ email: 'Anna@Example.com', password })
    expect(session).toMatchObject({ expiresIn: 900, user: { email: 'anna@example.com', role: 'editor' } })
    const client = createClient({
      baseUrl: address,
      auth: createSessionCredentials({ baseUrl: address, session: signedInFrom(session) }),
    })
    expect((await client.auth.me()).email).toBe('anna@example.com')
    expect((await client.bots.list()).items).toEqual([])
    // An API key is not a user.
    await expect(createClient({ baseUrl: address, apiKey: t.keys.owner }).auth.me()).rejects.toMatchObject({
      status: 403,
      code: 'not_a_user',
    })

    for (let i = 0; i < 5; i++)
      await expect(
        anonymous.auth.login({ email: 'anna@example.com', password: 'wrong' }),
      ).rejects.toMatchObject({ status: 401, code: 'invalid_credentials' })
    const throttled = await anonymous.auth
      .login({ email: 'anna@example.com', password })
      .catch((e: unknown) => e)
    expect(throttled).toMatchObject({ status: 429, code: 'login_throttled' })
    expect((throttled as ApiError).retryAfterMs).toBeGreaterThan(14 * 60_000)
  })

  it('refreshes an expired access token once for many requests failing together, and keeps the session', async () => {
    const clock = new ManualClock(Date.now())
    t = await createTestApp(dialect, { kernel: { clock } })
    await t.users.createUser({ tenantId: 'default', email: 'anna@example.com', password, role: 'editor' })
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    let refreshes = 0
    const counting: typeof fetch = (input, init) => {
      if (String(input).endsWith('/auth/refresh')) refreshes++
      return fetch(input, init)
    }
    const session = await createClient({ baseUrl: address, apiKey: '' }).auth.login({
      email: 'anna@example.com',
      password,
    })
    const kept: (SignedIn | null)[] = []
    // The client's own clock does not know the server's: only the server's 401 tells it to refresh.
    const auth = createSessionCredentials({
      baseUrl: address,
      session: signedInFrom(session),
      fetch: counting,
      onChange: (next) => kept.push(next),
      refreshAheadMs: 0,
    })
    const client = createClient({ baseUrl: address, auth, fetch: counting })

    clock.advance(16 * 60_000)
    const pages = await Promise.all(Array.from({ length: 6 }, () => client.bots.list()))
    expect(pages.every((page) => Array.isArray(page.items))).toBe(true)
    expect(refreshes).toBe(1)
    expect(kept).toHaveLength(1)
    expect(kept[0]!.refreshToken).not.toBe(session.refreshToken)
    expect(auth.current()).toBe(kept[0])

    // The family is intact: a second expiry refreshes again with the rotated token.
    clock.advance(16 * 60_000)
    expect((await client.auth.me()).email).toBe('anna@example.com')
    expect(refreshes).toBe(2)

    // The live feed refreshes too.
    clock.advance(16 * 60_000)
    const controller = new AbortController()
    let opened = false
    const stream = client.events({ signal: controller.signal, onOpen: () => (opened = true) })
    const next = stream.next().catch(() => undefined)
    await waitFor(() => opened, { what: 'the feed to open' })
    expect(refreshes).toBe(3)
    controller.abort()
    await next
  })

  it('ends the session when the refresh is refused, and signs out everywhere', async () => {
    t = await createTestApp(dialect)
    await t.users.createUser({ tenantId: 'default', email: 'anna@example.com', password, role: 'editor' })
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const anonymous = createClient({ baseUrl: address, apiKey: '' })
    const first = await anonymous.auth.login({ email: 'anna@example.com', password })
    const ended: (SignedIn | null)[] = []
    const auth = createSessionCredentials({
      baseUrl: address,
      session: { ...signedInFrom(first), accessToken: `${first.accessToken}x` },
      onChange: (next) => ended.push(next),
    })
    const client = createClient({ baseUrl: address, auth })
    // The tampered token is refused, the refresh mends it.
    expect((await client.auth.me()).email).toBe('anna@example.com')
    expect(ended).toHaveLength(1)
    // Someone presents the spent refresh token again: the server ends the whole family, so the
    // client's next refresh is refused and it reports the session as ended.
    await expect(anonymous.auth.refresh(first.refreshToken)).rejects.toMatchObject({
      code: 'invalid_refresh_token',
    })
    expect(await auth.refresh(auth.current()!.accessToken)).toBeUndefined()
    expect(ended.at(-1)).toBeNull()
    expect(auth.current()).toBeNull()

    // Sign out everywhere: both sessions' access tokens are refused at once.
    const a = await anonymous.auth.login({ email: 'anna@example.com', password })
    const b = await anonymous.auth.login({ email: 'anna@example.com', password })
    const clientA = createClient({
      baseUrl: address,
      auth: createSessionCredentials({ baseUrl: address, session: signedInFrom(a) }),
    })
    const endedB: (SignedIn | null)[] = []
    const clientB = createClient({
      baseUrl: address,
      auth: createSessionCredentials({
        baseUrl: address,
        session: signedInFrom(b),
        onChange: (next) => endedB.push(next),
      }),
    })
    await clientA.auth.logoutEverywhere()
    await expect(clientB.bots.list()).rejects.toMatchObject({ status: 401 })
    expect(endedB).toEqual([null])
  })
  it('manages users: adds one (a weak password refused with the reason), changes the role, disables, removes; the last owner stays', async () => {
    t = await createTestApp(dialect)
    const owner = await t.users.createUser({
      tenantId: 'default',
      email: 'anna@example.com',
      password,
      role: 'owner',
    })
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const session = await createClient({ baseUrl: address, apiKey: '' }).auth.login({
      email: 'anna@example.com',
      password,
    })
    const client = createClient({
      baseUrl: address,
      auth: createSessionCredentials({ baseUrl: address, session: signedInFrom(session) }),
    })
    const weak = await client.users
      .create({ email: 'ben@example.com', password: 'password1234', role: 'editor' })
      .catch((e: unknown) => e)
    expect(weak).toBeInstanceOf(ApiError)
    expect(weak).toMatchObject({ status: 400, code: 'validation_failed' })
    expect((weak as ApiError).problem?.errors?.[0]?.message).toBeTruthy()

    const ben = await client.users.create({
      email: 'Ben@Example.com',
      password: 'a wholly new passphrase 7',
      role: 'editor',
    })
    expect(ben).toMatchObject({ email: 'ben@example.com', role: 'editor', disabledAt: null })
    await expect(
      client.users.create({
        email: 'ben@example.com',
        password: 'a wholly new passphrase 7',
        role: 'viewer',
      }),
    ).rejects.toMatchObject({ status: 409, code: 'user_exists' })
    expect((await client.users.update(ben.id, { role: 'viewer' })).role).toBe('viewer')
    expect((await client.users.update(ben.id, { disabled: true })).disabledAt).not.toBeNull()
    expect((await client.users.list()).items.map((u) => u.email).sort()).toEqual([
      'anna@example.com',
      'ben@example.com',
    ])
    await expect(client.users.update(owner.id, { role: 'admin' })).rejects.toMatchObject({
      status: 409,
      code: 'last_owner',
    })
    await client.users.remove(ben.id)
    expect((await client.users.list()).items.map((u) => u.email)).toEqual(['anna@example.com'])
    // An admin key cannot add an owner.
    await expect(
      createClient({ baseUrl: address, apiKey: t.keys.admin }).users.create({
        email: 'cleo@example.com',
        password: 'a wholly new passphrase 7',
        role: 'owner',
      }),
    ).rejects.toMatchObject({ status: 403, code: 'forbidden' })
  })

  it('changes the password and switches the credentials to the new session; other sessions end', async () => {
    t = await createTestApp(dialect)
    await t.users.createUser({ tenantId: 'default', email: 'anna@example.com', password, role: 'editor' })
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const anonymous = createClient({ baseUrl: address, apiKey: '' })
    const first = await anonymous.auth.login({ email: 'anna@example.com', password })
    const other = await anonymous.auth.login({ email: 'anna@example.com', password })
    const kept: (SignedIn | null)[] = []
    const auth = createSessionCredentials({
      baseUrl: address,
      session: signedInFrom(first),
      onChange: (next) => kept.push(next),
    })
    const client = createClient({ baseUrl: address, auth })
    const otherClient = createClient({
      baseUrl: address,
      auth: createSessionCredentials({ baseUrl: address, session: signedInFrom(other) }),
    })
    const weak = await client.auth
      .changePassword({ currentPassword: password, newPassword: 'anna@example.com1' })
      .catch((e: unknown) => e)
    expect(weak).toMatchObject({ status: 400, code: 'validation_failed' })
    await expect(
      client.auth.changePassword({ currentPassword: 'not it', newPassword: 'a wholly new passphrase 7' }),
    ).rejects.toMatchObject({ status: 401 })

    // The wrong current password did not spend the refresh token (no refresh happened).
    expect(kept).toHaveLength(0)
    // Tokens issued in the same second as the change count as before it.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const next = await client.auth.changePassword({
      currentPassword: password,
      newPassword: 'a wholly new passphrase 7',
    })
    expect(kept).toHaveLength(1)
    expect(auth.current()!.refreshToken).toBe(next.refreshToken)
    expect((await client.auth.me()).email).toBe('anna@example.com')
    await expect(otherClient.bots.list()).rejects.toMatchObject({ status: 401 })
    await expect(anonymous.auth.refresh(first.refreshToken)).rejects.toMatchObject({ status: 401 })
    await expect(anonymous.auth.login({ email: 'anna@example.com', password })).rejects.toMatchObject({
      code: 'invalid_credentials',
    })
    // An API key is not a user.
    await expect(
      createClient({ baseUrl: address, apiKey: t.keys.owner }).auth.changePassword({
        currentPassword: password,
        newPassword: 'a wholly new passphrase 8',
      }),
    ).rejects.toMatchObject({ status: 403, code: 'not_a_user' })
  })

  it('creates, lists and revokes service keys and personal keys; a personal key acts as its user', async () => {
    t = await createTestApp(dialect)
    await t.users.createUser({ tenantId: 'default', email: 'anna@example.com', password, role: 'editor' })
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const admin = createClient({ baseUrl: address, apiKey: t.keys.admin })
    const service = await admin.keys.create({ name: 'CI', role: 'viewer', expiresAt: '2099-01-01T00:00:00Z' })
    expect(service.key.startsWith(service.apiKey.prefix)).toBe(true)
    expect(service.apiKey).toMatchObject({ name: 'CI', role: 'viewer', userId: null, revokedAt: null })
    expect((await createClient({ baseUrl: address, apiKey: service.key }).bots.list()).items).toEqual([])
    expect((await admin.keys.list()).items.map((k) => k.id)).toContain(service.apiKey.id)
    expect((await admin.keys.revoke(service.apiKey.id)).revokedAt).not.toBeNull()
    await expect(createClient({ baseUrl: address, apiKey: service.key }).bots.list()).rejects.toMatchObject({
      status: 401,
    })

    const session = await createClient({ baseUrl: address, apiKey: '' }).auth.login({
      email: 'anna@example.com',
      password,
    })
    const anna = createClient({
      baseUrl: address,
      auth: createSessionCredentials({ baseUrl: address, session: signedInFrom(session) }),
    })
    await expect(anna.keys.list()).rejects.toMatchObject({ status: 403, code: 'forbidden' })
    await expect(anna.auth.keys.create({ name: 'mine', role: 'admin' })).rejects.toMatchObject({
      status: 403,
    })
    const personal = await anna.auth.keys.create({ name: 'mine', role: 'editor' })
    expect(personal.apiKey.userId).not.toBeNull()
    expect((await anna.auth.keys.list()).items.map((k) => k.name)).toEqual(['mine'])
    const asAnna = createClient({ baseUrl: address, apiKey: personal.key })
    expect((await asAnna.bots.list()).items).toEqual([])
    await expect(asAnna.auth.keys.list()).rejects.toMatchObject({ status: 403, code: 'not_a_user' })
    expect((await anna.auth.keys.revoke(personal.apiKey.id)).revokedAt).not.toBeNull()
    await expect(asAnna.bots.list()).rejects.toMatchObject({ status: 401 })
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
