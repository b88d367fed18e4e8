import { randomBytes } from 'node:crypto'
import path from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { appendAudit, systemEntry, verifyAudit } from '../src/audit/audit.store.ts'
import type { Tables } from '../src/database.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { newId } from '../src/platform/ids.ts'
import { cli, runCli } from './cli-process.ts'
import { dialects, postgresUrl } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { startProviderServer } from './provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// Issue 16: `openorch migrate-to-postgres` of a seeded SQLite installation (bots, runs, a pipeline
// waiting for approval, a channel, secrets, the audit trail), killed with SIGKILL in the middle of
// copying `runs` and run again: it resumes, ends verified, and a server on PostgreSQL serves the data.

const ownerKey = 'migrate-owner-key-1234567890abcd'
const providerKey = 'sk-migrate-0123456789abcdef'
const masterKey = 'migrate-master-key-0123456789abcdefghij'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

/** A fresh PostgreSQL database on the local server, dropped after the test. */
async function freshPostgresDatabase(): Promise<string> {
  const name = `openorch_mig_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  cleanups.push(async () => {
    const drop = new pg.Client({ connectionString: postgresUrl })
    await drop.connect()
    await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await drop.end()
  })
  const url = new URL(postgresUrl)
  url.pathname = `/${name}`
  return url.toString()
}

const bulkRuns = 3000

describe.skipIf(!dialects.includes('postgres'))('openorch migrate-to-postgres', () => {
  it('copies a seeded installation, is killed while copying runs, resumes to a verified end, and a server on PostgreSQL serves the data', async () => {
    const model = await startProviderServer('openai', { apiKey: providerKey, models: ['gpt-4o-mini'] })
    cleanups.push(() => model.close())
    const env: Record<string, string> = {
      ...(await serverDatabaseEnv('sqlite', cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      OPENORCH_MASTER_KEY: masterKey,
    }
    // Seeded through the API of a real server on SQLite.
    const first = startServerProcess(env, ownerKey, cleanups)
    const call = first.api(await first.url())
    expect(
      (
        await call('PUT', '/providers/openai', {
          apiKey: providerKey,
          baseUrl: model.baseUrl,
          defaultModel: 'gpt-4o-mini',
        })
      ).status,
    ).toBe(200)
    model.setBehaviour({ type: 'success', text: 'The xylophone shop has two offers.' })
    const scout = (
      await call('POST', '/bots', { name: 'Scout', prompt: 'Scout the shops.', provider: 'openai' })
    ).json
    const checker = (
      await call('POST', '/bots', { name: 'Checker', prompt: 'Check it.', provider: 'openai' })
    ).json
    expect(scout.id && checker.id).toBeTruthy()
    // Runs with memory: each run of the bot sees the last one's output.
    const runIds: string[] = []
    for (let i = 0; i < 3; i++) {
      const started = await call('POST', `/bots/${scout.id}/runs`, { input: `Round ${i}` })
      expect(started.status, JSON.stringify(started.json)).toBe(202)
      runIds.push(started.json.id)
      await waitFor(async () => (await call('GET', `/runs/${started.json.id}`)).json.status === 'completed', {
        what: `run ${i}`,
        timeoutMs: 60_000,
      })
    }
    const channel = await call('POST', '/channels', {
      type: 'webhook',
      name: 'Hook',
      config: { url: 'http://127.0.0.1:9/hook' },
    })
    expect(channel.status, JSON.stringify(channel.json)).toBe(201)
    const pipeline = await call('POST', '/pipelines', {
      name: 'Checked offers',
      steps: [
        { key: 'scout', bot: scout.id },
        { key: 'check', bot: checker.id, dependsOn: ['scout'], approval: { required: true } },
      ],
    })
    expect(pipeline.status, JSON.stringify(pipeline.json)).toBe(201)
    const pipelineRun = await call('POST', `/pipelines/${pipeline.json.id}/runs`, { input: 'Go' })
    expect(pipelineRun.status, JSON.stringify(pipelineRun.json)).toBe(202)
    const approval = await waitFor(
      async () => (await call('GET', '/approvals?status=pending')).json.items?.[0],
      { what: 'the pipeline step waiting for approval', timeoutMs: 60_000 },
    )
    first.child.kill('SIGTERM')
    await first.exited

    // Bulk, so the copy of `runs` takes many batches: finished runs and more audit entries.
    const sqlitePath = path.join(env.OPENORCH_DATA_DIR!, 'openorch.db')
    const sqlite = new SqliteDatabase(sqlitePath)
    const template = sqlite.prepare('SELECT * FROM runs WHERE id = ?').get(runIds[0]) as Record<
      string,
      unknown
    >
    const columns = Object.keys(template)
    const insert = sqlite.prepare(
      `INSERT INTO runs (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    )
    sqlite.transaction(() => {
      for (let i = 0; i < bulkRuns; i++)
        insert.run({
          ...template,
          id: newId(),
          idempotency_key: null,
          correlation_key: null,
          // Fractions, accents and a NUL-free JSON output; every 10th mentions the marimba.
          output: JSON.stringify({ text: i % 10 === 0 ? `Über marimba ${i}` : `Report ${i}` }),
          cost_usd: 0.000123 * i,
          created_at: Number(template.created_at) + i,
        })
    })()
    sqlite.close()
    const database = await openDatabase<Tables>({ sqlitePath })
    await appendAudit(
      database,
      Array.from({ length: 300 }, (_, i) =>
        systemEntry({
          tenantId: 'default',
          at: Date.now(),
          actorId: 'seed',
          action: 'test.bulk',
          details: { i },
        }),
      ),
    )
    await database.close()

    const url = await freshPostgresDatabase()
    const migrateEnv = { ...env, DATABASE_URL: '' }
    // Small batches with a pause: killed once the copy of `runs` reports progress.
    const interrupted = runCli(
      ['migrate-to-postgres', url, '--batch-rows', '50', '--pause-ms', '20'],
      migrateEnv,
    )
    await waitFor(() => /^ {2}runs: [\d,]+ of [\d,]+ rows/m.test(interrupted.out()), {
      what: 'the copy of runs to report progress',
      timeoutMs: 120_000,
      intervalMs: 10,
    })
    interrupted.child.kill('SIGKILL')
    await interrupted.exited
    const target = new pg.Client({ connectionString: url })
    await target.connect()
    cleanups.push(() => target.end())
    const halfway = (
      await target.query<{ copied: string; done: boolean }>(
        `SELECT copied, done FROM openorch_migration_progress WHERE table_name = 'runs'`,
      )
    ).rows[0]
    expect(halfway?.done).toBe(false)
    expect(Number(halfway?.copied)).toBeGreaterThan(0)
    expect(Number(halfway?.copied)).toBeLessThan(bulkRuns)

    const resumed = await cli(['migrate-to-postgres', url], migrateEnv)
    expect(resumed.code, `${resumed.out}\n${resumed.err}`).toBe(0)
    expect(resumed.out).toContain('Resuming the interrupted move')
    expect(resumed.out).toContain('row counts and SHA-256 checksums of every table match')
    expect(resumed.out).toMatch(/secrets: [1-9]\d* copied as ciphertext, (\d+) readable/)
    const [, copiedSecrets, readable] = /secrets: (\d+) copied as ciphertext, (\d+) readable/.exec(
      resumed.out,
    )!
    expect(readable).toBe(copiedSecrets)
    console.log(resumed.out)

    // Independently of the command's own verification: counts, the chain, the queue and the index.
    const sqliteAgain = new SqliteDatabase(sqlitePath, { readonly: true })
    for (const table of [
      'runs',
      'bots',
      'audit_log',
      'pipelines',
      'pipeline_runs',
      'approvals',
      'channels',
      'providers',
      'run_events',
    ])
      expect(Number((await target.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n), table).toBe(
        Number(sqliteAgain.prepare(`SELECT count(*) FROM ${table}`).pluck().get()),
      )
    const waitingOnSqlite = Number(
      sqliteAgain.prepare(`SELECT count(*) FROM runs WHERE status IN ('pending', 'running')`).pluck().get(),
    )
    sqliteAgain.close()
    expect(Number((await target.query('SELECT count(*) AS n FROM run_queue')).rows[0].n)).toBe(
      waitingOnSqlite,
    )
    expect(
      (await target.query(`SELECT to_regclass('openorch_migration_progress') AS t`)).rows[0].t,
      'the progress table is gone after verification',
    ).toBeNull()
    const onPostgres = await openDatabase<Tables>({ url })
    try {
      expect((await verifyAudit(onPostgres)).ok).toBe(true)
    } finally {
      await onPostgres.close()
    }

    // A second move into the same (now full) database is refused.
    const again = await cli(['migrate-to-postgres', url], migrateEnv)
    expect(again.code).toBe(1)
    expect(again.err).toContain('is not empty')

    // A server on PostgreSQL with the same master key serves what was copied.
    const server = startServerProcess({ ...env, DATABASE_URL: url }, ownerKey, cleanups)
    const onPg = server.api(await server.url())
    expect((await onPg('GET', `/bots/${scout.id}`)).json).toMatchObject({ name: 'Scout' })
    const copiedRun = (await onPg('GET', `/runs/${runIds[2]}`)).json
    expect(copiedRun, JSON.stringify(copiedRun)).toMatchObject({
      status: 'completed',
      output: { text: 'The xylophone shop has two offers.' },
    })
    const found = await onPg('GET', '/runs?q=uber%20marimba&limit=200')
    expect(found.status, JSON.stringify(found.json)).toBe(200)
    expect(found.json.items).toHaveLength(bulkRuns / 10 > 200 ? 200 : bulkRuns / 10)
    expect((await onPg('GET', '/runs?q=xylophone')).json.items.length).toBeGreaterThanOrEqual(3)
    expect((await onPg('GET', `/approvals/${approval.id}`)).json).toMatchObject({ status: 'pending' })
    // The provider key (copied as ciphertext) decrypts: a new run is answered by the stand-in.
    model.setBehaviour({ type: 'success', text: 'Answered from PostgreSQL.' })
    const fresh = await onPg('POST', `/bots/${scout.id}/runs`, { input: 'after the move' })
    expect(fresh.status, JSON.stringify(fresh.json)).toBe(202)
    const done = await waitFor(
      async () => {
        const run = (await onPg('GET', `/runs/${fresh.json.id}`)).json
        return ['completed', 'failed'].includes(run.status) ? run : undefined
      },
      { what: 'the run on PostgreSQL', timeoutMs: 60_000 },
    )
    expect(done, JSON.stringify(done)).toMatchObject({
      status: 'completed',
      output: { text: 'Answered from PostgreSQL.' },
    })
    // Approving the copied approval lets the pipeline finish on PostgreSQL.
    expect((await onPg('POST', `/approvals/${approval.id}/approve`, {})).status).toBe(200)
    await waitFor(
      async () => (await onPg('GET', `/runs/${pipelineRun.json.id}`)).json.status === 'completed',
      {
        what: 'the pipeline to complete after the approval',
        timeoutMs: 60_000,
      },
    )
  }, 600_000)

  it('refuses a non-empty target and a running source', async () => {
    const env: Record<string, string> = {
      ...(await serverDatabaseEnv('sqlite', cleanups)),
      OPENORCH_MASTER_KEY: masterKey,
    }
    const server = startServerProcess(env, ownerKey, cleanups)
    await server.url()
    const url = await freshPostgresDatabase()
    const running = await cli(['migrate-to-postgres', url], env)
    expect(running.code).toBe(1)
    expect(running.err).toContain('is in use')
    server.child.kill('SIGTERM')
    await server.exited

    // A SQLite database a newer build migrated: refused in the words `openorch start` uses, nothing copied.
    const sqlitePath = path.join(env.OPENORCH_DATA_DIR!, 'openorch.db')
    const sqlite = new SqliteDatabase(sqlitePath)
    sqlite
      .prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)')
      .run('9999-from-the-future', new Date().toISOString())
    sqlite.close()
    const newer = await cli(['migrate-to-postgres', url], env)
    expect(newer.code).toBe(1)
    expect(newer.err).toContain(
      `${sqlitePath}: this database was used by a newer openOrchestrator: its schema has migration 9999-from-the-future that this version does not know. Nothing was changed.`,
    )
    const untouched = new pg.Client({ connectionString: url })
    await untouched.connect()
    const tables = await untouched.query(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema()`,
    )
    await untouched.end()
    expect(tables.rows[0].n).toBe(0)
    const restored = new SqliteDatabase(sqlitePath)
    restored.prepare('DELETE FROM kysely_migration WHERE name = ?').run('9999-from-the-future')
    restored.close()

    // The URL's TLS parameters are read as DATABASE_URL's are (postgresConnectionString).
    const noCa = await cli(['migrate-to-postgres', `${url}?sslmode=verify-ca`], env)
    expect(noCa.code).toBe(1)
    expect(noCa.err).toContain('The PostgreSQL URL has sslmode=verify-ca without sslrootcert')

    const target = new pg.Client({ connectionString: url })
    await target.connect()
    await target.query('CREATE TABLE customers (id int)')
    await target.end()
    // sslmode=disable (what libpq reads as no TLS) connects as without it.
    const full = await cli(['migrate-to-postgres', `${url}?sslmode=disable`], env)
    expect(full.code).toBe(1)
    expect(full.err).toMatch(/not empty \(customers\)/)
  }, 300_000)
})
