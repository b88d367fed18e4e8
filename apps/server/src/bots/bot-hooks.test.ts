import { botHookCreatedSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { createLogger } from '../platform/logger.ts'
import { hookRequestsPerMinute } from './bot-hooks.ts'

// Inbound webhooks (issue 14): a bot's URL whose POST starts a run. The token is the credential: shown
// once, hashed at rest, revocable, expiring, rate limited, never logged.

const tenantId = 'default'

describe.each(dialects)('inbound webhooks on %s', (dialect) => {
  let t: TestApp
  let bots = 0
  afterEach(async () => {
    await t?.close()
    bots = 0
  })

  async function hookOf(fields: Record<string, unknown> = {}) {
    if (bots++ === 0) await insertProviderRow(t.database, 'ollama', { defaultModel: 'llama3.2' })
    const bot = await t.bots.service.create(tenantId, {
      name: `Inbox ${bots}`,
      prompt: 'Read what came in.',
      provider: 'ollama',
    })
    const created = await t.app.inject({
      method: 'POST',
      url: `/api/v1/bots/${bot.id}/hooks`,
      headers: bearer(t.keys.editor),
      payload: fields,
    })
    expect(created.statusCode, created.body).toBe(201)
    return { bot, hook: botHookCreatedSchema.parse(created.json()) }
  }
  const post = (token: string, payload: string, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/hooks/${token}`,
      headers: { 'content-type': 'application/json', ...headers },
      payload,
    })

  it('starts a run with the body as input, without an API key; the same Idempotency-Key returns the first run', async () => {
    t = await createTestApp(dialect)
    const { bot, hook } = await hookOf()
    expect(hook.url).toMatch(new RegExp(`/api/v1/hooks/${hook.token}$`))
    expect(hook.tokenHint).not.toContain(hook.token.slice(8, -4))
    const started = await post(hook.token, JSON.stringify({ order: 42, item: 'Air Max 90' }), {
      'idempotency-key': 'order-42',
    })
    expect(started.statusCode, started.body).toBe(202)
    expect(started.json()).toMatchObject({ status: 'created' })
    const run = await t.kernel.runs.get(tenantId, started.json().runId)
    expect(run).toMatchObject({
      trigger: 'webhook',
      subjectId: bot.id,
      input: { order: 42, item: 'Air Max 90' },
    })
    const again = await post(hook.token, JSON.stringify({ order: 42 }), { 'idempotency-key': 'order-42' })
    expect(again.json()).toEqual({ runId: run.id, status: 'existing' })
    const text = await post(hook.token, 'plain words', { 'content-type': 'text/plain' })
    expect(text.statusCode, text.body).toBe(202)
    expect((await t.kernel.runs.get(tenantId, text.json().runId)).input).toBe('plain words')
    // Listed without the token.
    const listed = await t.app.inject({ url: `/api/v1/bots/${bot.id}/hooks`, headers: bearer(t.keys.viewer) })
    expect(listed.json().items).toHaveLength(1)
    expect(listed.body).not.toContain(hook.token)
    expect(listed.json().items[0].lastUsedAt).not.toBeNull()
  })

  it('answers one 404 for a wrong, revoked or expired token, refuses a large or NUL body, and never logs the token', async () => {
    const lines: string[] = []
    const log = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } })
    {
      t = await createTestApp(dialect, { log })
      const { bot, hook } = await hookOf()
      const wrong = await post(`ooh_${'x'.repeat(43)}`, '{}')
      expect(wrong.statusCode).toBe(404)
      expect(wrong.json().code).toBe('hook_not_found')
      expect((await post(hook.token, `{"text":"${'a'.repeat(300 * 1024)}"}`)).statusCode).toBe(413)
      expect((await post(hook.token, 'a\u0000b', { 'content-type': 'text/plain' })).statusCode).toBe(400)
      expect((await post(hook.token, '<xml/>', { 'content-type': 'application/xml' })).statusCode).toBe(415)
      const revoked = await t.app.inject({
        method: 'DELETE',
        url: `/api/v1/bots/${bot.id}/hooks/${hook.id}`,
        headers: bearer(t.keys.editor),
      })
      expect(revoked.statusCode).toBe(204)
      const afterRevoke = await post(hook.token, '{}')
      expect(afterRevoke.statusCode).toBe(404)
      // The same answer as for a token that never existed: nothing tells them apart.
      expect({ ...afterRevoke.json(), requestId: null }).toEqual({ ...wrong.json(), requestId: null })
      const expiring = await hookOf({ expiresInSeconds: 60 })
      await t.database.db
        .updateTable('bot_hooks')
        .set({ expires_at: Date.now() - 1 })
        .where('id', '=', expiring.hook.id)
        .execute()
      expect((await post(expiring.hook.token, '{}')).json().code).toBe('hook_not_found')
      // A viewer cannot make one.
      const byViewer = await t.app.inject({
        method: 'POST',
        url: `/api/v1/bots/${bot.id}/hooks`,
        headers: bearer(t.keys.viewer),
        payload: {},
      })
      expect(byViewer.statusCode).toBe(403)
      const logged = lines.join('')
      expect(logged).toContain('/api/v1/hooks/[redacted]')
      expect(logged).not.toContain(hook.token)
      expect(logged).not.toContain(expiring.hook.token)
    }
  })

  it('limits each webhook to its requests a minute, with Retry-After, without touching another', async () => {
    t = await createTestApp(dialect)
    const { hook } = await hookOf()
    const other = await hookOf()
    for (let i = 0; i < hookRequestsPerMinute; i++)
      expect((await post(hook.token, '{}')).statusCode).toBe(202)
    const limited = await post(hook.token, '{}')
    expect(limited.statusCode).toBe(429)
    expect(limited.json().code).toBe('rate_limited')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect((await post(other.hook.token, '{}')).statusCode).toBe(202)
  })

  it('refuses the webhooks of a disabled workspace with 403 workspace_disabled and starts nothing; enabled again, they work', async () => {
    t = await createTestApp(dialect)
    const { hook } = await hookOf()
    const setDisabled = (at: number | null) =>
      t.database.db
        .updateTable('tenants')
        .set({ disabled_at: at })
        .where('tenant_id', '=', tenantId)
        .execute()
    const botRuns = () => t.database.db.selectFrom('runs').select('id').where('kind', '=', 'bot').execute()
    // The API refuses to disable the default workspace (the tests' bots are in it): set by hand.
    await setDisabled(Date.now())
    const refused = await post(hook.token, '{"order":42}')
    expect(refused.statusCode, refused.body).toBe(403)
    expect(refused.json().code).toBe('workspace_disabled')
    expect(await botRuns()).toEqual([])
    await setDisabled(null)
    expect((await post(hook.token, '{"order":42}')).statusCode).toBe(202)
    expect(await botRuns()).toHaveLength(1)
  })
})
