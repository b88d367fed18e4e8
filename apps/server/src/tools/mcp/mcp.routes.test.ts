import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { mcpServerSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { createVault } from '../../platform/crypto.ts'
import { rotateSecrets } from '../../secrets/rotate-secrets.ts'
import { type HttpMcpServer, startHttpMcpServer, stdioServerScript } from './mcp-test-servers.ts'

// /api/v1/mcp-servers on both engines: the rules of registering (roles, stdio, egress, names), what is
// never returned (header and environment values), and that nothing is started or called before an
// admin enables a server.

const token = 'Bearer mcp-0123456789abcdefXYZ'

describe.each(dialects)('MCP servers on %s', (dialect) => {
  let t: TestApp
  let mcp: HttpMcpServer | undefined
  let tempDir: string | undefined
  afterEach(async () => {
    await mcp?.close()
    mcp = undefined
    await t?.close()
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true })
    tempDir = undefined
  })

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, payload?: unknown) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload ? { payload } : {}) })

  it('registers an http server disabled, keeps its headers secret, and calls nothing until it is enabled', async () => {
    t = await createTestApp(dialect)
    mcp = await startHttpMcpServer()
    const created = await call('POST', '/mcp-servers', t.keys.admin, {
      name: 'crm',
      transport: 'http',
      url: mcp.url,
      headers: { Authorization: token },
    })
    expect(created.statusCode, created.body).toBe(201)
    const server = mcpServerSchema.parse(created.json())
    expect(server).toMatchObject({
      name: 'crm',
      toolSet: 'mcp:crm',
      transport: 'http',
      url: mcp.url,
      headerNames: ['Authorization'],
      command: null,
      args: [],
      envNames: [],
      enabled: false,
      requireApproval: [],
      status: 'disabled',
      lastError: null,
      tools: [],
      toolsCheckedAt: null,
    })
    expect(created.body).not.toContain('mcp-0123456789')
    // Stored encrypted.
    const row = await t.database.db.selectFrom('mcp_servers').selectAll().executeTakeFirstOrThrow()
    expect(JSON.stringify(row)).not.toContain('mcp-0123456789')

    // Listing, reading, the tool list and a bot naming it: the server hears nothing.
    expect((await call('GET', '/mcp-servers', t.keys.admin)).json().items).toHaveLength(1)
    expect((await call('GET', `/mcp-servers/${server.id}`, t.keys.admin)).json().status).toBe('disabled')
    const sets = (await call('GET', '/tools', t.keys.viewer)).json().items as Array<{ name: string }>
    expect(sets.map((set) => set.name)).not.toContain('mcp:crm')
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    const bot = await call('POST', '/bots', t.keys.editor, {
      name: 'CRM bot',
      prompt: 'Look up Anna.',
      provider: 'openai',
      tools: ['mcp:crm'],
    })
    expect(bot.statusCode, bot.body).toBe(201)
    const unknownSet = await call('POST', '/bots', t.keys.editor, {
      name: 'Other bot',
      prompt: 'Look up Anna.',
      provider: 'openai',
      tools: ['mcp:nope'],
    })
    expect(unknownSet.statusCode).toBe(400)
    expect(mcp.requests).toEqual([])

    // Enabled: GET connects, reports the tools, and the header went along.
    const enabled = await call('PATCH', `/mcp-servers/${server.id}`, t.keys.admin, { enabled: true })
    expect(enabled.statusCode, enabled.body).toBe(200)
    expect(mcp.requests).toEqual([])
    const checked = await call('GET', `/mcp-servers/${server.id}`, t.keys.admin)
    expect(checked.statusCode, checked.body).toBe(200)
    const view = mcpServerSchema.parse(checked.json())
    expect(view.status).toBe('connected')
    expect(view.lastError).toBeNull()
    expect(view.toolsCheckedAt).not.toBeNull()
    expect(view.tools.map((tool) => tool.name)).toEqual(['echo', 'add', 'hang', 'crash', 'huge', 'recursive'])
    expect(mcp.requests.length).toBeGreaterThan(0)
    expect(mcp.requests.every((request) => request.headers.authorization === token)).toBe(true)
    expect(checked.body).not.toContain('mcp-0123456789')
    // The list shows what the check found, without connecting.
    expect((await call('GET', '/mcp-servers', t.keys.admin)).json().items[0]).toMatchObject({
      status: 'connected',
    })
  })

  it('reports a server it cannot reach as an error in words, not a 500', async () => {
    t = await createTestApp(dialect)
    // A port nobody listens on (any longer).
    const closed = await startHttpMcpServer()
    await closed.close()
    const created = await call('POST', '/mcp-servers', t.keys.admin, {
      name: 'gone',
      transport: 'http',
      url: closed.url,
      enabled: true,
    })
    expect(created.statusCode, created.body).toBe(201)
    const checked = await call('GET', `/mcp-servers/${created.json().id}`, t.keys.admin)
    expect(checked.statusCode).toBe(200)
    expect(checked.json()).toMatchObject({
      status: 'error',
      lastError: expect.stringContaining('connection refused'),
    })
  })

  it('needs admin, names unique, ids known, and private URLs opened by OPENORCH_EGRESS_ALLOW', async () => {
    t = await createTestApp(dialect, { toolEgressAllow: 'none' })
    const body = { name: 'crm', transport: 'http', url: 'https://mcp.example.com/mcp' }
    for (const key of [t.keys.editor, t.keys.viewer]) {
      for (const [method, url] of [
        ['GET', '/mcp-servers'],
        ['POST', '/mcp-servers'],
      ] as const) {
        const refused = await call(method, url, key, method === 'POST' ? body : undefined)
        expect(refused.statusCode).toBe(403)
        expect(refused.json().code).toBe('forbidden')
      }
    }
    const first = await call('POST', '/mcp-servers', t.keys.admin, body)
    expect(first.statusCode, first.body).toBe(201)
    const again = await call('POST', '/mcp-servers', t.keys.admin, body)
    expect(again.statusCode).toBe(409)
    expect(again.headers['content-type']).toContain('application/problem+json')
    expect(again.json().code).toBe('mcp_server_exists')

    const unknown = await call('GET', '/mcp-servers/01900000-0000-7000-8000-000000000000', t.keys.admin)
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().code).toBe('mcp_server_not_found')
    expect(
      (
        await call('PATCH', '/mcp-servers/01900000-0000-7000-8000-000000000000', t.keys.admin, {
          enabled: true,
        })
      ).statusCode,
    ).toBe(404)
    expect(
      (await call('DELETE', '/mcp-servers/01900000-0000-7000-8000-000000000000', t.keys.admin)).statusCode,
    ).toBe(404)

    for (const url of [
      'http://127.0.0.1:8080/mcp',
      'http://[::1]/mcp',
      'http://169.254.169.254/latest',
      'http://10.1.2.3/',
    ]) {
      const refused = await call('POST', '/mcp-servers', t.keys.admin, {
        name: 'intranet',
        transport: 'http',
        url,
      })
      expect(refused.statusCode, url).toBe(400)
      expect(refused.json().code).toBe('egress_refused')
      expect(refused.json().detail).toContain('OPENORCH_EGRESS_ALLOW')
    }
    const moved = await call('PATCH', `/mcp-servers/${first.json().id}`, t.keys.admin, {
      url: 'http://10.0.0.5/mcp',
    })
    expect(moved.json().code).toBe('egress_refused')

    // Fields of the other transport, or a missing url, are named.
    const mixed = await call('POST', '/mcp-servers', t.keys.admin, {
      name: 'mixed',
      transport: 'http',
      command: 'node',
    })
    expect(mixed.statusCode).toBe(400)
    expect(
      mixed
        .json()
        .errors.map((e: { field: string }) => e.field)
        .sort(),
    ).toEqual(['command', 'url'])
    const badName = await call('POST', '/mcp-servers', t.keys.admin, { ...body, name: 'Bad Name' })
    expect(badName.statusCode).toBe(400)

    // Another workspace sees none of it.
    expect((await call('GET', '/mcp-servers', t.keys.otherTenant)).json().items).toEqual([])
    expect((await call('GET', `/mcp-servers/${first.json().id}`, t.keys.otherTenant)).statusCode).toBe(404)

    const removed = await call('DELETE', `/mcp-servers/${first.json().id}`, t.keys.admin)
    expect(removed.statusCode).toBe(204)
    expect((await call('GET', '/mcp-servers', t.keys.admin)).json().items).toEqual([])
  })

  it('refuses stdio servers while OPENORCH_MCP_STDIO is off, and to anyone but an owner when it is on', async () => {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-mcp-'))
    const starts = path.join(tempDir, 'starts')
    const stdio = {
      name: 'local',
      transport: 'stdio',
      command: process.execPath,
      args: [stdioServerScript],
      env: { STARTS_FILE: starts, SECRET_TOKEN: 'stdio-secret-0123456789abcdef' },
    }
    t = await createTestApp(dialect)
    for (const key of [t.keys.owner, t.keys.admin]) {
      const refused = await call('POST', '/mcp-servers', key, stdio)
      expect(refused.statusCode).toBe(403)
      expect(refused.json().code).toBe('mcp_stdio_disabled')
      expect(refused.json().detail).toContain('OPENORCH_MCP_STDIO=true')
    }
    await t.close()

    t = await createTestApp(dialect, { mcp: { stdio: true } })
    const byAdmin = await call('POST', '/mcp-servers', t.keys.admin, stdio)
    expect(byAdmin.statusCode).toBe(403)
    expect(byAdmin.json().code).toBe('forbidden')
    // The owner of another workspace is no installation admin: a program on this machine could read
    // every workspace's data (attack finding 2).
    const byOtherOwner = await call('POST', '/mcp-servers', t.keys.otherTenant, stdio)
    expect(byOtherOwner.statusCode).toBe(403)
    expect(byOtherOwner.json()).toMatchObject({ code: 'forbidden' })
    expect(byOtherOwner.json().detail).toContain('installation’s admins')
    const created = await call('POST', '/mcp-servers', t.keys.owner, stdio)
    expect(created.statusCode, created.body).toBe(201)
    expect(created.json()).toMatchObject({
      transport: 'stdio',
      command: process.execPath,
      args: [stdioServerScript],
      envNames: ['STARTS_FILE', 'SECRET_TOKEN'],
      status: 'disabled',
    })
    expect(created.body).not.toContain('stdio-secret')
    // An admin may not change it either; an owner may.
    const id = created.json().id
    expect((await call('PATCH', `/mcp-servers/${id}`, t.keys.admin, { enabled: true })).json().code).toBe(
      'forbidden',
    )
    // Nothing started so far: not at registering, not at reading.
    await call('GET', `/mcp-servers/${id}`, t.keys.owner)
    expect(fs.existsSync(starts)).toBe(false)
    const enabled = await call('PATCH', `/mcp-servers/${id}`, t.keys.owner, { enabled: true })
    expect(enabled.statusCode, enabled.body).toBe(200)
    expect(fs.existsSync(starts)).toBe(false)
    const checked = await call('GET', `/mcp-servers/${id}`, t.keys.owner)
    expect(checked.json()).toMatchObject({ status: 'connected' })
    expect(checked.json().tools.map((tool: { name: string }) => tool.name)).toContain('echo')
    expect(fs.readFileSync(starts, 'utf8').trim().split('\n')).toHaveLength(1)
    // An admin may remove it.
    expect((await call('DELETE', `/mcp-servers/${id}`, t.keys.admin)).statusCode).toBe(204)
  })

  it('replaces headers when given, keeps them otherwise, and rotates them with the other secrets', async () => {
    t = await createTestApp(dialect)
    mcp = await startHttpMcpServer()
    const created = await call('POST', '/mcp-servers', t.keys.admin, {
      name: 'crm',
      transport: 'http',
      url: mcp.url,
      headers: { Authorization: token, 'X-Team': 'sales-team-0123456789abcdef' },
      requireApproval: '*',
    })
    const id = created.json().id
    const renamed = await call('PATCH', `/mcp-servers/${id}`, t.keys.admin, {
      name: 'crm2',
      requireApproval: ['echo'],
    })
    expect(renamed.json()).toMatchObject({
      name: 'crm2',
      toolSet: 'mcp:crm2',
      headerNames: ['Authorization', 'X-Team'],
      requireApproval: ['echo'],
    })
    const replaced = await call('PATCH', `/mcp-servers/${id}`, t.keys.admin, { headers: { 'X-Other': 'x' } })
    expect(replaced.json().headerNames).toEqual(['X-Other'])

    // Rotation: a new primary key, the old one kept in the ring; the value stays readable.
    const row = await t.database.db.selectFrom('mcp_servers').selectAll().executeTakeFirstOrThrow()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-rotate-'))
    tempDir = dir
    const oldKey = 'k'.repeat(40)
    const oldVault = createVault({ masterKey: oldKey, dataDir: dir })
    await t.database.db
      .updateTable('mcp_servers')
      .set({ headers_encrypted: oldVault.encrypt(JSON.stringify({ Authorization: token })) })
      .where('id', '=', row.id)
      .execute()
    const newVault = createVault({ masterKey: 'n'.repeat(40), dataDir: dir, extraKeys: [oldKey] })
    const result = await rotateSecrets(t.database, newVault)
    expect(result.failed).toEqual([])
    expect(result.rotated).toBeGreaterThanOrEqual(1)
    const after = await t.database.db.selectFrom('mcp_servers').selectAll().executeTakeFirstOrThrow()
    expect(newVault.needsRotation(after.headers_encrypted!)).toBe(false)
    expect(JSON.parse(newVault.decrypt(after.headers_encrypted!))).toEqual({ Authorization: token })
  })
})
