import { apiKeyCreatedSchema, apiKeyPageSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'

describe.each(dialects)('API keys API on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
  })
  afterEach(async () => {
    await t.close()
  })

  const create = (body: object, key = t.keys.admin) =>
    t.app.inject({ method: 'POST', url: '/api/v1/keys', headers: bearer(key), payload: body })
  const runsWith = (key: string) => t.app.inject({ url: '/api/v1/runs', headers: bearer(key) })

  it('creates a key shown once, lists keys by prefix without secrets, and revocation works on the next request', async () => {
    const created = await create({ name: 'CI pipeline', role: 'editor' })
    expect(created.statusCode).toBe(201)
    const { key, apiKey } = apiKeyCreatedSchema.parse(created.json())
    expect(key).toMatch(/^oo_/)
    expect(apiKey).toMatchObject({
      name: 'CI pipeline',
      role: 'editor',
      prefix: key.slice(0, 10),
      revokedAt: null,
      userId: null,
      // Made by a key nobody created through the API (the harness's, like the bootstrap key).
      createdBy: null,
    })
    expect((await runsWith(key)).statusCode).toBe(200)

    const listed = await t.app.inject({ url: '/api/v1/keys', headers: bearer(t.keys.admin) })
    const page = apiKeyPageSchema.parse(listed.json())
    expect(page.items.map((k) => k.id)).toContain(apiKey.id)
    expect(listed.body).not.toContain(key)
    expect(listed.body).not.toContain('key_hash')
    expect(page.items.find((k) => k.id === apiKey.id)!.lastUsedAt).not.toBeNull()

    const revoked = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/keys/${apiKey.id}`,
      headers: bearer(t.keys.admin),
    })
    expect(revoked.statusCode).toBe(200)
    expect(revoked.json().revokedAt).not.toBeNull()
    const refused = await runsWith(key)
    expect(refused.statusCode).toBe(401)
    expect(refused.json().code).toBe('unauthorized')
  })

  it('never lets a key create or revoke a key above its own role', async () => {
    const owner = await create({ name: 'x', role: 'owner' })
    expect(owner.statusCode).toBe(403)
    expect(owner.json().code).toBe('forbidden')
    expect((await create({ name: 'x', role: 'owner' }, t.keys.owner)).statusCode).toBe(201)
    const keys = apiKeyPageSchema.parse(
      (await t.app.inject({ url: '/api/v1/keys?limit=200', headers: bearer(t.keys.admin) })).json(),
    )
    const ownerKey = keys.items.find((k) => k.role === 'owner')!
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/keys/${ownerKey.id}`,
      headers: bearer(t.keys.admin),
    })
    expect(revoke.statusCode).toBe(403)
    expect((await runsWith(t.keys.owner)).statusCode).toBe(200)
  })

  it('refuses an expiry in the past and stops accepting a key once it expired', async () => {
    const past = await create({
      name: 'old',
      role: 'viewer',
      expiresAt: new Date(Date.now() - 1000).toISOString(),
    })
    expect(past.statusCode).toBe(400)
    expect(past.json().errors).toEqual([{ field: 'expiresAt', message: 'must be in the future' }])
    const soon = apiKeyCreatedSchema.parse(
      (
        await create({ name: 'soon', role: 'viewer', expiresAt: new Date(Date.now() + 400).toISOString() })
      ).json(),
    )
    expect((await runsWith(soon.key)).statusCode).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect((await runsWith(soon.key)).statusCode).toBe(401)
  })

  it('rejects mass assignment: tenantId or id in the body', async () => {
    const response = await create({ name: 'x', role: 'viewer', tenantId: 'other', id: 'mine' })
    expect(response.statusCode).toBe(400)
    expect(JSON.stringify(response.json().errors)).toMatch(/tenantId|id/)
    // Nor can a caller name someone else as the creator (whose disabling would revoke the key).
    const creator = await create({ name: 'x', role: 'viewer', createdBy: 'someone' })
    expect(creator.statusCode).toBe(400)
    expect(creator.json().code).toBe('validation_failed')
  })
})
