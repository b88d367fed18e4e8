import { afterEach, describe, expect, it } from 'vitest'
import {
  bearer,
  createTestApp,
  insertProviderRow,
  otherTenantId,
  type TestApp,
} from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { ManualClock } from '../platform/clock.ts'

// Issue 11 "Workspaces that can be created" (decision 0020): installation admins (owners of the
// default workspace) create workspaces with their first owner, list, rename, disable and enable
// them; a disabled workspace's keys, sessions and schedules stop; the default one cannot be disabled.

const password = 'violet tram over the quiet river'
const start = Date.parse('2026-05-01T10:00:00Z')

describe.each(dialects)('workspaces on %s', (dialect) => {
  let t: TestApp

  afterEach(async () => {
    await t?.close()
  })

  const call = (method: 'GET' | 'POST' | 'PATCH', url: string, key: string, payload?: object) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload ? { payload } : {}) })
  const login = (email: string, pw = password) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: pw } })
  const createWorkspace = async (name: string, email: string) => {
    const response = await call('POST', '/workspaces', t.keys.owner, { name, owner: { email, password } })
    expect(response.statusCode, response.body).toBe(201)
    return response.json() as { id: string; owner: { id: string } }
  }
  /** The new workspace's owner signs in and makes an owner key of their workspace. */
  const ownerCredentials = async (email: string) => {
    const session = (await login(email)).json() as { accessToken: string; refreshToken: string }
    const key = await call('POST', '/keys', session.accessToken, { name: 'ops', role: 'owner' })
    expect(key.statusCode, key.body).toBe(201)
    return { ...session, key: key.json().key as string }
  }

  it('creates a workspace with its first owner, who signs in to it and sees only it', async () => {
    t = await createTestApp(dialect)
    const response = await call('POST', '/workspaces', t.keys.owner, {
      name: '  Acme  ',
      owner: { email: 'Anna@Acme.example', password },
    })
    expect(response.statusCode, response.body).toBe(201)
    const created = response.json()
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Acme',
      isDefault: false,
      createdAt: expect.any(String),
      disabledAt: null,
      users: 1,
      owner: {
        id: expect.any(String),
        email: 'anna@acme.example',
        role: 'owner',
        createdAt: expect.any(String),
        disabledAt: null,
      },
    })
    expect(response.headers.location).toBe(`/api/v1/workspaces/${created.id}`)

    const signedIn = await login('anna@acme.example')
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    const session = signedIn.json().accessToken as string
    const users = (await call('GET', '/users', session)).json()
    expect(users.items.map((u: { email: string }) => u.email)).toEqual(['anna@acme.example'])
    const row = await t.database.db
      .selectFrom('users')
      .select('tenant_id')
      .where('id', '=', created.owner.id)
      .executeTakeFirstOrThrow()
    expect(row.tenant_id).toBe(created.id)

    const one = await call('GET', `/workspaces/${created.id}`, t.keys.owner)
    expect(one.statusCode).toBe(200)
    const { owner: _owner, ...workspace } = created
    expect(one.json()).toEqual(workspace)

    // Audited twice: the installation's trail (the API call) and the new workspace's own.
    const own = await t.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('tenant_id', '=', created.id)
      .where('action', '=', 'workspaces.created')
      .executeTakeFirstOrThrow()
    expect(own).toMatchObject({ actor_type: 'api_key', target_type: 'workspaces', target_id: created.id })
    const installation = await t.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('tenant_id', '=', 'default')
      .where('action', '=', 'POST /workspaces')
      .executeTakeFirstOrThrow()
    expect(installation).toMatchObject({ target_id: created.id, status: 201 })
  })

  it('lists every workspace newest first, page by page, with its number of users', async () => {
    t = await createTestApp(dialect)
    const a = await createWorkspace('A', 'a@a.example')
    const b = await createWorkspace('B', 'b@b.example')
    const seen: Array<{ id: string; name: string; users: number; isDefault: boolean }> = []
    let cursor: string | null = null
    do {
      const page = await call('GET', `/workspaces?limit=2${cursor ? `&cursor=${cursor}` : ''}`, t.keys.owner)
      expect(page.statusCode, page.body).toBe(200)
      const body = page.json()
      expect(body.items.length).toBeLessThanOrEqual(2)
      seen.push(...body.items)
      cursor = body.nextCursor
    } while (cursor)
    // The harness's second workspace ("other") was made before these two, the default one first of all.
    expect(seen.map((w) => w.id)).toEqual([b.id, a.id, otherTenantId, 'default'])
    expect(seen.find((w) => w.id === a.id)).toMatchObject({ name: 'A', users: 1, isDefault: false })
    expect(seen.find((w) => w.id === 'default')).toMatchObject({ isDefault: true, users: 0 })
  })

  it('answers 403 forbidden to everyone but owners of the default workspace, before looking at ids', async () => {
    t = await createTestApp(dialect)
    const acme = await createWorkspace('Acme', 'anna@acme.example')
    const anna = await ownerCredentials('anna@acme.example')
    const callers = {
      'default admin': t.keys.admin,
      'default editor': t.keys.editor,
      'other owner key': t.keys.otherTenant,
      'acme owner key': anna.key,
      'acme owner session': anna.accessToken,
    }
    const requests: Array<['GET' | 'POST' | 'PATCH', string, object?]> = [
      ['GET', '/workspaces'],
      ['GET', `/workspaces/${acme.id}`],
      ['GET', '/workspaces/no-such-workspace'],
      ['POST', '/workspaces', { name: 'Mine', owner: { email: 'x@x.example', password } }],
      ['PATCH', `/workspaces/${acme.id}`, { name: 'Renamed' }],
      ['PATCH', '/workspaces/default', { disabled: true }],
    ]
    const wrong: string[] = []
    for (const [who, key] of Object.entries(callers))
      for (const [method, url, payload] of requests) {
        const response = await call(method, url, key, payload)
        const body = response.json()
        if (response.statusCode !== 403 || body.code !== 'forbidden')
          wrong.push(`${who} ${method} ${url} → ${response.statusCode} ${body.code}`)
        if (JSON.stringify(body).includes('Acme')) wrong.push(`${who} ${method} ${url} shows the name`)
      }
    expect(wrong).toEqual([])
    const forbidden = await call('GET', '/workspaces', anna.key)
    expect(forbidden.json()).toMatchObject({
      status: 403,
      code: 'forbidden',
      detail: 'Only the installation’s admins — owners of the default workspace — manage workspaces.',
    })
    expect((await call('GET', `/workspaces/${acme.id}`, t.keys.owner)).json().name).toBe('Acme')
  })

  it('refuses a taken e-mail, a weak password and unsafe names, and leaves no workspace behind', async () => {
    t = await createTestApp(dialect)
    await createWorkspace('Acme', 'anna@acme.example')
    const before = await t.database.db.selectFrom('tenants').select('tenant_id').execute()

    const taken = await call('POST', '/workspaces', t.keys.owner, {
      name: 'Copy',
      owner: { email: 'ANNA@acme.example', password },
    })
    expect(taken.statusCode).toBe(409)
    expect(taken.json()).toMatchObject({ code: 'user_exists' })

    const weak = await call('POST', '/workspaces', t.keys.owner, {
      name: 'Weak',
      owner: { email: 'ben@weak.example', password: 'password1234' },
    })
    expect(weak.statusCode).toBe(400)
    expect(weak.json()).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'password', code: 'password_too_guessable' }],
    })

    for (const name of ['Acme\u202Egnp.exe', 'Ac\u200Bme', 'Acme\u0000', '   ', 'x'.repeat(101)]) {
      const bad = await call('POST', '/workspaces', t.keys.owner, {
        name,
        owner: { email: 'cara@bad.example', password },
      })
      expect(bad.statusCode, JSON.stringify(name)).toBe(400)
      expect(bad.json().code).toBe('validation_failed')
      expect(bad.json().errors[0].field).toBe('name')
    }
    const unknownField = await call('POST', '/workspaces', t.keys.owner, {
      name: 'X',
      id: 'mine',
      owner: { email: 'cara@bad.example', password },
    })
    expect(unknownField.statusCode).toBe(400)

    expect(await t.database.db.selectFrom('tenants').select('tenant_id').execute()).toHaveLength(
      before.length,
    )
    expect(
      await t.database.db.selectFrom('users').select('id').where('email', '=', 'ben@weak.example').execute(),
    ).toEqual([])
  })

  it('disabling refuses the workspace’s keys, sessions, sign-in and refresh with 403 workspace_disabled; enabling brings them back', async () => {
    t = await createTestApp(dialect)
    const acme = await createWorkspace('Acme', 'anna@acme.example')
    const anna = await ownerCredentials('anna@acme.example')
    expect((await call('GET', '/bots', anna.key)).statusCode).toBe(200)

    const disabled = await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { disabled: true })
    expect(disabled.statusCode, disabled.body).toBe(200)
    expect(disabled.json()).toMatchObject({ id: acme.id, disabledAt: expect.any(String) })

    const refusal = {
      status: 403,
      code: 'workspace_disabled',
      detail:
        'This workspace is disabled: its keys and sessions are refused and its schedules do not run. Ask the installation’s admins (owners of the default workspace) to enable it again.',
    }
    for (const key of [anna.key, anna.accessToken]) {
      const refused = await call('GET', '/bots', key)
      expect(refused.statusCode).toBe(403)
      expect(refused.headers['content-type']).toContain('application/problem+json')
      expect(refused.json()).toMatchObject(refusal)
    }
    const signIn = await login('anna@acme.example')
    expect(signIn.statusCode).toBe(403)
    expect(signIn.json()).toMatchObject(refusal)
    const wrongPassword = await login('anna@acme.example', 'not the password at all')
    expect(wrongPassword.json().code).toBe('invalid_credentials')
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: anna.refreshToken },
    })
    expect(refresh.statusCode).toBe(403)
    expect(refresh.json()).toMatchObject(refusal)
    // Every other workspace goes on.
    expect((await call('GET', '/bots', t.keys.otherTenant)).statusCode).toBe(200)
    expect((await call('GET', '/bots', t.keys.viewer)).statusCode).toBe(200)

    const enabled = await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { disabled: false })
    expect(enabled.json()).toMatchObject({ disabledAt: null })
    expect((await call('GET', '/bots', anna.key)).statusCode).toBe(200)
    expect((await call('GET', '/bots', anna.accessToken)).statusCode).toBe(200)
    expect((await login('anna@acme.example')).statusCode).toBe(200)
    // The refresh token refused while disabled was not spent.
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refreshToken: anna.refreshToken },
    })
    expect(refreshed.statusCode).toBe(200)

    const trail = await t.database.db
      .selectFrom('audit_log')
      .select(['action', 'actor_type', 'target_id'])
      .where('tenant_id', '=', acme.id)
      .where('target_type', '=', 'workspaces')
      .orderBy('id')
      .execute()
    expect(trail.map((e) => e.action)).toEqual([
      'workspaces.created',
      'workspaces.disabled',
      'workspaces.enabled',
    ])
    expect(new Set(trail.map((e) => e.actor_type))).toEqual(new Set(['api_key']))
  })

  it('renames a workspace; disabling twice changes nothing more; unknown ids answer 404', async () => {
    t = await createTestApp(dialect)
    const acme = await createWorkspace('Acme', 'anna@acme.example')
    const renamed = await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { name: 'Acme Ltd' })
    expect(renamed.json()).toMatchObject({ name: 'Acme Ltd', disabledAt: null })
    const first = (await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { disabled: true })).json()
    const second = (await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { disabled: true })).json()
    expect(second.disabledAt).toBe(first.disabledAt)
    const actions = await t.database.db
      .selectFrom('audit_log')
      .select('action')
      .where('tenant_id', '=', acme.id)
      .orderBy('id')
      .execute()
    expect(actions.map((a) => a.action)).toEqual([
      'workspaces.created',
      'workspaces.renamed',
      'workspaces.disabled',
    ])
    const empty = await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, {})
    expect(empty.statusCode).toBe(400)
    for (const [method, payload] of [['GET'], ['PATCH', { name: 'X' }]] as const) {
      const missing = await call(method, '/workspaces/no-such-workspace', t.keys.owner, payload)
      expect(missing.statusCode).toBe(404)
      expect(missing.json()).toMatchObject({ code: 'workspace_not_found' })
    }
  })

  it('never disables the default workspace, whoever asks', async () => {
    t = await createTestApp(dialect)
    const refused = await call('PATCH', '/workspaces/default', t.keys.owner, { disabled: true })
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'default_workspace_protected' })
    expect((await call('GET', '/workspaces/default', t.keys.owner)).json().disabledAt).toBeNull()
    expect((await call('GET', '/bots', t.keys.owner)).statusCode).toBe(200)
    // Renaming it is fine.
    const renamed = await call('PATCH', '/workspaces/default', t.keys.owner, { name: 'Head office' })
    expect(renamed.json()).toMatchObject({ name: 'Head office', isDefault: true })
  })

  it('a disabled workspace’s schedules do not fire while others’ do; enabled again, its missed-slot policy applies', async () => {
    const clock = new ManualClock(start)
    t = await createTestApp(dialect, { kernel: { clock } })
    const acme = await createWorkspace('Acme', 'anna@acme.example')
    for (const tenantId of ['default', acme.id])
      await insertProviderRow(t.database, 'ollama', { tenantId, defaultModel: 'llama3.2' })
    const bot = (tenantId: string) =>
      t.bots.service.create(tenantId, {
        name: 'scout',
        prompt: 'Find offers.',
        provider: 'ollama',
        timezone: 'UTC',
        schedule: '@every 1m',
        overlapPolicy: 'allow_all',
        missedRunPolicy: 'catch_up_one',
      })
    const ours = await bot('default')
    const theirs = await bot(acme.id)
    expect((await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { disabled: true })).statusCode).toBe(
      200,
    )

    clock.advance(60_000)
    expect(await t.bots.scheduler.tick()).toEqual([
      { kind: 'bot', ownerId: ours.id, slot: start + 60_000, outcome: 'fired' },
    ])
    clock.advance(60_000)
    expect(await t.bots.scheduler.tick()).toEqual([
      { kind: 'bot', ownerId: ours.id, slot: start + 120_000, outcome: 'fired' },
    ])
    const runsOf = async (tenantId: string) =>
      (await t.kernel.runs.list(tenantId, { limit: 200 })).items.filter((r) => r.trigger === 'schedule')
    expect(await runsOf(acme.id)).toEqual([])

    expect(
      (await call('PATCH', `/workspaces/${acme.id}`, t.keys.owner, { disabled: false })).statusCode,
    ).toBe(200)
    clock.advance(1_000)
    const after = await t.bots.scheduler.tick()
    expect(after).toEqual([{ kind: 'bot', ownerId: theirs.id, slot: start + 120_000, outcome: 'caught_up' }])
    expect(await runsOf(acme.id)).toHaveLength(1)
  })

  it('tells the sign-in page whether anyone has an account, and nothing more, without a key', async () => {
    t = await createTestApp(dialect)
    const before = await t.app.inject({ url: '/api/v1/auth/setup' })
    expect(before.statusCode).toBe(200)
    expect(before.json()).toEqual({ hasUsers: false })
    await createWorkspace('Acme', 'anna@acme.example')
    const after = await t.app.inject({ url: '/api/v1/auth/setup' })
    expect(after.json()).toEqual({ hasUsers: true })
  })
})
