import { pipelinePageSchema, pipelineSchema } from '@openorch/contracts'
import { CompiledQuery } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import {
  bearer,
  createTestApp,
  insertProviderRow,
  otherTenantId,
  type TestApp,
} from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { lastRunsOf, lastRunsQuery } from './pipeline.service.ts'

// A pipeline's newest run comes with the pipeline (list and detail), read for a whole page in one
// statement that seeks runs_tenant_subject_idx once per pipeline instead of reading their runs.

const tenantId = 'default'

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  Alias?: string
  'Index Name'?: string
  'Scan Direction'?: string
  'Actual Rows'?: number
  'Actual Loops'?: number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

const flatten = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)]

describe.each(dialects)("a pipeline's last run on %s", (dialect) => {
  let t: TestApp
  afterEach(async () => {
    await t?.close()
  })

  const call = (method: string, url: string, credential = t.keys.editor) =>
    t.app.inject({ method: method as 'GET', url: `/api/v1${url}`, headers: bearer(credential) })

  async function setUp() {
    // The kernel is not started: runs stay as the test leaves them.
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'openai', { defaultModel: 'gpt-4o-mini' })
    await insertProviderRow(t.database, 'openai', { tenantId: otherTenantId, defaultModel: 'gpt-4o-mini' })
  }

  async function pipelineOf(tenant: string, name: string) {
    const bot = await t.bots.service.create(tenant, {
      name: `${name} bot`,
      prompt: 'Go.',
      provider: 'openai',
    })
    return t.pipelines.service.create(tenant, { name, steps: [{ key: 'only', bot: bot.id }] })
  }

  async function start(tenant: string, id: string) {
    const started = await t.pipelines.service.start(tenant, id, { trigger: 'manual' })
    if (started.status === 'dropped') throw new Error(`the run was dropped: ${started.reason}`)
    return { ...started.run, createdAt: new Date(started.run.createdAt).toISOString() }
  }

  it('lists each pipeline with its newest run (pending, ended or none) and shows it on the detail', async () => {
    await setUp()
    const twice = await pipelineOf(tenantId, 'Twice')
    const once = await pipelineOf(tenantId, 'Once')
    const never = await pipelineOf(tenantId, 'Never')
    expect(twice.lastRun).toBeNull()
    const first = await start(tenantId, twice.id)
    const second = await start(tenantId, twice.id)
    const pending = await start(tenantId, once.id)
    // The newest run of Twice ends (cancelled); the older one stays pending.
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/api/v1/runs/${second.id}/cancel`,
      headers: bearer(t.keys.editor),
    })
    expect(cancelled.statusCode, cancelled.body).toBe(200)
    // A run of another workspace's pipeline and a bot run are not a pipeline's last run here.
    const elsewhere = await pipelineOf(otherTenantId, 'Elsewhere')
    await start(otherTenantId, elsewhere.id)
    await t.bots.service.runNow(tenantId, twice.steps[0]!.bot, { trigger: 'manual' })

    const listed = await call('GET', '/pipelines')
    expect(listed.statusCode, listed.body).toBe(200)
    const page = pipelinePageSchema.parse(listed.json())
    const byName = new Map(page.items.map((p) => [p.name, p.lastRun]))
    expect(byName.get('Twice')).toEqual({
      id: second.id,
      status: 'cancelled',
      createdAt: second.createdAt,
      finishedAt: expect.any(String),
    })
    expect(Date.parse(byName.get('Twice')!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(second.createdAt))
    expect(byName.get('Once')).toEqual({
      id: pending.id,
      status: 'pending',
      createdAt: pending.createdAt,
      finishedAt: null,
    })
    expect(byName.get('Never')).toBeNull()
    expect(first.id < second.id).toBe(true)

    const detail = await call('GET', `/pipelines/${once.id}`)
    expect(pipelineSchema.parse(detail.json()).lastRun).toEqual(byName.get('Once'))
    const other = await call('GET', '/pipelines', t.keys.otherTenant)
    expect(pipelinePageSchema.parse(other.json()).items.map((p) => [p.name, p.lastRun?.status])).toEqual([
      ['Elsewhere', 'pending'],
    ])
    // Another workspace's ids name nothing here.
    expect((await lastRunsOf(t.database.db, dialect, tenantId, [elsewhere.id, never.id])).size).toBe(0)
    // An export carries no state: no last run in it.
    const exported = await call('GET', `/pipelines/${twice.id}/export`)
    expect(exported.statusCode, exported.body).toBe(200)
    expect(exported.json().pipeline).not.toHaveProperty('lastRun')
  })

  it('finds the newest runs by one index seek per pipeline, not by reading every run', async () => {
    await setUp()
    const pipelines = []
    for (let i = 0; i < 20; i++) pipelines.push(await pipelineOf(tenantId, `P${i}`))
    const newest = []
    for (const p of pipelines) newest.push(await start(tenantId, p.id))
    // 500 older ended runs per pipeline, cloned from a real row (ids below any uuidv7: older).
    const template = await t.database.db
      .selectFrom('runs')
      .selectAll()
      .where('id', '=', newest[0]!.id)
      .executeTakeFirstOrThrow()
    const perPipeline = 500
    for (const [index, p] of pipelines.entries()) {
      const rows = Array.from({ length: perPipeline }, (_, n) => ({
        ...template,
        id: `00000000-0000-7000-8000-${String(index * perPipeline + n).padStart(12, '0')}`,
        subject_id: p.id,
        status: 'completed',
        idempotency_key: null,
        input: template.input,
        created_at: Number(template.created_at) - 1_000_000 + n,
        finished_at: Number(template.created_at) - 1_000_000 + n + 10,
      }))
      for (let at = 0; at < rows.length; at += 100)
        await t.database.db
          .insertInto('runs')
          .values(rows.slice(at, at + 100))
          .execute()
    }
    if (dialect === 'postgres') await t.database.db.executeQuery(CompiledQuery.raw('ANALYZE runs'))
    else await t.database.db.executeQuery(CompiledQuery.raw('ANALYZE'))

    const ids = pipelines.map((p) => p.id)
    const started = performance.now()
    const last = await lastRunsOf(t.database.db, dialect, tenantId, ids)
    const ms = performance.now() - started
    expect(pipelines.map((p) => last.get(p.id)?.id)).toEqual(newest.map((run) => run.id))
    expect(pipelines.map((p) => last.get(p.id)?.status)).toEqual(pipelines.map(() => 'pending'))

    const compiled = lastRunsQuery(t.database.db, dialect, tenantId, ids).compile()
    if (dialect === 'sqlite') {
      const plan = await t.database.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]),
      )
      const steps = plan.rows.map((row) => row.detail)
      expect(steps.join('\n')).toMatch(/SEARCH newest USING (COVERING )?INDEX runs_tenant_subject_idx/)
      expect(steps.join('\n')).toMatch(/SEARCH r USING INDEX sqlite_autoindex_runs_1 \(id=\?\)/)
      // No step reads the runs from end to end, nor sorts them (the 20 pipelines may be scanned).
      expect(steps.filter((step) => /^SCAN (r|newest)\b|TEMP B-TREE/.test(step))).toEqual([])
    } else {
      const plan = await t.database.db.executeQuery<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        CompiledQuery.raw(`EXPLAIN (ANALYZE, FORMAT JSON) ${compiled.sql}`, [...compiled.parameters]),
      )
      const nodes = flatten(plan.rows[0]!['QUERY PLAN'][0]!.Plan)
      const onRuns = nodes.filter((node) => node['Relation Name'] === 'runs')
      expect(onRuns.map((node) => node['Node Type'])).not.toContain('Seq Scan')
      expect(nodes.map((node) => node['Node Type'])).not.toContain('Sort')
      const probe = onRuns.find((node) => node.Alias === 'newest')
      expect(probe).toMatchObject({ 'Index Name': 'runs_tenant_subject_idx', 'Scan Direction': 'Backward' })
      // Rows the whole statement read from runs: about two per pipeline, not its 501 runs.
      const rowsRead = onRuns.reduce(
        (sum, node) =>
          sum + node['Actual Rows']! * node['Actual Loops']! + (node['Rows Removed by Filter'] ?? 0),
        0,
      )
      expect(rowsRead).toBeLessThanOrEqual(2 * pipelines.length)
    }
    console.info(
      `[bench] ${dialect}: last runs of 20 pipelines among ${20 * (perPipeline + 1)} runs in ${ms.toFixed(1)} ms`,
    )
  })
})
