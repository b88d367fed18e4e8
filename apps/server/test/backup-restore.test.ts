import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { appendAudit, systemEntry, verifyAudit } from '../src/audit/audit.store.ts'
import { restoreSqlite } from '../src/cli/restore.cli.ts'
import { checkSqliteFile, OperationRefused } from '../src/cli/sqlite-file.ts'
import type { Tables } from '../src/database.ts'
import { migrations } from '../src/migrations/index.ts'
import { createVault } from '../src/platform/crypto.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { migrateToLatest } from '../src/platform/db/migrator.ts'
import { insertProviderRow } from './app-harness.ts'
import { cli, runCli } from './cli-process.ts'
import { dialects } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { startProviderServer } from './provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// Issue 16: `openorch backup` of a running SQLite installation while bots run, `openorch restore` into
// a fresh data directory and a fresh process; and everything restore refuses or warns about.

const ownerKey = 'backup-restore-owner-key-12345678'
const providerKey = 'sk-backup-0123456789abcdef'
const masterKey = 'backup-restore-master-key-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-backup-'))
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

// biome-ignore lint/suspicious/noExplicitAny: rows read straight from the backup file
type Row = any

function readFile(file: string) {
  const sqlite = new SqliteDatabase(file, { readonly: true, fileMustExist: true })
  try {
    return {
      runs: sqlite.prepare('SELECT id, status, output FROM runs ORDER BY id').all() as Row[],
      bots: sqlite.prepare('SELECT id, name FROM bots ORDER BY id').all() as Row[],
      audit: sqlite.prepare('SELECT id, hash FROM audit_log ORDER BY id').all() as Row[],
      secrets: sqlite.prepare('SELECT api_key_encrypted FROM providers').pluck().all() as string[],
    }
  } finally {
    sqlite.close()
  }
}

describe('openorch backup and restore (SQLite)', () => {
  it('backs up a server running bots, restores into a fresh data dir: every run, bot, secret and audit entry intact, the chain verifies, the provider key still works', async () => {
    const model = await startProviderServer('openai', { apiKey: providerKey, models: ['gpt-4o-mini'] })
    cleanups.push(() => model.close())
    const env = {
      ...(await serverDatabaseEnv('sqlite', cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      OPENORCH_MASTER_KEY: masterKey,
      OPENORCH_CONCURRENCY: '4',
    }
    const first = startServerProcess(env, ownerKey, cleanups)
    const call = first.api(await first.url())
    const configured = await call('PUT', '/providers/openai', {
      apiKey: providerKey,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.status, JSON.stringify(configured.json)).toBe(200)
    // biome-ignore lint/suspicious/noThenProperty: `then` is the stand-in's next behaviour, not a thenable
    model.setBehaviour({ type: 'slow', delayMs: 40, then: { type: 'success', text: 'Found three offers.' } })
    const botIds: string[] = []
    for (const name of ['Scout', 'Writer']) {
      const bot = await call('POST', '/bots', {
        name,
        prompt: `${name}, work.`,
        provider: 'openai',
        overlapPolicy: 'allow_all',
      })
      expect(bot.status, JSON.stringify(bot.json)).toBe(201)
      botIds.push(bot.json.id)
    }
    // Load: runs start and finish while the backup copies (each write a transaction of the server's).
    const runIds: string[] = []
    let loading = true
    const load = (async () => {
      while (loading) {
        const started = await call('POST', `/bots/${botIds[runIds.length % 2]}/runs`, {
          input: `Topic ${runIds.length}`,
        })
        expect(started.status, JSON.stringify(started.json)).toBe(202)
        runIds.push(started.json.id)
        await new Promise((resolve) => setTimeout(resolve, 30))
      }
    })()
    await waitFor(() => runIds.length >= 20, { what: '20 runs started', timeoutMs: 60_000 })

    const file = path.join(tempDir(), 'openorch-backup.db')
    const backup = await cli(['backup', file], env)
    loading = false
    await load
    expect(backup.code, backup.err).toBe(0)
    expect(backup.out).toContain('integrity check: ok')
    expect(backup.out).toMatch(/audit chain: intact \(\d+ entries\)/)
    expect(backup.out).toContain('secrets: 1 stored, 1 readable with the master key from OPENORCH_MASTER_KEY')
    expect(backup.out).toContain('The master key is NOT in the backup')
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(path.dirname(file))).toEqual(['openorch-backup.db'])
    const saved = readFile(file)
    expect(saved.runs.length).toBeGreaterThanOrEqual(20)
    expect(saved.bots.map((b: Row) => b.name).sort()).toEqual(['Scout', 'Writer'])
    expect(saved.secrets).toHaveLength(1)

    first.child.kill('SIGTERM')
    await first.exited

    // A fresh data dir and a fresh process, the same master key.
    const freshDir = tempDir()
    const freshEnv = { ...env, OPENORCH_DATA_DIR: freshDir }
    const restored = await cli(['restore', file], freshEnv)
    expect(restored.code, restored.err).toBe(0)
    expect(restored.out).toContain('secrets: 1 stored, 1 readable')
    expect(restored.err).not.toContain('WARNING')

    const second = startServerProcess(freshEnv, ownerKey, cleanups)
    const again = second.api(await second.url())
    // While it runs, a restore into its data dir is refused.
    const refused = await cli(['restore', file], freshEnv)
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('is in use')

    for (const bot of saved.bots) expect((await again('GET', `/bots/${bot.id}`)).json.name).toBe(bot.name)
    for (const run of saved.runs) {
      const got = await again('GET', `/runs/${run.id}`)
      expect(got.status).toBe(200)
      if (run.status === 'completed') expect(got.json.status).toBe('completed')
    }
    // Runs that were queued or running at the backup's instant finish on the restored installation,
    // and the stored provider key works: a new run is answered by the stand-in.
    const fresh = await again('POST', `/bots/${botIds[0]}/runs`, { input: 'after the restore' })
    expect(fresh.status).toBe(202)
    const ended = await waitFor(
      async () => {
        const runs = await Promise.all(
          [...saved.runs.map((r: Row) => r.id), fresh.json.id].map(
            async (id) => (await again('GET', `/runs/${id}`)).json,
          ),
        )
        return runs.every((r) => ['completed', 'failed', 'cancelled', 'timeout'].includes(r.status))
          ? runs
          : undefined
      },
      { what: 'every run to end', timeoutMs: 90_000, intervalMs: 250 },
    )
    expect(ended.map((r) => r.status)).toEqual(ended.map(() => 'completed'))
    expect(ended.at(-1)).toMatchObject({ output: { text: 'Found three offers.' } })

    second.child.kill('SIGTERM')
    await second.exited
    const database = await openDatabase<Tables>({ sqlitePath: path.join(freshDir, 'openorch.db') })
    try {
      const verified = await verifyAudit(database)
      expect(verified.ok).toBe(true)
      // Every audit entry of the backup is there unchanged; the restored process appended after them.
      const entries = await database.db.selectFrom('audit_log').select(['id', 'hash']).orderBy('id').execute()
      expect(entries.slice(0, saved.audit.length).map((e) => [Number(e.id), e.hash])).toEqual(
        saved.audit.map((e: Row) => [e.id, e.hash]),
      )
    } finally {
      await database.close()
    }
  }, 300_000)

  it('refuses a file that is not a database, not ours, damaged, from a newer version, with a broken audit chain or a schema changed outside openOrchestrator (a trigger, view or table added, a trigger replaced), leaving the installation untouched; warns when the secrets do not decrypt', async () => {
    // An installation with a stored secret and audit entries, backed up by the command.
    const source = tempDir()
    const vault = createVault({ masterKey, dataDir: source })
    const database = await openDatabase<Tables>({ sqlitePath: path.join(source, 'openorch.db') })
    await migrateToLatest(database.db, 'sqlite', migrations)
    await insertProviderRow(database, 'openai', { apiKeyEncrypted: vault.encrypt(providerKey) })
    for (let i = 0; i < 5; i++)
      await appendAudit(database, [
        systemEntry({ tenantId: 'default', at: Date.now(), actorId: 'test', action: `test.${i}` }),
      ])
    await database.close()
    const backups = tempDir()
    const good = path.join(backups, 'good.db')
    const made = await cli(['backup', good], {
      OPENORCH_DATA_DIR: source,
      OPENORCH_MASTER_KEY: masterKey,
      DATABASE_URL: '',
    })
    expect(made.code, made.err).toBe(0)
    const variant = (name: string, change: (sqlite: SqliteDatabase.Database) => void) => {
      const file = path.join(backups, name)
      fs.copyFileSync(good, file)
      const sqlite = new SqliteDatabase(file)
      change(sqlite)
      sqlite.close()
      return file
    }
    const restoreInto = (file: string, env: Record<string, string> = {}) =>
      cli(['restore', file], {
        OPENORCH_DATA_DIR: tempDir(),
        DATABASE_URL: '',
        OPENORCH_MASTER_KEY: masterKey,
        ...env,
      })

    const garbage = path.join(backups, 'garbage.db')
    fs.writeFileSync(garbage, Buffer.alloc(8192, 7))
    const notOurs = path.join(backups, 'other.db')
    new SqliteDatabase(notOurs).exec('CREATE TABLE notes (body text)')
    const damaged = path.join(backups, 'damaged.db')
    const bytes = fs.readFileSync(good)
    // Page 3 onwards overwritten: the b-trees there point into nonsense.
    bytes.fill(0xa5, 2 * 4096, 5 * 4096)
    fs.writeFileSync(damaged, bytes)
    const newer = variant('newer.db', (s) =>
      s
        .prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)')
        .run('9999-from-the-future', new Date().toISOString()),
    )
    const tampered = variant('tampered.db', (s) =>
      s.prepare(`UPDATE audit_log SET action = 'nothing.happened' WHERE id = 3`).run(),
    )

    // Schema objects added or replaced outside openOrchestrator: a trigger runs inside the server that
    // opens the file (this one copies every new API key's hash out).
    const withTrigger = variant('with-trigger.db', (s) =>
      s.exec(`CREATE TABLE evil_log (entry text);
        CREATE TRIGGER evil AFTER INSERT ON api_keys BEGIN INSERT INTO evil_log VALUES (NEW.id || ':' || NEW.key_hash); END;`),
    )
    const withView = variant('with-view.db', (s) =>
      s.exec('CREATE VIEW key_hashes AS SELECT id, key_hash FROM api_keys'),
    )
    const withTable = variant('with-table.db', (s) => s.exec('CREATE TABLE notes (body text)'))
    const changedTrigger = variant('changed-trigger.db', (s) =>
      s.exec(`DROP TRIGGER runs_search_delete;
        CREATE TRIGGER runs_search_delete AFTER DELETE ON runs BEGIN SELECT 1; END;`),
    )
    const changedOutside = /The file was changed outside openOrchestrator and will not be restored/
    const foreign: Array<[string, RegExp]> = [
      [
        withTrigger,
        /with-trigger\.db holds a schema its migrations \(up to [^)]+\) do not make — not created by its migrations: table evil_log, trigger evil\./,
      ],
      [withView, /with-view\.db .* not created by its migrations: view key_hashes\./],
      [withTable, /with-table\.db .* not created by its migrations: table notes\./],
      [
        changedTrigger,
        /changed-trigger\.db .* changed from what its migrations create: trigger runs_search_delete\./,
      ],
    ]

    const cases: Array<[string, RegExp]> = [
      ...foreign.flatMap(
        ([file, names]): Array<[string, RegExp]> => [
          [file, names],
          [file, changedOutside],
        ],
      ),
      [garbage, /is not a readable SQLite database/],
      [notOurs, /not one of openOrchestrator's/],
      [damaged, /damaged|integrity check|not a readable SQLite database/],
      [
        newer,
        /newer\.db: this database was used by a newer openOrchestrator: its schema has migration 9999-from-the-future that this version does not know\. Nothing was changed\./,
      ],
      [tampered, /audit trail .* is broken at entry 3/],
    ]
    // Checked in this process (the command's words are the same OperationRefused messages).
    for (const [file, message] of cases) {
      const target = tempDir()
      const answer = restoreSqlite({ backup: file, target: path.join(target, 'openorch.db'), key: undefined })
      await expect(answer, path.basename(file)).rejects.toThrow(message)
      await expect(answer).rejects.toBeInstanceOf(OperationRefused)
      // Nothing was put in place, and no temporary copy is left.
      expect(fs.readdirSync(target)).toEqual([])
    }

    // The commands refuse a newer build's database in the words `openorch start` uses.
    const newerRestore = await restoreInto(newer)
    expect(newerRestore.code).toBe(1)
    expect(newerRestore.err).toContain(
      `${newer}: this database was used by a newer openOrchestrator: its schema has migration 9999-from-the-future that this version does not know.`,
    )
    const newerSource = tempDir()
    fs.copyFileSync(newer, path.join(newerSource, 'openorch.db'))
    const copy = path.join(backups, 'of-newer.db')
    const refusedBackup = await cli(['backup', copy], {
      OPENORCH_DATA_DIR: newerSource,
      OPENORCH_MASTER_KEY: masterKey,
      DATABASE_URL: '',
    })
    expect(refusedBackup.code).toBe(1)
    expect(refusedBackup.err).toContain(
      `${path.join(newerSource, 'openorch.db')}: this database was used by a newer openOrchestrator: its schema has migration 9999-from-the-future that this version does not know. Nothing was changed.`,
    )
    expect(fs.readdirSync(backups).filter((name) => name.startsWith('of-newer'))).toEqual([])

    // Another master key: restored, with a clear warning naming the secret.
    const wrongKey = await restoreInto(good, { OPENORCH_MASTER_KEY: 'another-master-key-0123456789abcdefgh' })
    expect(wrongKey.code, wrongKey.err).toBe(0)
    expect(wrongKey.err).toMatch(
      /WARNING: 1 of 1 secret\(s\) in the backup cannot be read.*providers\.api_key_encrypted/s,
    )
    // No master key at all in a fresh data dir: the warning says what to bring before the first start.
    const noKey = await restoreInto(good, { OPENORCH_MASTER_KEY: '' })
    expect(noKey.code, noKey.err).toBe(0)
    expect(noKey.err).toMatch(
      /WARNING: the backup holds 1 secret\(s\), and this installation has no master key yet/,
    )

    // Over an existing database: the old one is kept beside it, no stale WAL is left.
    const target = tempDir()
    const first = await restoreInto(good, { OPENORCH_DATA_DIR: target })
    expect(first.code, first.err).toBe(0)
    // A changed file is refused by the command too, and the installation it was to replace is untouched.
    const before = fs.readFileSync(path.join(target, 'openorch.db'))
    for (const [file, names] of foreign) {
      const refused = await restoreInto(file, { OPENORCH_DATA_DIR: target })
      expect(refused.code, path.basename(file)).toBe(1)
      expect(refused.err).toMatch(names)
      expect(refused.err).toMatch(changedOutside)
      expect(fs.readdirSync(target)).toEqual(['openorch.db'])
      expect(fs.readFileSync(path.join(target, 'openorch.db')).equals(before)).toBe(true)
    }
    const second = await restoreInto(good, { OPENORCH_DATA_DIR: target })
    expect(second.code, second.err).toBe(0)
    const files = fs.readdirSync(target).sort()
    expect(files).toHaveLength(2)
    expect(files[0]).toBe('openorch.db')
    expect(files[1]).toMatch(/^openorch\.db\.before-restore-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/)
  }, 300_000)
})

describe('the schema check of a database file', () => {
  it('passes every earlier schema version and every upgrade of one to the latest, and a backup is refused when the live database has a foreign trigger', async () => {
    const names = Object.keys(migrations)
    const dir = tempDir()
    for (let version = 1; version <= names.length; version++) {
      const file = path.join(dir, `version-${version}.db`)
      const earlier = await openDatabase<Tables>({ sqlitePath: file })
      await migrateToLatest(
        earlier.db,
        'sqlite',
        Object.fromEntries(names.slice(0, version).map((name) => [name, migrations[name]!])),
      )
      await earlier.close()
      const check = await checkSqliteFile(file, undefined)
      expect(check.applied).toEqual(names.slice(0, version))
      const upgraded = await openDatabase<Tables>({ sqlitePath: file })
      await migrateToLatest(upgraded.db, 'sqlite', migrations)
      await upgraded.close()
      expect((await checkSqliteFile(file, undefined)).pending).toEqual([])
    }

    // The live database itself was changed: no backup is made of it.
    const source = tempDir()
    const database = await openDatabase<Tables>({ sqlitePath: path.join(source, 'openorch.db') })
    await migrateToLatest(database.db, 'sqlite', migrations)
    database.sqlite!.exec(`CREATE TABLE evil_log (entry text);
      CREATE TRIGGER evil AFTER INSERT ON api_keys BEGIN INSERT INTO evil_log VALUES (NEW.id || ':' || NEW.key_hash); END;`)
    await database.close()
    const backups = tempDir()
    const refused = await cli(['backup', path.join(backups, 'backup.db')], {
      OPENORCH_DATA_DIR: source,
      OPENORCH_MASTER_KEY: masterKey,
      DATABASE_URL: '',
    })
    expect(refused.code).toBe(1)
    expect(refused.err).toContain(
      `${path.join(source, 'openorch.db')} holds a schema its migrations (up to ${names.at(-1)}) do not make — not created by its migrations: table evil_log, trigger evil.`,
    )
    expect(refused.err).toContain('The database was changed outside openOrchestrator: no backup was made.')
    expect(fs.readdirSync(backups)).toEqual([])
  }, 120_000)
})

describe.skipIf(!dialects.includes('postgres'))('openorch backup and restore on PostgreSQL', () => {
  it('explains the pg_dump and pg_restore recipe instead of pretending to back up', async () => {
    const env = await serverDatabaseEnv('postgres', cleanups)
    const backup = await cli(['backup', path.join(tempDir(), 'x.db')], env)
    expect(backup.code).toBe(1)
    expect(backup.err).toContain('pg_dump --format=custom')
    const restore = runCli(['restore', 'x.dump'], env)
    expect(await restore.exited).toBe(1)
    expect(restore.err()).toContain('pg_restore --no-owner')
  }, 120_000)
})
