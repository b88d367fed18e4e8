import Fastify from 'fastify'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, otherTenantId, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { waitFor } from '../../../test/kernel-harness.ts'
import { appendAuditIn, systemEntry, verifyAudit } from '../../audit/audit.store.ts'
import { decorateAuth } from '../../auth/auth.hook.ts'
import { installationWideTables, openForReading } from '../../migrations/0038-row-level-security.ts'
import { registerTenantScope } from '../http/tenant-scope.hook.ts'
import { currentTenantScope, withoutTenantScope, withTenantScope } from './tenant-scope.ts'
import { afterCommit, writeTransaction } from './transaction.ts'

// Issue 16: row-level security per workspace on PostgreSQL, a second line of defence behind the
// tenant condition of every query (migration 0038, decision 0042). The whole PostgreSQL half of the
// suite runs as an application role that the policies bind (scripts/test.mjs); this file shows the
// policies themselves: a query that forgets its tenant condition finds nothing of another workspace.

const postgres = dialects.includes('postgres') ? ['postgres' as const] : []

describe.each(postgres)('row-level security on %s', (dialect) => {
  let t: TestApp
  const tenantsOf = (rows: Array<{ tenant_id: string }>) =>
    [...new Set(rows.map((row) => row.tenant_id))].sort()

  beforeAll(async () => {
    // Long leases: a run a claim leased but could not start would wait this long (see the last test).
    t = await createTestApp(dialect, { kernel: { worker: { leaseMs: 30_000 } } })
    for (const tenantId of ['default', 'default', otherTenantId])
      await t.kernel.runs.enqueue({ tenantId, kind: 'noop', trigger: 'api', input: `a run of ${tenantId}` })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('runs the tests as a role that cannot bypass the policies (no superuser, no BYPASSRLS)', async () => {
    const { rows } = await sql<{ rolsuper: boolean; rolbypassrls: boolean }>`
      SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`.execute(t.database.db)
    expect(rows).toEqual([{ rolsuper: false, rolbypassrls: false }])
  })

  it('gives every table with a tenant_id column a forced policy', async () => {
    const { rows } = await sql<{ table_name: string; enabled: boolean; forced: boolean; policies: number }>`
      SELECT c.relname AS table_name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
        (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS policies
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind = 'r'
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
      ORDER BY c.relname`.execute(t.database.db)
    expect(rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['runs', 'bots', 'audit_log', 'api_keys']),
    )
    // A table a later migration adds without calling enableTenantRowSecurity shows up here.
    const scoped = rows.filter((row) => !installationWideTables.includes(row.table_name))
    expect(
      scoped.filter(
        (row) =>
          !row.enabled || !row.forced || row.policies !== (openForReading.includes(row.table_name) ? 4 : 1),
      ),
    ).toEqual([])
  })

  it('returns nothing of another workspace to a query that forgets its tenant condition', async () => {
    const db = t.database.db
    const unscoped = await db.selectFrom('runs').select('tenant_id').execute()
    expect(tenantsOf(unscoped)).toEqual(['default', otherTenantId])

    const scoped = await withTenantScope('default', () =>
      db.selectFrom('runs').select(['tenant_id', 'input']).execute(),
    )
    expect(tenantsOf(scoped)).toEqual(['default'])
    expect(scoped).toHaveLength(2)
    // Even asking for the other workspace by name finds nothing.
    const asked = await withTenantScope('default', () =>
      db.selectFrom('runs').select('id').where('tenant_id', '=', otherTenantId).execute(),
    )
    expect(asked).toEqual([])
    // The queue's raw statements (pool.query) are scoped the same way.
    const raw = await withTenantScope(otherTenantId, () =>
      t.database.pool!.query<{ tenant_id: string }>('SELECT tenant_id FROM runs'),
    )
    expect(tenantsOf(raw.rows)).toEqual([otherTenantId])
    // And inside a transaction.
    const inTransaction = await withTenantScope(otherTenantId, () =>
      writeTransaction(t.database, (trx) => trx.selectFrom('runs').select('tenant_id').execute()),
    )
    expect(tenantsOf(inTransaction)).toEqual([otherTenantId])
  })

  it("refuses to change or create another workspace's rows while scoped", async () => {
    const db = t.database.db
    const updated = await withTenantScope('default', () =>
      db
        .updateTable('runs')
        .set({ input: 'overwritten' })
        .where('tenant_id', '=', otherTenantId)
        .executeTakeFirst(),
    )
    expect(Number(updated.numUpdatedRows)).toBe(0)
    const deleted = await withTenantScope('default', () =>
      db.deleteFrom('runs').where('tenant_id', '=', otherTenantId).executeTakeFirst(),
    )
    expect(Number(deleted.numDeletedRows)).toBe(0)
    const other = await db.selectFrom('runs').select('input').where('tenant_id', '=', otherTenantId).execute()
    expect(other).toEqual([{ input: JSON.stringify(`a run of ${otherTenantId}`) }])

    const planted = withTenantScope('default', () =>
      t.kernel.runs.enqueue({ tenantId: otherTenantId, kind: 'noop', trigger: 'api', input: 'planted' }),
    )
    await expect(planted).rejects.toMatchObject({ code: '42501' })
    const plantedRows = await db
      .selectFrom('runs')
      .select('id')
      .where('input', '=', JSON.stringify('planted'))
      .execute()
    expect(plantedRows).toEqual([])
  })

  it('keeps search on its GIN index while scoped (run_search is open for reading, closed for writing)', async () => {
    const plan = await withTenantScope('default', () =>
      writeTransaction(t.database, async (trx) => {
        // Without this the planner may scan a table this small; with it only a barrier keeps the index out.
        await sql`SET LOCAL enable_seqscan = off`.execute(trx)
        const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN SELECT run_id FROM run_search
          WHERE vector @@ to_tsquery('simple', 'word')`.execute(trx)
        return rows.map((row) => row['QUERY PLAN']).join('\n')
      }),
    )
    expect(plan).toContain('run_search_vector_idx')
    const planted = withTenantScope('default', () =>
      sql`INSERT INTO run_search (run_id, tenant_id, vector) VALUES ('planted', ${otherTenantId}, NULL)`.execute(
        t.database.db,
      ),
    )
    await expect(planted).rejects.toMatchObject({ code: '42501' })
  })

  it("serves the orchestrator's own work unscoped on a connection a workspace used before", async () => {
    const db = t.database.db
    // More rounds than the pool has connections, interleaved: every connection serves both.
    const rounds = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? withTenantScope(otherTenantId, () => db.selectFrom('runs').select('tenant_id').execute())
          : db.selectFrom('runs').select('tenant_id').execute(),
      ),
    )
    rounds.forEach((rows, i) => {
      expect(tenantsOf(rows)).toEqual(i % 2 === 0 ? [otherTenantId] : ['default', otherTenantId])
    })
  })

  it("scopes an authenticated request's handler to its workspace, and not what it leaves behind", async () => {
    const db = t.database.db
    const app = Fastify()
    decorateAuth(app)
    let leftBehind: Promise<string> | undefined
    await app.register(async (secured) => {
      secured.addHook('onRequest', async (request) => {
        request.auth = { tenantId: String(request.headers['x-tenant']), role: 'owner', keyId: 'k' }
      })
      registerTenantScope(secured)
      secured.get('/runs', async () => {
        // A timer the handler starts and that fires after its response.
        leftBehind = new Promise((resolve) => setTimeout(() => resolve(currentTenantScope()), 200))
        return db.selectFrom('runs').select('tenant_id').execute()
      })
    })
    const response = await app.inject({ method: 'GET', url: '/runs', headers: { 'x-tenant': otherTenantId } })
    expect(tenantsOf(response.json())).toEqual([otherTenantId])
    expect(await leftBehind).toBe('')
    await app.close()
  })

  it("counts every workspace's runs for the installation's admins (GET /system runs unscoped)", async () => {
    // The other workspace's run becomes a dead letter; the default workspace's owner asks.
    await t.database.db
      .updateTable('runs')
      .set({ status: 'failed', dead_lettered_at: Date.now(), finished_at: Date.now() })
      .where('tenant_id', '=', otherTenantId)
      .execute()
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/v1/system',
      headers: { authorization: `Bearer ${t.keys.owner}` },
    })
    expect(response.statusCode).toBe(200)
    expect(response.json().queue.deadLetters).toBe(1)
    expect(response.json().database.rowLevelSecurity).toBe('enforced')
    // A table whose policies someone switched off by hand (the owner may) is reported.
    const system = () =>
      t.app.inject({
        method: 'GET',
        url: '/api/v1/system',
        headers: { authorization: `Bearer ${t.keys.owner}` },
      })
    await sql`ALTER TABLE bots NO FORCE ROW LEVEL SECURITY`.execute(t.database.db)
    try {
      expect((await system()).json().database.rowLevelSecurity).toBe('incomplete')
    } finally {
      await sql`ALTER TABLE bots FORCE ROW LEVEL SECURITY`.execute(t.database.db)
    }
    expect((await system()).json().database.rowLevelSecurity).toBe('enforced')
  })

  it("wakes the orchestrator's loops after a workspace's commit unscoped", async () => {
    let woken: string | undefined
    await withTenantScope('default', () =>
      writeTransaction(t.database, async (trx) => {
        afterCommit(trx, () => {
          woken = currentTenantScope()
        })
      }),
    )
    expect(woken).toBe('')
    expect(withTenantScope('default', () => withoutTenantScope(currentTenantScope))).toBe('')
  })

  it('keeps the audit chain whole when workspaces append to it in turn', async () => {
    // The chain runs through every workspace's entries; its head is read across them.
    for (const tenantId of ['default', otherTenantId, 'default', otherTenantId])
      await withTenantScope(tenantId, () =>
        writeTransaction(t.database, (trx) =>
          appendAuditIn(trx, 'postgres', [
            systemEntry({ tenantId, at: Date.now(), actorId: 'test', action: 'test.append' }),
          ]),
        ),
      )
    expect(await verifyAudit(t.database)).toMatchObject({ ok: true })
    const heads = await t.database.db
      .selectFrom('audit_log')
      .select(['prev_hash', 'hash'])
      .orderBy('id')
      .execute()
    const prevs = heads.map((row) => row.prev_hash)
    expect(new Set(prevs).size).toBe(prevs.length)
  })

  it("runs a bot's executor in its run's workspace: its forgotten condition finds only its own rows", async () => {
    t.kernel.executors.register('probe', async () => {
      const rows = await t.database.db.selectFrom('runs').select('tenant_id').execute()
      // Work it leaves behind after returning is not in the scope any more.
      setTimeout(() => {
        leftover = currentTenantScope()
      }, 100)
      return { output: { tenants: tenantsOf(rows) } }
    })
    let leftover: string | undefined
    const enqueued = await t.kernel.runs.enqueue({ tenantId: otherTenantId, kind: 'probe', trigger: 'api' })
    if (enqueued.status === 'dropped') throw new Error('the probe run was dropped')
    const { run } = enqueued
    t.startKernel()
    const done = await waitFor(
      async () => {
        const current = await t.kernel.runs.get(otherTenantId, run.id)
        return current.status === 'completed' || current.status === 'failed' ? current : undefined
      },
      { what: 'the probe run' },
    )
    expect(done.status).toBe('completed')
    expect(done.output).toEqual({ tenants: [otherTenantId] })
    await waitFor(() => leftover !== undefined, { what: 'the leftover timer' })
    expect(leftover).toBe('')
  })

  it("keeps the worker, relay and scheduler unscoped when workspaces' requests wake them", async () => {
    // Attack finding: requests woke the worker in their workspace's scope; its claim leased other
    // workspaces' runs (run_queue has no policy) and could not start them (runs has one) until their
    // leases expired. Now every run completes on its first attempt, and its events all reach the relay.
    t.kernel.executors.register('quick', async ({ run }) => ({ output: { ran: run.tenantId } }))
    const tenants = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'default' : otherTenantId))
    const enqueued = await Promise.all(
      tenants.map((tenantId) =>
        withTenantScope(tenantId, () => t.kernel.runs.enqueue({ tenantId, kind: 'quick', trigger: 'api' })),
      ),
    )
    const runs = enqueued.map((result) => {
      if (result.status === 'dropped') throw new Error('a run was dropped')
      return result.run
    })
    const finished = await waitFor(
      async () => {
        const rows = await t.database.db
          .selectFrom('runs')
          .select(['id', 'status', 'attempt', 'tenant_id'])
          .where(
            'id',
            'in',
            runs.map((run) => run.id),
          )
          .execute()
        return rows.every((row) => row.status === 'completed') ? rows : undefined
      },
      { what: 'every run to complete (not one left leased until its lease expired)', timeoutMs: 20_000 },
    )
    expect(finished.filter((row) => Number(row.attempt) !== 1)).toEqual([])
    // The relay saw every completion: the outbox cursors passed them all (no event skipped unseen).
    const events = await t.database.db
      .selectFrom('run_events')
      .select(['run_id', 'type'])
      .where(
        'run_id',
        'in',
        runs.map((run) => run.id),
      )
      .where('type', '=', 'run.completed')
      .execute()
    expect(events).toHaveLength(runs.length)
  })
})
