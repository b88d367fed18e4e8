import { auditPageSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { type AuditEntry, appendAudit, pruneAudit, verifyAudit } from './audit.store.ts'

const entry = (n: number): AuditEntry => ({
  tenant_id: 'default',
  at: 1_700_000_000_000 + n,
  actor_type: 'system',
  actor_id: null,
  actor_role: null,
  action: `test.${n}`,
  target_type: 'bots',
  target_id: `b${n}`,
  ip: null,
  request_id: null,
  status: null,
  details: null,
})

describe.each(dialects)('audit trail on %s', (dialect) => {
  let t: TestApp

  beforeEach(async () => {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
  })
  afterEach(async () => {
    await t.close()
  })

  const audit = async (query = '', key = t.keys.admin) =>
    auditPageSchema.parse((await t.app.inject({ url: `/api/v1/audit${query}`, headers: bearer(key) })).json())

  it('records every change made through the API — who, what, target, from where — and nothing else', async () => {
    const secretPrompt = 'prompt-text-that-must-not-be-in-the-audit'
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/bots',
      headers: { ...bearer(t.keys.editor), 'x-request-id': 'req-create-1' },
      payload: { name: 'Scout', prompt: secretPrompt, provider: 'openai' },
    })
    expect(created.statusCode).toBe(201)
    const botId = created.json().id
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${botId}`,
      headers: bearer(t.keys.editor),
      payload: { enabled: false },
    })
    await t.app.inject({
      method: 'PUT',
      url: `/api/v1/bots/${botId}/notes/a.md`,
      headers: bearer(t.keys.editor),
      payload: { content: 'x' },
    })
    // Not changes: reads, refused and invalid requests.
    await t.app.inject({ url: `/api/v1/bots/${botId}`, headers: bearer(t.keys.viewer) })
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${botId}`,
      headers: bearer(t.keys.viewer),
      payload: { enabled: true },
    })
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/bots/${botId}`,
      headers: bearer(t.keys.editor),
      payload: { maxRetries: -1 },
    })
    await t.app.inject({ method: 'DELETE', url: `/api/v1/bots/${botId}`, headers: bearer(t.keys.editor) })

    const page = await audit()
    expect(page.items.map((e) => e.action)).toEqual([
      'DELETE /bots/:id',
      'PUT /bots/:id/notes/:name',
      'PATCH /bots/:id',
      'POST /bots',
    ])
    const [, note, , create] = page.items
    expect(create).toMatchObject({
      actor: { type: 'api_key', role: 'editor', id: expect.any(String) },
      target: { type: 'bots', id: botId },
      requestId: 'req-create-1',
      status: 201,
      ip: '127.0.0.1',
    })
    expect(note!.details).toEqual({ params: { name: 'a.md' } })
    expect(JSON.stringify(page)).not.toContain(secretPrompt)
    expect((await audit('?targetId=' + botId + '&action=PATCH%20%2Fbots%2F%3Aid')).items).toHaveLength(1)
    expect((await verifyAudit(t.database)).ok).toBe(true)
  })

  it('is for admins of the workspace only', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/bots',
      headers: bearer(t.keys.editor),
      payload: { name: 'S', prompt: 'p', provider: 'openai' },
    })
    const editor = await t.app.inject({ url: '/api/v1/audit', headers: bearer(t.keys.editor) })
    expect(editor.statusCode).toBe(403)
    expect(editor.headers['content-type']).toContain('application/problem+json')
    expect((await audit('', t.keys.otherTenant)).items).toEqual([])
    expect((await audit('', t.keys.admin)).items).toHaveLength(1)
  })

  it('pages newest first with a numeric cursor', async () => {
    for (let i = 0; i < 5; i++) await appendAudit(t.database, [entry(i)])
    const first = await audit('?limit=2')
    expect(first.items.map((e) => e.action)).toEqual(['test.4', 'test.3'])
    const second = await audit(`?limit=2&cursor=${first.nextCursor}`)
    expect(second.items.map((e) => e.action)).toEqual(['test.2', 'test.1'])
    expect(
      (await t.app.inject({ url: '/api/v1/audit?cursor=abc', headers: bearer(t.keys.admin) })).statusCode,
    ).toBe(400)
  })

  it('detects a changed entry and a deleted one; concurrent appends never fork the chain', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(t.database, [entry(i)])))
    const intact = await verifyAudit(t.database, 7)
    expect(intact).toMatchObject({ ok: true, entries: 20 })
    const rows = await t.database.db.selectFrom('audit_log').select('id').orderBy('id').execute()
    const [, second, third, fourth] = rows.map((r) => Number(r.id))

    await t.database.db
      .updateTable('audit_log')
      .set({ target_id: 'someone-else' })
      .where('id', '=', third!)
      .execute()
    expect(await verifyAudit(t.database)).toMatchObject({
      ok: false,
      id: third,
      problem: 'changed',
      entries: 2,
    })
    await t.database.db.deleteFrom('audit_log').where('id', '=', third!).execute()
    expect(await verifyAudit(t.database)).toMatchObject({ ok: false, id: fourth, problem: 'broken_link' })
    expect(second).toBeLessThan(fourth!)
  })

  it('prunes old entries as a prefix of the chain; what remains still verifies from the anchor', async () => {
    for (let i = 0; i < 10; i++) await appendAudit(t.database, [entry(i)])
    // entry(i).at = 1_700_000_000_000 + i: prune the first six.
    expect(await pruneAudit(t.database, 1_700_000_000_006, 42, 4)).toBe(4)
    expect(await pruneAudit(t.database, 1_700_000_000_006, 42, 4)).toBe(2)
    expect(await pruneAudit(t.database, 1_700_000_000_006, 42, 4)).toBe(0)
    const left = await t.database.db.selectFrom('audit_log').select(['id', 'action']).orderBy('id').execute()
    expect(left.map((r) => r.action)).toEqual(['test.6', 'test.7', 'test.8', 'test.9'])
    expect(await verifyAudit(t.database)).toMatchObject({ ok: true, entries: 4 })
    await appendAudit(t.database, [entry(10)])
    expect(await verifyAudit(t.database)).toMatchObject({ ok: true, entries: 5 })
    // Deleting the first remaining entry by hand is still caught.
    await t.database.db.deleteFrom('audit_log').where('id', '=', left[0]!.id).execute()
    expect(await verifyAudit(t.database)).toMatchObject({ ok: false, problem: 'broken_link' })
  })
})
