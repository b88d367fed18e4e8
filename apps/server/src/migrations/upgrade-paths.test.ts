import { type Kysely, sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { createTestDatabase, dialects, migrateTestDatabase } from '../../test/databases.ts'
import { genesisHash, hashOf, verifyAudit } from '../audit/audit.store.ts'
import { findApiKeyByHash } from '../auth/api-key.store.ts'
import { toBotJson } from '../bots/bot.mapper.ts'
import { listBots } from '../bots/bot.store.ts'
import type { DialectName } from '../platform/db/database.ts'
import { sha256Hex } from '../platform/ids.ts'
import { findRun, listRuns } from '../runs/run.store.ts'
import { migrations } from './index.ts'

// Every upgrade path with data in it: for each earlier schema version (every prefix of the migration
// list) an empty database is migrated to it, filled with the rows that version had — a workspace, an
// API key, a bot, runs in several states, a chained audit trail — written with that version's columns
// (read from the database itself, not from today's types), then migrated to the latest and read back
// with today's code.

const names = Object.keys(migrations)
// Every version but the latest (that one is what every other test uses).
const versions = names.slice(0, -1)

type Columns = Map<string, { required: boolean }>

// biome-ignore lint/suspicious/noExplicitAny: the schema of an earlier version has no types
async function columnsOf(db: Kysely<any>, dialect: DialectName, table: string): Promise<Columns> {
  const columns: Columns = new Map()
  if (dialect === 'sqlite') {
    const rows = await sql<{ name: string; type: string; notnull: number; dflt_value: unknown; pk: number }>`
      SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(${table})`.execute(db)
    for (const row of rows.rows)
      columns.set(row.name, {
        // An INTEGER PRIMARY KEY is the rowid: it numbers itself.
        required: row.notnull === 1 && row.dflt_value === null && !(row.pk === 1 && /int/i.test(row.type)),
      })
  } else {
    const rows = await sql<{ name: string; is_nullable: string; column_default: string | null }>`
      SELECT column_name AS name, is_nullable, column_default FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ${table}`.execute(db)
    for (const row of rows.rows)
      columns.set(row.name, { required: row.is_nullable === 'NO' && row.column_default === null })
  }
  return columns
}

/**
 * Inserts the values the table has at this version; a required column the version has and the row
 * does not name would mean this test no longer knows that version's schema: it fails, naming it.
 */
async function insertRow(
  // biome-ignore lint/suspicious/noExplicitAny: the schema of an earlier version has no types
  db: Kysely<any>,
  dialect: DialectName,
  table: string,
  values: Record<string, unknown>,
): Promise<boolean> {
  const columns = await columnsOf(db, dialect, table)
  if (columns.size === 0) return false
  const row = Object.fromEntries(Object.entries(values).filter(([name]) => columns.has(name)))
  const missing = [...columns].filter(([name, c]) => c.required && !(name in row)).map(([name]) => name)
  if (missing.length > 0) throw new Error(`${table} needs ${missing.join(', ')}: add them to this test`)
  await db.insertInto(table).values(row).execute()
  return true
}

const t0 = Date.UTC(2026, 0, 15, 9, 0, 0)
const plainKey = 'oo_upgrade_path_owner_key_0123456789abcdef'
const tenant = 'acme'
const botId = 'bot_upgrade_0001'
const runs = [
  { id: 'run_upgrade_1', status: 'succeeded', output: '{"text":"quarterly lighthouse report"}' },
  {
    id: 'run_upgrade_2',
    status: 'failed',
    output: null,
    error_code: 'provider_error',
    error_message: 'boom',
  },
  { id: 'run_upgrade_3', status: 'pending', output: null },
  { id: 'run_upgrade_4', status: 'running', output: null },
  { id: 'run_upgrade_5', status: 'cancelled', output: null },
]
const auditEntries = [1, 2, 3].map((n) => ({
  tenant_id: tenant,
  at: t0 + n,
  actor_type: 'api_key',
  actor_id: 'key_upgrade',
  actor_role: 'owner',
  action: n === 1 ? 'bots.created' : 'bots.updated',
  target_type: 'bots',
  target_id: botId,
  ip: '127.0.0.1',
  request_id: `req-${n}`,
  status: 201,
  details: JSON.stringify({ n }),
}))

// biome-ignore lint/suspicious/noExplicitAny: the schema of an earlier version has no types
async function fill(db: Kysely<any>, dialect: DialectName): Promise<Set<string>> {
  const filled = new Set<string>()
  const insert = async (
    _db: typeof db,
    _dialect: DialectName,
    table: string,
    values: Record<string, unknown>,
  ) => {
    if (await insertRow(db, dialect, table, values)) filled.add(table)
  }
  await insert(db, dialect, 'tenants', { tenant_id: tenant, name: 'Acme', created_at: t0 })
  await insert(db, dialect, 'api_keys', {
    id: 'key_upgrade',
    tenant_id: tenant,
    name: 'upgrade key',
    prefix: plainKey.slice(0, 12),
    key_hash: sha256Hex(plainKey),
    role: 'owner',
    created_at: t0,
  })
  await insert(db, dialect, 'bots', {
    id: botId,
    tenant_id: tenant,
    name: 'Lighthouse',
    description: 'Reports on lighthouses',
    prompt: 'Write the lighthouse report.',
    provider: 'openai',
    model: 'gpt-4o-mini',
    schedule: '0 9 * * 1',
    timezone: 'Europe/Berlin',
    enabled: 1,
    max_runtime_seconds: 120,
    max_retries: 2,
    retry_delay_seconds: 30,
    missed_run_policy: 'ignore',
    overlap_policy: 'skip',
    jitter_seconds: 0,
    created_at: t0,
    updated_at: t0,
  })
  for (const [i, run] of runs.entries()) {
    const finished = run.status !== 'pending' && run.status !== 'running'
    await insert(db, dialect, 'runs', {
      id: run.id,
      tenant_id: tenant,
      kind: 'bot',
      bot_id: botId,
      subject_id: botId,
      status: run.status,
      trigger: 'manual',
      input: null,
      output: run.output,
      error_code: run.error_code ?? null,
      error_message: run.error_message ?? null,
      run_at: t0 + i,
      attempt: run.status === 'pending' ? 0 : 1,
      lease_owner: run.status === 'running' ? 'worker-a' : null,
      lease_expires_at: run.status === 'running' ? t0 + 60_000 : null,
      created_at: t0 + i,
      started_at: run.status === 'pending' ? null : t0 + i,
      finished_at: finished ? t0 + i + 1000 : null,
      updated_at: t0 + i,
    })
    // From 0008 on, runs waiting for or holding a worker are in the queue table too.
    if (run.status === 'pending' || run.status === 'running')
      await insert(db, dialect, 'run_queue', {
        id: run.id,
        tenant_id: tenant,
        kind: 'bot',
        priority: 0,
        run_at: t0 + i,
        lease_token: 0,
        lease_expires_at: run.status === 'running' ? t0 + 60_000 : null,
        concurrency_key: `bot:${botId}`,
        concurrency_limit: 1,
      })
  }
  let prev = genesisHash
  for (const entry of auditEntries) {
    const hash = hashOf(entry, prev)
    await insert(db, dialect, 'audit_log', { ...entry, prev_hash: prev, hash })
    prev = hash
  }
  return filled
}

describe.each(dialects)('upgrading from every earlier schema version on %s', (dialect) => {
  it.each(versions)('from %s to the latest, with data', async (version) => {
    const testDb = await createTestDatabase(dialect, { upTo: version })
    const database = await testDb.open()
    try {
      const filled = await fill(database.db, dialect)
      // What this version had: from 0001 workspaces, keys and runs; bots from 0002, the audit trail from 0004.
      expect([...filled].filter((table) => table !== 'run_queue')).toEqual(
        ['tenants', 'api_keys', 'bots', 'runs', 'audit_log'].filter(
          (table) => (table !== 'bots' || version >= '0002') && (table !== 'audit_log' || version >= '0004'),
        ),
      )
      const applied = await migrateTestDatabase(database)
      expect(applied).toEqual(names.slice(names.indexOf(version) + 1))

      const workspace = await database.db
        .selectFrom('tenants')
        .selectAll()
        .where('tenant_id', '=', tenant)
        .executeTakeFirst()
      expect(workspace?.name).toBe('Acme')

      const key = await findApiKeyByHash(database.db, sha256Hex(plainKey))
      expect(key).toMatchObject({ id: 'key_upgrade', tenant_id: tenant, role: 'owner', revoked_at: null })

      const bots = await listBots(database.db, tenant, { limit: 10 })
      expect(bots.map((bot) => bot.id)).toEqual(filled.has('bots') ? [botId] : [])
      if (filled.has('bots'))
        expect(toBotJson(bots[0]!, null, undefined)).toMatchObject({
          id: botId,
          name: 'Lighthouse',
          prompt: 'Write the lighthouse report.',
          provider: 'openai',
          model: 'gpt-4o-mini',
          schedule: '0 9 * * 1',
          timezone: 'Europe/Berlin',
          enabled: true,
          missedRunPolicy: 'ignore',
          overlapPolicy: 'skip',
        })

      for (const run of runs) {
        const row = await findRun(database.db, tenant, run.id)
        expect(row, run.id).toMatchObject({ id: run.id, status: run.status, output: run.output })
      }
      const listed = await listRuns(database, tenant, { limit: 50 })
      expect(listed.map((run) => run.id).sort()).toEqual(runs.map((run) => run.id))
      const pending = await listRuns(database, tenant, { status: 'pending', limit: 50 })
      expect(pending.map((run) => run.id)).toEqual(['run_upgrade_3'])
      // PostgreSQL: waiting and leased runs are in the queue the workers claim from (0008), whichever
      // version queued them.
      if (dialect === 'postgres') {
        const queued = await sql<{ id: string }>`SELECT id FROM run_queue ORDER BY id`.execute(database.db)
        expect(queued.rows.map((row) => row.id)).toEqual(['run_upgrade_3', 'run_upgrade_4'])
      }
      // The full-text index knows the output written before it (or under an older index) existed.
      const found = await listRuns(database, tenant, { q: 'lighthouse', limit: 50 })
      expect(found.map((run) => run.id)).toEqual(['run_upgrade_1'])

      const audit = await verifyAudit(database)
      expect(audit).toMatchObject({ ok: true })
      const entries = await database.db
        .selectFrom('audit_log')
        .select(['action', 'request_id'])
        .where('tenant_id', '=', tenant)
        .orderBy('id')
        .execute()
      expect(entries.map((entry) => entry.request_id)).toEqual(
        filled.has('audit_log') ? ['req-1', 'req-2', 'req-3'] : [],
      )
    } finally {
      await database.close()
      await testDb.cleanup()
    }
  }, 60_000)
})
