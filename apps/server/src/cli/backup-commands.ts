import { parseArgs } from 'node:util'
import type { Config } from '../platform/config.ts'
import { describePostgresTlsError } from '../platform/db/postgres-tls.ts'
import { toError } from '../platform/errors.ts'
import { backupSqlite, describeBackup, postgresBackupRecipe } from './backup.cli.ts'
import { describeMigration, migrateToPostgres } from './migrate-to-postgres.cli.ts'
import { postgresRestoreRecipe, restoreSqlite } from './restore.cli.ts'
import {
  describeCheck,
  findMasterKey,
  type MasterKey,
  masterKeyReminder,
  OperationRefused,
} from './sqlite-file.ts'

// `openorch backup | restore | migrate-to-postgres`: the words around the operations (decision 0037).
// Results go to stdout, progress and refusals to stderr; exit 1 on any refusal or failure.

const out = (line: string) => process.stdout.write(`${line}\n`)
const err = (line: string) => process.stderr.write(`${line}\n`)

function refuse(message: string): void {
  err(`openorch: ${message}`)
  process.exitCode = 1
}

/** The installation's master key, or a refusal in words when it is set but unusable. */
function masterKeyOf(config: Config): MasterKey | undefined {
  return findMasterKey({
    masterKey: config.masterKey,
    dataDir: config.dataDir,
    extraMasterKeys: config.extraMasterKeys,
  })
}

async function guarded(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (error) {
    if (error instanceof OperationRefused) refuse(error.message)
    else refuse(`${what} failed: ${describePostgresTlsError(error) ?? toError(error).message}`)
  }
}

export async function backupCommand(file: string | undefined, config: Config): Promise<void> {
  if (!file)
    return refuse('use: openorch backup <file>   (for example openorch backup openorch-$(date +%F).db)')
  if (config.database.url) return refuse(postgresBackupRecipe)
  await guarded('the backup', async () => {
    const result = await backupSqlite({
      source: config.database.sqlitePath,
      target: file,
      key: masterKeyOf(config),
      progress: err,
    })
    for (const line of describeBackup(result)) out(line)
    out('')
    out(masterKeyReminder(config))
  })
}

export async function restoreCommand(file: string | undefined, config: Config): Promise<void> {
  if (!file) return refuse('use: openorch restore <file>   (with the orchestrator stopped)')
  if (config.database.url) return refuse(postgresRestoreRecipe)
  await guarded('the restore', async () => {
    const key = masterKeyOf(config)
    const result = await restoreSqlite({ backup: file, target: config.database.sqlitePath, key })
    out(`Restored ${file} into ${config.database.sqlitePath}.`)
    if (result.keptAs) out(`The database that was there is kept as ${result.keptAs}.`)
    out('Checked before it was put in place:')
    for (const line of describeCheck(result.check)) out(line)
    if (result.check.pending.length > 0)
      out(`The next start applies ${result.check.pending.length} newer migration(s) to it.`)
    const secrets = result.check.secrets
    if (secrets.total > 0 && !secrets.keySource) {
      err(
        `\nWARNING: the backup holds ${secrets.total} secret(s), and this installation has no master key yet (neither OPENORCH_MASTER_KEY nor ${config.dataDir}/master.key).\n` +
          'Set OPENORCH_MASTER_KEY, or copy master.key from the old data directory, BEFORE the first start: a start without it\n' +
          'generates a new key, and the stored provider keys and credentials cannot be read with it.',
      )
    } else if (result.unreadableSecrets > 0) {
      err(
        `\nWARNING: ${result.unreadableSecrets} of ${secrets.total} secret(s) in the backup cannot be read with the master key from ${secrets.keySource}\n` +
          `(${secrets.unreadable.map((u) => `${u.where}: ${u.error}`).join('; ')}).\n` +
          'Start with the master key the backup was made with (OPENORCH_MASTER_KEY, or its master.key in the data directory),\n' +
          'or add it to OPENORCH_EXTRA_MASTER_KEYS; otherwise save those secrets again.',
      )
    }
  })
}

export async function migrateToPostgresCommand(argv: string[], config: Config): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'batch-rows': { type: 'string' }, 'pause-ms': { type: 'string' } },
  })
  const url = positionals[0]
  if (!url || !/^postgres(ql)?:\/\//.test(url))
    return refuse('use: openorch migrate-to-postgres postgres://user:password@host:5432/database')
  if (config.database.url)
    return refuse(
      'DATABASE_URL is set: this installation runs on PostgreSQL already. Unset it to move the SQLite database in OPENORCH_DATA_DIR.',
    )
  const number = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined
    const n = Number(text)
    if (!Number.isInteger(n) || n < 0)
      throw new OperationRefused(`--${name} must be a whole number, not "${text}".`)
    return n
  }
  await guarded('the move', async () => {
    const key = masterKeyOf(config)
    out(`Moving ${config.database.sqlitePath} to PostgreSQL…`)
    const report = await migrateToPostgres({
      sqlitePath: config.database.sqlitePath,
      url,
      key,
      out,
      batchRows: number('batch-rows', values['batch-rows']),
      pauseMs: number('pause-ms', values['pause-ms']),
    })
    for (const line of describeMigration(report)) out(line)
    if (report.secrets.total > report.secrets.readable)
      err(
        key
          ? `WARNING: ${report.secrets.total - report.secrets.readable} secret(s) cannot be read with the master key from ${key.source}.`
          : `WARNING: no master key found here to check the ${report.secrets.total} secret(s) with.`,
      )
    out('')
    out(
      `Start the orchestrator with DATABASE_URL=${redact(url)} and the same master key (${
        config.masterKey
          ? 'OPENORCH_MASTER_KEY'
          : `${config.dataDir}/master.key, or OPENORCH_MASTER_KEY set to its content`
      }).`,
    )
    out(`The SQLite database is left as it was: keep it until you are satisfied.`)
  })
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '…'
    return u.toString()
  } catch {
    return 'postgres://…'
  }
}
