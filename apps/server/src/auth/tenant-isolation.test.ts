import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'

// Issue 5 (API1): every route, called by another workspace with this workspace's ids, answers 404 —
// never this workspace's data, not even in lists, counts, search or usage. Issue 11: the other
// workspace is made the supported way (POST /workspaces with its first owner, who signs in and makes
// a key), and the workspace routes themselves answer it 403 (installation admins only).

describe.each(dialects)('tenant isolation on %s', (dialect) => {
  let t: TestApp
  let secrets: string[]
  let operations: Array<{ method: string; path: string }>
  let ids: { bot: string; run: string; user: string; key: string; pipeline: string }
  let otherSession: string
  let otherKey: string

  beforeAll(async () => {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    const bot = await t.bots.service.create('default', {
      name: 'Tenant A secret bot',
      prompt: 'tenant-a-secret-prompt',
      provider: 'openai',
      schedule: '@hourly',
    })
    await t.bots.notes.put({ tenantId: 'default', botId: bot.id }, 'a.md', 'tenant-a-secret-note')
    const run = await t.bots.service.runNow('default', bot.id, {
      trigger: 'api',
      input: 'tenant-a-secret-input',
    })
    if (run.status === 'dropped') throw new Error('dropped')
    const user = await t.users.createUser({
      tenantId: 'default',
      email: 'tenant-a-secret-user@example.com',
      password: 'tenant a passphrase 1',
      role: 'owner',
    })
    const personalKey = await t.apiKeys.createApiKey({
      tenantId: 'default',
      name: 'tenant-a-secret-key',
      role: 'owner',
      userId: user.id,
    })
    const pipeline = await t.pipelines.service.create('default', {
      name: 'Tenant A secret pipeline',
      steps: [{ key: 'only', bot: bot.id }],
    })
    ids = { bot: bot.id, run: run.run.id, user: user.id, key: personalKey.apiKey.id, pipeline: pipeline.id }
    secrets = [
      bot.id,
      run.run.id,
      user.id,
      personalKey.apiKey.id,
      pipeline.id,
      'Tenant A secret bot',
      'Tenant A secret pipeline',
      'tenant-a-secret',
    ]
    // The other workspace, created by an installation admin with its first owner. Routes of
    // signed-in users (/auth/…) are called with that owner's session, the others with their key.
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/workspaces',
      headers: bearer(t.keys.owner),
      payload: {
        name: 'Other workspace',
        owner: { email: 'other-owner@example.com', password: 'other workspace passphrase' },
      },
    })
    if (created.statusCode !== 201) throw new Error(`workspace not created: ${created.body}`)
    otherSession = (
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'other-owner@example.com', password: 'other workspace passphrase' },
      })
    ).json().accessToken
    const key = await t.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(otherSession),
      payload: { name: 'other owner key', role: 'owner' },
    })
    if (key.statusCode !== 201) throw new Error(`key not created: ${key.body}`)
    otherKey = key.json().key
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>
    }
    operations = Object.entries(document.paths)
      .filter(
        ([path]) =>
          path.startsWith('/api/v1/') && path !== '/api/v1/events' && path !== '/api/v1/openapi.json',
      )
      .flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
      )
  })
  afterAll(async () => {
    await t.close()
  })

  // A valid body for each route that changes something, so the answer is about the id, not the body.
  const bodies: Record<string, object> = {
    'PATCH /api/v1/channels/{id}': { name: 'x' },
    'PUT /api/v1/channels/{id}/events': { types: [] },
    'PUT /api/v1/channels/{id}/quiet-hours': { quietHours: null },
    'PUT /api/v1/channels/{id}/telegram/inbound': { mode: 'off' },
    'PUT /api/v1/bots/{id}/channels/{channelId}': { rule: 'always' },
    'PATCH /api/v1/pipelines/{id}': { description: 'x' },
  }
  const payloadFor = (method: string, path: string) => {
    if (`${method} ${path}` in bodies) return bodies[`${method} ${path}`]
    if (path.endsWith('/notes/{name}') && method === 'PUT') return { content: 'x' }
    if (path.startsWith('/api/v1/workspaces'))
      return method === 'POST'
        ? { name: 'x', owner: { email: 'x@x.example', password: 'other workspace passphrase' } }
        : method === 'PATCH'
          ? { disabled: true }
          : undefined
    if (method === 'PATCH') return path.startsWith('/api/v1/users') ? { disabled: true } : { enabled: false }
    if (['POST', 'PUT'].includes(method)) return {}
    return undefined
  }

  const idFor = (path: string) =>
    path.startsWith('/api/v1/pipelines')
      ? ids.pipeline
      : path.startsWith('/api/v1/runs')
        ? ids.run
        : path.startsWith('/api/v1/users')
          ? ids.user
          : path.startsWith('/api/v1/auth/keys')
            ? ids.key
            : path.startsWith('/api/v1/workspaces')
              ? 'default'
              : ids.bot

  it('answers 404 for this workspace’s ids and shows none of its data anywhere', async () => {
    const wrong: string[] = []
    for (const { method, path } of operations) {
      if (path.startsWith('/api/v1/providers/')) continue // named per workspace: the other workspace's own
      const url = path.replace('{id}', idFor(path)).replace('{name}', 'a.md')
      const payload = payloadFor(method, path)
      const response = await t.app.inject({
        method: method as 'GET',
        url,
        headers: bearer(path.startsWith('/api/v1/auth/') ? otherSession : otherKey),
        ...(payload !== undefined ? { payload } : {}),
      })
      // The id the caller sent may come back in the 404's detail; anything else of ours may not.
      const leaked = secrets.filter((s) => !url.includes(s) && response.body.includes(s))
      if (leaked.length > 0) wrong.push(`${method} ${path} leaks ${leaked.join(', ')}`)
      // The installation's workspaces are for its admins: 403 before any id is looked at.
      if (path.startsWith('/api/v1/workspaces')) {
        if (response.statusCode !== 403 || response.json().code !== 'forbidden')
          wrong.push(`${method} ${path} → ${response.statusCode}, expected 403 forbidden`)
        continue
      }
      const targetsAnId = path.includes('{id}')
      if (targetsAnId && response.statusCode !== 404)
        wrong.push(`${method} ${path} → ${response.statusCode}, expected 404`)
      if (!targetsAnId && response.statusCode >= 500) wrong.push(`${method} ${path} → ${response.statusCode}`)
    }
    expect(wrong).toEqual([])
    // Metrics (public to the operator's scraper) carry no workspace, bot or run as a label.
    const metrics = (await t.app.inject({ url: '/metrics' })).body
    expect(metrics).toContain('openorch_')
    expect(metrics).not.toMatch(/[{,](tenant|tenant_id|workspace|bot|bot_id|run|run_id)=/)
    for (const secret of secrets) expect(metrics).not.toContain(secret)
    // Still there for its own workspace.
    const own = await t.app.inject({ url: `/api/v1/bots/${ids.bot}`, headers: bearer(t.keys.viewer) })
    expect(own.statusCode).toBe(200)
    const note = await t.app.inject({
      url: `/api/v1/bots/${ids.bot}/notes/a.md`,
      headers: bearer(t.keys.viewer),
    })
    expect(note.json().content).toBe('tenant-a-secret-note')
  })
})
