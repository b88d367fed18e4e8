import fs from 'node:fs'
import path from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { type VerifyResult, verifyAudit } from '../audit/audit.store.ts'
import type { Db, Tables } from '../database.ts'
import { migrations } from '../migrations/index.ts'
import { createVault, masterKeyFileName, type Vault } from '../platform/crypto.ts'
import { openDatabase } from '../platform/db/database.ts'
import { migrateToLatest, NewerSchemaError, refuseNewerSchema } from '../platform/db/migrator.ts'
import { toError } from '../platform/errors.ts'

// What `openorch backup`, `restore` and `migrate-to-postgres` share about an SQLite installation: who
// has it open (a running server), what a database file holds (the checks printed after a backup and
// made before a restore), and which master key the secrets need (decision 0037).

/** Thrown with words for the operator: the command prints the message and exits 1. */
export class OperationRefused extends Error {}

/**
 * Takes SQLite's exclusive lock on `file`: every connection of a running server (or of another
 * command) holds a shared lock on a WAL database for as long as it is open, so this fails at once
 * while one is, and the operating system drops those locks when a process dies (also after kill -9:
 * no stale pid file to clean up). The returned connection keeps the lock until it is closed, so no
 * server can start on the file meanwhile. Undefined when there is no file.
 */
export function lockSqliteFile(file: string): SqliteDatabase.Database | undefined {
  if (!fs.existsSync(file)) return undefined
  const sqlite = new SqliteDatabase(file, { fileMustExist: true })
  try {
    sqlite.pragma('busy_timeout = 0')
    sqlite.pragma('locking_mode = EXCLUSIVE')
    sqlite.exec('BEGIN EXCLUSIVE')
    sqlite.exec('COMMIT')
    return sqlite
  } catch (error) {
    sqlite.close()
    const code = (error as { code?: string }).code
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
      throw new OperationRefused(
        `${file} is in use: an orchestrator (or another openorch command) has it open. Stop it first (SIGTERM; the process ends after its running runs), then run this again.`,
      )
    if (code === 'SQLITE_NOTADB') throw new OperationRefused(`${file} is not an SQLite database.`)
    throw error
  }
}

/**
 * Refuses a database a newer build has migrated, in the words `openorch start` and `migrate` use
 * (the migrator's NewerSchemaError), naming `label`. Reads through the caller's connection, which
 * stays open (it may hold the file's lock).
 */
export async function refuseNewerSqlite(sqlite: SqliteDatabase.Database, label: string): Promise<void> {
  // Never destroyed: that would close the caller's connection; Kysely holds nothing else.
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) })
  try {
    await refuseNewerSchema(db, 'sqlite', migrations)
  } catch (error) {
    if (error instanceof NewerSchemaError) throw new OperationRefused(`${label}: ${error.message}`)
    throw error
  }
}

/** A plain connection to a database file wrapped as `Db`, without the server's pragmas (no WAL switch). */
export function openSqliteFile(file: string, options: { readonly?: boolean } = {}): Db {
  const sqlite = new SqliteDatabase(file, { fileMustExist: true, readonly: options.readonly ?? false })
  sqlite.pragma('busy_timeout = 5000')
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) })
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    pool: undefined,
    pgClientConfig: undefined,
    schema: undefined,
    withSqlite: async (fn) => fn(sqlite),
    close: () => db.destroy(),
  }
}

export interface MasterKey {
  vault: Vault
  /** Where it came from, for the operator. */
  source: string
}

/**
 * The master key this installation's secrets need, without generating one (the server does that on
 * its first start): OPENORCH_MASTER_KEY, else `<dataDir>/master.key`. Undefined when neither exists.
 */
export function findMasterKey(config: {
  masterKey: string | undefined
  dataDir: string
  extraMasterKeys?: readonly string[]
}): MasterKey | undefined {
  const extraKeys = config.extraMasterKeys ?? []
  if (config.masterKey)
    return {
      vault: createVault({ masterKey: config.masterKey, dataDir: config.dataDir, extraKeys }),
      source: 'OPENORCH_MASTER_KEY',
    }
  const file = path.join(config.dataDir, masterKeyFileName)
  if (!fs.existsSync(file)) return undefined
  return {
    vault: createVault({
      masterKey: fs.readFileSync(file, 'utf8').trim(),
      dataDir: config.dataDir,
      extraKeys,
    }),
    source: file,
  }
}

/** Where the master key of an installation lives, in words (it is never part of a backup). */
export function masterKeyReminder(config: { masterKey: string | undefined; dataDir: string }): string {
  const where = config.masterKey
    ? 'OPENORCH_MASTER_KEY (an environment variable of this installation)'
    : path.join(config.dataDir, masterKeyFileName)
  return (
    `The master key is NOT in the backup. Stored secrets (provider keys, channel and tool credentials) can only be\n` +
    `read with the key they were saved with: keep a copy of ${where}\n` +
    `apart from the backup, and give it to the installation you restore into.`
  )
}

export interface SecretCheck {
  total: number
  readable: number
  /** `table.column` and why, for the first few that did not decrypt. */
  unreadable: Array<{ where: string; error: string }>
  /** Undefined when no master key was found to try. */
  keySource: string | undefined
}

export interface FileCheck {
  integrity: string
  applied: string[]
  /** Applied migrations this build does not know: the file comes from a newer version. */
  unknown: string[]
  /** Migrations of this build the file lacks: applied when a server starts on it. */
  pending: string[]
  counts: Array<{ name: string; rows: number }>
  audit: VerifyResult
  secrets: SecretCheck
}

const countedTables = [
  ['workspaces', 'tenants'],
  ['bots', 'bots'],
  ['runs', 'runs'],
  ['pipelines', 'pipelines'],
  ['channels', 'channels'],
  ['approvals', 'approvals'],
  ['audit entries', 'audit_log'],
] as const

/** Every column that holds vault ciphertext (`*_encrypted`), found in the schema, not listed by hand. */
export function encryptedColumns(sqlite: SqliteDatabase.Database): Array<{ table: string; column: string }> {
  const tables = sqlite
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
    .pluck()
    .all() as string[]
  const found: Array<{ table: string; column: string }> = []
  for (const table of tables)
    for (const column of sqlite
      .prepare(`SELECT name FROM pragma_table_info(?)`)
      .pluck()
      .all(table) as string[])
      if (column.endsWith('_encrypted')) found.push({ table, column })
  return found
}

/** Tries every stored secret with the key (at most `limit` values are decrypted). */
export function checkSecrets(
  values: Iterable<{ where: string; value: string }>,
  key: MasterKey | undefined,
): SecretCheck {
  const result: SecretCheck = { total: 0, readable: 0, unreadable: [], keySource: key?.source }
  for (const { where, value } of values) {
    result.total++
    if (!key) continue
    try {
      key.vault.decrypt(value)
      result.readable++
    } catch (error) {
      if (result.unreadable.length < 5) result.unreadable.push({ where, error: toError(error).message })
    }
  }
  return result
}

function* storedSecrets(sqlite: SqliteDatabase.Database) {
  for (const { table, column } of encryptedColumns(sqlite))
    for (const value of sqlite
      .prepare(`SELECT "${column}" FROM "${table}" WHERE "${column}" IS NOT NULL`)
      .pluck()
      .iterate() as Iterable<string>)
      yield { where: `${table}.${column}`, value }
}

/** What a schema object of `sqlite_master` is compared by: `type name` → `tbl_name` and its SQL. */
type SchemaObjects = Map<string, string>

// Statistics ANALYZE writes (an operator may run it): data for the query planner, never code.
const statisticsTables = new Set(['sqlite_stat1', 'sqlite_stat2', 'sqlite_stat3', 'sqlite_stat4'])

function schemaObjects(sqlite: SqliteDatabase.Database): SchemaObjects {
  const rows = sqlite.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master').all() as Array<{
    type: string
    name: string
    tbl_name: string
    sql: string | null
  }>
  const objects: SchemaObjects = new Map()
  for (const row of rows)
    if (!(row.type === 'table' && statisticsTables.has(row.name)))
      objects.set(`${row.type} ${row.name}`, `${row.tbl_name}: ${row.sql?.replace(/\s+/g, ' ').trim() ?? ''}`)
  return objects
}

// One reference per list of applied migrations and process: a command checks one file (backup and
// restore once each); the tests check many files of the same version.
const references = new Map<string, Promise<SchemaObjects>>()

/** The schema exactly these migrations create, replayed on an empty in-memory database. */
function referenceSchema(applied: readonly string[]): Promise<SchemaObjects> {
  const key = applied.join('\n')
  let reference = references.get(key)
  if (!reference) {
    reference = (async () => {
      const database = await openDatabase<unknown>({ sqlitePath: ':memory:' })
      try {
        await migrateToLatest(
          database.db,
          'sqlite',
          Object.fromEntries(applied.map((name) => [name, migrations[name]!])),
        )
        return schemaObjects(database.sqlite!)
      } finally {
        await database.close()
      }
    })()
    references.set(key, reference)
    reference.catch(() => references.delete(key))
  }
  return reference
}

/**
 * Refuses a file whose schema is not exactly what its applied migrations create: a trigger, view,
 * table or index added beside them (a trigger on api_keys would run inside the server that opens the
 * file) or one of theirs replaced under the same name. Names the first few in the message.
 */
async function refuseForeignSchema(
  sqlite: SqliteDatabase.Database,
  applied: readonly string[],
  label: string,
  purpose: CheckPurpose,
): Promise<void> {
  let reference: SchemaObjects
  try {
    reference = await referenceSchema(applied)
  } catch (error) {
    throw new OperationRefused(
      `${label} lists migrations (${applied.join(', ')}) that do not replay on an empty database (${toError(error).message}). ${changedOutside[purpose]}`,
    )
  }
  const actual = schemaObjects(sqlite)
  const added = [...actual.keys()].filter((key) => !reference.has(key))
  const changed = [...actual].filter(([key, value]) => reference.has(key) && reference.get(key) !== value)
  const missing = [...reference.keys()].filter((key) => !actual.has(key))
  if (added.length + changed.length + missing.length === 0) return
  const few = (keys: string[]) =>
    keys.length > 3 ? `${keys.slice(0, 3).join(', ')} and ${keys.length - 3} more` : keys.join(', ')
  const parts = [
    added.length > 0 ? `not created by its migrations: ${few(added)}` : '',
    changed.length > 0 ? `changed from what its migrations create: ${few(changed.map(([key]) => key))}` : '',
    missing.length > 0 ? `missing, though its migrations create it: ${few(missing)}` : '',
  ].filter(Boolean)
  throw new OperationRefused(
    `${label} holds a schema its migrations (up to ${applied.at(-1) ?? '(none)'}) do not make — ${parts.join('; ')}. ${changedOutside[purpose]}`,
  )
}

/** Who checks the file: the last words of a refusal say what did not happen. */
export type CheckPurpose = 'restore' | 'backup'

const changedOutside: Record<CheckPurpose, string> = {
  restore: 'The file was changed outside openOrchestrator and will not be restored: use another backup.',
  backup:
    'The database was changed outside openOrchestrator: no backup was made. Remove what was added (or restore an earlier backup), then back up again.',
}

/**
 * Reads a database file as a restore would trust it: SQLite's integrity check, the migrations it has
 * (and whether this build knows them), that its schema is exactly what those migrations create, row
 * counts, the audit chain and whether the secrets decrypt. Throws OperationRefused when it is not an
 * SQLite database of ours at all, or its schema was changed outside openOrchestrator.
 */
export async function checkSqliteFile(
  file: string,
  key: MasterKey | undefined,
  /** The file's name in messages (restore checks a copy of it). */
  label = file,
  purpose: CheckPurpose = 'restore',
): Promise<FileCheck> {
  try {
    return await checkOpenedFile(file, key, label, purpose)
  } catch (error) {
    const code = (error as { code?: string }).code ?? ''
    if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'))
      throw new OperationRefused(`${label} is damaged (${toError(error).message}): use another backup.`)
    throw error
  }
}

async function checkOpenedFile(
  file: string,
  key: MasterKey | undefined,
  label: string,
  purpose: CheckPurpose,
): Promise<FileCheck> {
  let database: Db
  try {
    database = openSqliteFile(file)
    database.sqlite!.prepare('SELECT count(*) FROM sqlite_master').get()
  } catch (error) {
    throw new OperationRefused(
      `${label} is not a readable SQLite database (${toError(error).message}). Use a file written by "openorch backup".`,
    )
  }
  try {
    const sqlite = database.sqlite!
    const problems = sqlite.prepare('PRAGMA integrity_check(20)').pluck().all() as string[]
    const integrity = problems.join('; ')
    const hasMigrations = sqlite
      .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'`)
      .get()
    if (!hasMigrations)
      throw new OperationRefused(
        `${label} is an SQLite database, but not one of openOrchestrator's (it has no kysely_migration table).`,
      )
    const applied = sqlite
      .prepare('SELECT name FROM kysely_migration ORDER BY name')
      .pluck()
      .all() as string[]
    const known = new Set(Object.keys(migrations))
    const unknown = applied.filter((name) => !known.has(name))
    const pending = [...known].filter((name) => !applied.includes(name))
    // Before anything reads the file through its own schema (the audit check runs its statements). A
    // newer build's file cannot be replayed here: the commands refuse it in the migrator's words.
    if (integrity === 'ok' && unknown.length === 0) await refuseForeignSchema(sqlite, applied, label, purpose)
    const tables = new Set(
      sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[],
    )
    const counts = countedTables
      .filter(([, table]) => tables.has(table))
      .map(([name, table]) => ({
        name,
        rows: Number(sqlite.prepare(`SELECT count(*) FROM "${table}"`).pluck().get()),
      }))
    const audit: VerifyResult =
      integrity === 'ok' && tables.has('audit_log') && tables.has('audit_anchor')
        ? await verifyAudit(database)
        : { ok: false, entries: 0, id: 0, problem: 'changed', detail: 'The audit trail could not be read.' }
    const secrets = checkSecrets(storedSecrets(sqlite), key)
    return { integrity, applied, unknown, pending, counts, audit, secrets }
  } finally {
    await database.close()
  }
}

/** The check as lines for the operator. */
export function describeCheck(check: FileCheck): string[] {
  const lines = [
    `  integrity check: ${check.integrity}`,
    `  schema version: ${check.applied.at(-1) ?? '(none)'} (${check.applied.length} migrations${
      check.unknown.length > 0
        ? `; ${check.unknown.length} newer than this build: ${check.unknown.join(', ')}`
        : check.pending.length > 0
          ? `; ${check.pending.length} to apply at the next start`
          : ', current'
    })`,
    `  ${check.counts.map((c) => `${c.rows.toLocaleString('en-US')} ${c.name}`).join(', ')}`,
    check.audit.ok
      ? `  audit chain: intact (${check.audit.entries} entries)`
      : `  audit chain: BROKEN at entry ${check.audit.id}: ${check.audit.detail}`,
  ]
  const s = check.secrets
  if (s.total === 0) lines.push('  secrets: none stored')
  else if (!s.keySource) lines.push(`  secrets: ${s.total} stored; no master key here to try them with`)
  else
    lines.push(
      `  secrets: ${s.total} stored, ${s.readable} readable with the master key from ${s.keySource}` +
        (s.unreadable.length > 0 ? ` — NOT readable: ${s.unreadable.map((u) => u.where).join(', ')}` : ''),
    )
  return lines
}
