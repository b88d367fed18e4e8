import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  bearer,
  createCapturingLog,
  createTestApp,
  insertProviderRow,
  otherTenantId,
  type TestApp,
} from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { recordPublic } from '../../test/output-capture.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { scrubValues, secretScrubber } from '../platform/secret-scrubber.ts'

// Issue 11 items 1 and 2, as the outside review attacked them: a PUT of one workspace registered
// whatever `apiKey` it sent with the process-wide scrubber (refused or not), which then rewrote every
// workspace's answers and logs; and a PUT without a key but with a new base URL sent the saved key
// to that address.

/** A string that passes as a secret (long, varied), unique per call so tests do not share it. */
let serial = 0
const secretLike = (label: string) => `${label}-Xq7mW2pLz9Tb-${process.pid}-${++serial}`

describe.each(dialects)('the secret scrubber cannot be turned against answers on %s', (dialect) => {
  let t: TestApp
  let server: ProviderServer
  const captured = createCapturingLog()

  beforeEach(async () => {
    t = await createTestApp(dialect, { log: captured.log })
    // Bots of both workspaces use another provider than the one the attacks PUT.
    for (const tenantId of ['default', otherTenantId])
      await insertProviderRow(t.database, 'mistral', { tenantId, defaultModel: 'mistral-small' })
  })
  afterEach(async () => {
    await server?.close()
    await t.close()
  })

  const put = (key: string, payload: Record<string, unknown>, name = 'openai') =>
    t.app.inject({ method: 'PUT', url: `/api/v1/providers/${name}`, headers: bearer(key), payload })

  it('registers nothing a refused PUT sent: other workspaces’ answers stay intact JSON', async () => {
    server = await startProviderServer('openai', { apiKey: secretLike('sk-real'), models: ['gpt-4o-mini'] })
    const bot = await t.bots.service.create('default', {
      name: 'Watch {"items":[ offers',
      prompt: 'p',
      provider: 'mistral',
    })
    const before = secretScrubber.size
    // The attack: junk "keys" from the other workspace, each refused by the provider (or the schema).
    for (const junk of ['{"items":[', '"name":"', `{"items":[{"id":"${bot.id}`, bot.id, 'Watch {"items":['])
      expect((await put(t.keys.otherTenant, { apiKey: junk, baseUrl: server.baseUrl })).statusCode).toBe(422)
    for (let i = 0; i < 200; i++)
      await put(t.keys.otherTenant, { apiKey: secretLike(`junk${i}`), baseUrl: server.baseUrl })
    expect(secretScrubber.size).toBe(before)

    const list = await t.app.inject({ url: '/api/v1/bots', headers: bearer(t.keys.viewer) })
    expect(list.statusCode).toBe(200)
    const items = (JSON.parse(list.body) as { items: Array<{ id: string; name: string }> }).items
    expect(items).toEqual([expect.objectContaining({ id: bot.id, name: 'Watch {"items":[ offers' })])
    expect(list.body).not.toContain('[redacted]')
  })

  it('scrubs a stored key from its own workspace’s answers inside string values, and nowhere else', async () => {
    const key = secretLike('sk-stored')
    recordPublic(key)
    server = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'] })
    // The same text is a bot's name in both workspaces.
    const mine = await t.bots.service.create(otherTenantId, {
      name: `Bot ${key}`,
      prompt: 'p',
      provider: 'mistral',
    })
    const theirs = await t.bots.service.create('default', {
      name: `Bot ${key}`,
      prompt: 'p',
      provider: 'mistral',
    })
    expect((await put(t.keys.otherTenant, { apiKey: key, baseUrl: server.baseUrl })).statusCode).toBe(200)

    const own = await t.app.inject({ url: `/api/v1/bots/${mine.id}`, headers: bearer(t.keys.otherTenant) })
    expect(own.json()).toMatchObject({ id: mine.id, name: 'Bot [redacted]' })
    const other = await t.app.inject({ url: `/api/v1/bots/${theirs.id}`, headers: bearer(t.keys.viewer) })
    expect(other.json()).toMatchObject({ id: theirs.id, name: `Bot ${key}` })
  })

  it('keeps ids in /users, /keys and log lines when admins save ids as keys (attack finding F2)', async () => {
    // As the outside review ran it: an admin of the default workspace (signed in) mints a service key,
    // then saves their own user id as a provider "key" against a stand-in that accepts any key.
    const password = 'correct horse battery staple 42'
    const admin = await t.users.createUser({
      tenantId: 'default',
      email: 'ada@example.com',
      password,
      role: 'admin',
    })
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'ada@example.com', password },
    })
    expect(login.statusCode).toBe(200)
    const session = login.json().accessToken as string
    const minted = await t.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(session),
      payload: { name: 'backdoor', role: 'admin', expiresAt: null },
    })
    expect(minted.statusCode).toBe(201)
    const backdoorId = minted.json().apiKey.id as string
    server = await startProviderServer('openai', { models: ['gpt-4o-mini'] })
    recordPublic(admin.id)
    expect((await put(session, { apiKey: admin.id, baseUrl: server.baseUrl })).statusCode).toBe(200)
    // The admin of another workspace tries the victim's id, pieces of it and it in context.
    const pieces = [
      admin.id.toUpperCase(),
      admin.id.slice(0, 30),
      admin.id.slice(6),
      `/users/${admin.id.slice(0, 13)}`,
      `${admin.id.slice(-6)}/disable?x=Q7`,
      `urn:uuid:${admin.id}`,
    ]
    // Three slots at once (one per provider), each stand-in accepting any key.
    const kinds = ['openai', 'anthropic', 'google'] as const
    const standIns = await Promise.all(kinds.map((kind) => startProviderServer(kind, { models: ['m-1'] })))
    try {
      for (const [index, piece] of pieces.entries()) {
        recordPublic(piece)
        const answer = await put(
          t.keys.otherTenant,
          { apiKey: piece, baseUrl: standIns[index % 3]!.baseUrl, defaultModel: 'm-1' },
          kinds[index % 3],
        )
        expect(answer.statusCode, piece).toBe(200)
      }
    } finally {
      await Promise.all(standIns.map((standIn) => standIn.close()))
    }

    // The owner's answers keep the admin's id and the key's creator.
    const users = await t.app.inject({ url: '/api/v1/users', headers: bearer(t.keys.owner) })
    expect(users.body).not.toContain('[redacted]')
    expect(users.json().items).toContainEqual(
      expect.objectContaining({ id: admin.id, email: 'ada@example.com' }),
    )
    const keys = await t.app.inject({ url: '/api/v1/keys', headers: bearer(t.keys.owner) })
    expect(keys.body).not.toContain('[redacted]')
    expect(keys.json().items).toContainEqual(expect.objectContaining({ id: backdoorId, createdBy: admin.id }))
    const missing = await t.app.inject({ url: `/api/v1/bots/${admin.id}`, headers: bearer(t.keys.owner) })
    expect(missing.json().detail).toContain(admin.id)

    // Log lines (scrubbed with every workspace's secrets) keep the actor, ids in text and URLs.
    const before = captured.lines().length
    const added = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(session),
      payload: { email: 'bo@example.com', password, role: 'viewer' },
    })
    expect(added.statusCode).toBe(201)
    const changed = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${admin.id}`,
      headers: bearer(t.keys.owner),
      payload: { role: 'editor' },
    })
    expect(changed.statusCode).toBe(200)
    captured.log.info(
      { actorId: admin.id, actorRole: 'admin', url: `/api/v1/users/${admin.id}/disable?x=Q7` },
      `user ${admin.id} looked at`,
    )
    const lines = captured.lines().slice(before)
    expect(JSON.stringify(lines)).not.toContain('[redacted]')
    expect(lines).toContainEqual(expect.objectContaining({ userId: admin.id, msg: 'user changed' }))
    expect(lines).toContainEqual(
      expect.objectContaining({ userId: added.json().id, by: `user:${admin.id}`, msg: 'user added' }),
    )
    expect(lines).toContainEqual(
      expect.objectContaining({
        actorId: admin.id,
        url: `/api/v1/users/${admin.id}/disable?x=Q7`,
        msg: `user ${admin.id} looked at`,
      }),
    )
  })

  it('never rewrites audit answers or identities: an id or e-mail address is never taken for a key', async () => {
    // The admin saves "a key" equal to their own API key's id (the outside attack used a user id the
    // same way), hoping to erase it from the trail, the key list and the logs.
    const keys = (await t.app.inject({ url: '/api/v1/keys', headers: bearer(t.keys.admin) })).json() as {
      items: Array<{ id: string; name: string; createdBy: string | null }>
    }
    const adminKeyId = keys.items.find((k) => k.name === 'admin key')!.id
    recordPublic(adminKeyId)
    server = await startProviderServer('openai', { apiKey: adminKeyId, models: ['gpt-4o-mini'] })
    expect((await put(t.keys.admin, { apiKey: adminKeyId, baseUrl: server.baseUrl })).statusCode).toBe(200)
    // Stored (it is what the provider accepts), but an id is not a secret: nothing is rewritten.
    expect(secretScrubber.forTenant('default')(`quoted ${adminKeyId}`)).toBe(`quoted ${adminKeyId}`)
    for (const url of ['/api/v1/audit', '/api/v1/keys']) {
      const answer = await t.app.inject({ url, headers: bearer(t.keys.admin) })
      expect(answer.statusCode, url).toBe(200)
      expect(answer.body, url).toContain(adminKeyId)
      expect(answer.body, url).not.toContain('[redacted]')
    }
    await server.close()

    // A real key: free text is scrubbed in logs; who did it and which request never are.
    const real = secretLike('sk-real')
    server = await startProviderServer('openai', { apiKey: real, models: ['gpt-4o-mini'] })
    expect((await put(t.keys.admin, { apiKey: real, baseUrl: server.baseUrl })).statusCode).toBe(200)
    captured.log
      .child({ tenantId: 'default', keyId: real })
      .warn(
        { userId: real, by: `user:${real}`, createdBy: real, detail: `upstream said ${real}` },
        `quoted ${real}`,
      )
    captured.log.error(new Error(`Incorrect API key provided: ${real}`))
    const [line, errorLine] = captured.lines().slice(-2)
    expect(line).toMatchObject({
      tenantId: 'default',
      keyId: real,
      userId: real,
      by: `user:${real}`,
      createdBy: real,
      detail: 'upstream said [redacted]',
      msg: 'quoted [redacted]',
    })
    expect(errorLine).toMatchObject({
      msg: 'Incorrect API key provided: [redacted]',
      err: { message: 'Incorrect API key provided: [redacted]' },
    })
    expect(JSON.stringify(errorLine)).not.toContain(real)
    // In answers too, an identity field keeps its value while free text loses the secret.
    expect(
      scrubValues({ id: real, ownerId: real, note: `has ${real}` }, secretScrubber.forTenant('default')),
    ).toEqual({ id: real, ownerId: real, note: 'has [redacted]' })

    // Rotated: the old key leaves the scrubber, the new one is in; removed: neither.
    const next = secretLike('sk-rotated')
    await server.close()
    server = await startProviderServer('openai', { apiKey: next, models: ['gpt-4o-mini'] })
    expect((await put(t.keys.admin, { apiKey: next, baseUrl: server.baseUrl })).statusCode).toBe(200)
    const scrub = secretScrubber.forTenant('default')
    expect(scrub(`${real} ${next}`)).toBe(`${real} [redacted]`)
    const removed = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
    })
    expect(removed.statusCode).toBe(204)
    expect(secretScrubber.forTenant('default')(next)).toBe(next)
  })
})

describe.each(dialects)('a saved provider key stays with its origin on %s', (dialect) => {
  let t: TestApp
  let servers: ProviderServer[] = []

  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()))
    servers = []
    await t.close()
  })

  const put = (payload: Record<string, unknown>, name: string) =>
    t.app.inject({ method: 'PUT', url: `/api/v1/providers/${name}`, headers: bearer(t.keys.admin), payload })

  it.each([
    'openai',
    'anthropic',
    'google',
    'mistral',
  ] as const)('%s: a new base URL without the key is refused and the listener hears nothing', async (name) => {
    const key = secretLike(`key-${name}`)
    const saved = await startProviderServer(name, { apiKey: key })
    const listener = await startProviderServer(name, {})
    servers.push(saved, listener)
    expect((await put({ apiKey: key, baseUrl: saved.baseUrl, defaultModel: 'm-1' }, name)).statusCode).toBe(
      200,
    )

    const moved = await put({ baseUrl: listener.baseUrl }, name)
    expect(moved.statusCode).toBe(400)
    expect(moved.json()).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'apiKey', message: expect.stringContaining('Send the key again') }],
    })
    // Back to the provider's own address is another origin too.
    expect((await put({ baseUrl: null }, name)).statusCode).toBe(400)
    expect(listener.requests).toHaveLength(0)

    // The same origin needs no key again; a partial PUT keeps what it does not name.
    const again = await put({}, name)
    expect(again.statusCode).toBe(200)
    const view = (
      await t.app.inject({ url: `/api/v1/providers/${name}`, headers: bearer(t.keys.viewer) })
    ).json()
    expect(view).toMatchObject({ baseUrl: saved.baseUrl, defaultModel: 'm-1' })
    // With the key, the new origin is fine.
    const listenerWithKey = await startProviderServer(name, { apiKey: key })
    servers.push(listenerWithKey)
    expect((await put({ apiKey: key, baseUrl: listenerWithKey.baseUrl }, name)).statusCode).toBe(200)
    const moved2 = (
      await t.app.inject({ url: `/api/v1/providers/${name}`, headers: bearer(t.keys.viewer) })
    ).json()
    expect(moved2).toMatchObject({ baseUrl: listenerWithKey.baseUrl, defaultModel: 'm-1' })
    // null clears.
    expect((await put({ defaultModel: null }, name)).statusCode).toBe(200)
    expect(
      (await t.app.inject({ url: `/api/v1/providers/${name}`, headers: bearer(t.keys.viewer) })).json()
        .defaultModel,
    ).toBeNull()
  })
})
