import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { hasRole, type Role } from './role.ts'

// Issue 5: every route of the OpenAPI document, called with every role — allowed, or 403 problem+json.
// The table below is the policy; a new route without a row fails the test until someone decides.

const roles: Role[] = ['viewer', 'editor', 'admin', 'owner']
const someId = '01900000-0000-7000-8000-000000000000'

function requiredRole(method: string, path: string): Role {
  // Installation admins: owners of the default workspace, whose keys these are (decision 0020).
  if (path.startsWith('/api/v1/workspaces')) return 'owner'
  // The installation's state and its operating mode (issue 16): its admins see it, its owners change it.
  if (path === '/api/v1/system') return 'admin'
  if (path === '/api/v1/system/mode' && method !== 'GET') return 'owner'
  if (path === '/api/v1/audit' || /^\/api\/v1\/(keys|users|events\/dead-letters)/.test(path)) return 'admin'
  if (path.startsWith('/api/v1/providers/') && method !== 'GET') return 'admin'
  if (path === '/api/v1/tools/search' && method !== 'GET') return 'admin'
  if (path === '/api/v1/tools/policy' && method !== 'GET') return 'admin'
  if (path === '/api/v1/notification-settings' && method !== 'GET') return 'admin'
  // MCP servers, reading included (their settings name hosts and programs): admins (decision 0031).
  if (path.startsWith('/api/v1/mcp-servers')) return 'admin'
  // Anyone signed in subscribes their own browser to push notifications (issue 14).
  if (path.startsWith('/api/v1/push/')) return 'viewer'
  // Telegram: switching how a channel receives commands is an admin's; a link code is any person's.
  if (/^\/api\/v1\/channels\/[^/]+\/telegram\/inbound$/.test(path)) return 'admin'
  if (/^\/api\/v1\/channels\/[^/]+\/telegram\/link-code$/.test(path)) return 'viewer'
  // Anyone unlinks their own chat (admins anyone's: the handler decides, tested in telegram-inbound).
  if (/^\/api\/v1\/channels\/[^/]+\/telegram\/links\/[^/]+$/.test(path)) return 'viewer'
  if (method === 'GET') return 'viewer'
  if (/^\/api\/v1\/(bots|runs|approvals|channels|pipelines)/.test(path)) return 'editor'
  throw new Error(`No role policy for ${method} ${path}: add it to role-matrix.test.ts`)
}

describe('roles on every route', () => {
  let t: TestApp
  let operations: Array<{ method: string; path: string }>

  beforeAll(async () => {
    t = await createTestApp('sqlite')
    const document = (await t.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, { security?: unknown[] }>>
    }
    operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/api/v1/'))
      .flatMap(([path, methods]) =>
        Object.entries(methods)
          // Public routes (no security) and the live feed (a stream that never ends) are not role-checked here.
          .filter(([, operation]) => !(Array.isArray(operation.security) && operation.security.length === 0))
          .map(([method]) => ({ method: method.toUpperCase(), path })),
      )
      // The live feed never ends; /auth routes belong to signed-in users, not keys (users tests).
      .filter((op) => op.path !== '/api/v1/events' && !op.path.startsWith('/api/v1/auth/'))
  })
  afterAll(async () => {
    await t.close()
  })

  /** Every operation called with `key`, which should act as `role`: what deviates from the policy. */
  async function deviations(key: string, role: Role): Promise<string[]> {
    const wrong: string[] = []
    for (const { method, path } of operations) {
      const url = path
        .replace('{id}', someId)
        .replace('{name}', path.includes('/providers/') ? 'openai' : 'a.md')
      const needed = requiredRole(method, path)
      const response = await t.app.inject({
        method: method as 'GET',
        url,
        headers: bearer(key),
        ...(['POST', 'PUT', 'PATCH'].includes(method) ? { payload: {} } : {}),
      })
      const allowed = hasRole(role, needed)
      const ok = allowed
        ? response.statusCode !== 403 && response.statusCode < 500
        : response.statusCode === 403 &&
          String(response.headers['content-type']).includes('application/problem+json') &&
          response.json().code === 'forbidden'
      if (!ok) wrong.push(`${role} ${method} ${path} → ${response.statusCode} (needs ${needed})`)
    }
    return wrong
  }

  it('answers 403 problem+json below the route’s role, and never 403 or 5xx at or above it', async () => {
    expect(operations.length).toBeGreaterThan(20)
    const wrong: string[] = []
    for (const role of roles) wrong.push(...(await deviations(t.keys[role], role)))
    expect(wrong).toEqual([])
  })

  it('a service key acts with at most its creator’s current role (issue 11, item 5)', async () => {
    // An admin makes an admin service key, then is demoted to viewer: the key is a viewer's key.
    const password = 'violet tram over the quiet river'
    const ada = await t.users.createUser({
      tenantId: 'default',
      email: 'ada@example.com',
      password,
      role: 'admin',
    })
    const session = (
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: ada.email, password },
      })
    ).json()
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: bearer(session.accessToken),
      payload: { name: 'ada’s ci', role: 'admin' },
    })
    expect(created.json().apiKey).toMatchObject({ role: 'admin', createdBy: ada.id })
    expect(await deviations(created.json().key, 'admin')).toEqual([])
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${ada.id}`,
      headers: bearer(t.keys.owner),
      payload: { role: 'viewer' },
    })
    expect(await deviations(created.json().key, 'viewer')).toEqual([])
  })
})
