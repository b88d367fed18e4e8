import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import SqliteDatabase from 'better-sqlite3'
import { toError } from '../platform/errors.ts'
import {
  checkSqliteFile,
  describeCheck,
  type FileCheck,
  type MasterKey,
  OperationRefused,
  refuseNewerSqlite,
} from './sqlite-file.ts'

// `openorch backup <file>`: an online copy of a running SQLite installation (decision 0037).
//
// VACUUM INTO, not the backup API: it copies inside ONE read transaction, so the file is the database
// as of one instant while the server goes on writing (WAL: readers and writers do not block each
// other). The backup API copies page batches and starts over whenever another process writes between
// two of them — under load a big database may never finish — unless it copies everything in one step,
// which is what VACUUM INTO does anyway, and VACUUM INTO's file is compact (no free pages). It runs
// in a worker thread so this thread can report progress from the growing file's size.

const requireHere = createRequire(import.meta.url)

// Plain JavaScript (no TypeScript loader in a worker): better-sqlite3 resolved by the main thread.
const vacuumWorker = `
const { workerData, parentPort } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.source, { fileMustExist: true })
try {
  db.pragma('busy_timeout = 10000')
  db.prepare('VACUUM INTO ?').run(workerData.target)
  parentPort.postMessage({ ok: true })
} catch (error) {
  parentPort.postMessage({ ok: false, message: String(error && error.message || error), code: error && error.code })
} finally {
  db.close()
}`

export interface BackupResult {
  file: string
  bytes: number
  ms: number
  check: FileCheck
}

/** Copies the SQLite database at `source` into `target` (written to a temporary name, then renamed). */
export async function backupSqlite(options: {
  source: string
  target: string
  key: MasterKey | undefined
  progress: (line: string) => void
  /** How often a progress line is written while the copy runs (default 2 s; the first after 1 s). */
  progressEveryMs?: number
}): Promise<BackupResult> {
  const target = path.resolve(options.target)
  if (!fs.existsSync(options.source))
    throw new OperationRefused(`There is no database at ${options.source}. Is OPENORCH_DATA_DIR right?`)
  if (fs.existsSync(target))
    throw new OperationRefused(
      `${target} exists already. Choose a new file name (a backup never overwrites one).`,
    )
  const dir = path.dirname(target)
  if (!fs.existsSync(dir)) throw new OperationRefused(`The folder ${dir} does not exist.`)
  // A newer build's database is not this build's to copy (nor to check: its rules may differ).
  const sqlite = new SqliteDatabase(options.source, { fileMustExist: true })
  try {
    sqlite.pragma('busy_timeout = 10000')
    await refuseNewerSqlite(sqlite, options.source)
  } finally {
    sqlite.close()
  }
  const expected = estimatedBytes(options.source)
  const temporary = `${target}.partial-${randomBytes(4).toString('hex')}`
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  try {
    const every = options.progressEveryMs ?? 2000
    const report = () => {
      const written = fileSize(temporary)
      const share = expected > 0 ? Math.min(99, Math.floor((written / expected) * 100)) : 0
      options.progress(
        `Backing up: ${megabytes(written)} of about ${megabytes(expected)} (${share}%), ${seconds(Date.now() - started)}`,
      )
      timer = setTimeout(report, every)
    }
    timer = setTimeout(report, Math.min(1000, every))
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(vacuumWorker, {
        eval: true,
        workerData: {
          driver: requireHere.resolve('better-sqlite3'),
          source: options.source,
          target: temporary,
        },
      })
      worker.once('message', (message: { ok: boolean; message?: string; code?: string }) => {
        if (message.ok) resolve()
        else
          reject(
            Object.assign(new Error(`the copy failed: ${message.message}`), {
              code: message.code ?? 'copy_failed',
            }),
          )
      })
      worker.once('error', reject)
      worker.once('exit', (code) => {
        if (code !== 0) reject(new Error(`the copying thread stopped (exit code ${code})`))
      })
    })
    clearTimeout(timer)
    timer = undefined
    // The copy is a plain rollback-journal file: one file, complete on its own, to be moved anywhere.
    const copy = new SqliteDatabase(temporary, { fileMustExist: true })
    copy.pragma('journal_mode = DELETE')
    copy.close()
    fs.chmodSync(temporary, 0o600)
    // Named as the source in a refusal: what was changed is the installation's database, not the copy.
    const check = await checkSqliteFile(temporary, options.key, options.source, 'backup')
    if (check.integrity !== 'ok')
      throw new Error(
        `the copy failed SQLite's integrity check (${check.integrity}); the database itself may be damaged`,
      )
    syncFile(temporary)
    fs.renameSync(temporary, target)
    syncFile(dir)
    return { file: target, bytes: fileSize(target), ms: Date.now() - started, check }
  } catch (error) {
    clearTimeout(timer)
    fs.rmSync(temporary, { force: true })
    for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(`${temporary}${suffix}`, { force: true })
    if (error instanceof OperationRefused) throw error
    const e = toError(error) as Error & { code?: string }
    if (e.code === 'SQLITE_FULL' || e.code === 'ENOSPC')
      throw new OperationRefused(
        `The disk of ${dir} is full: free space (about ${megabytes(expected)}) and try again.`,
      )
    throw e
  }
}

/** The database's used pages: about what VACUUM INTO writes. */
function estimatedBytes(file: string): number {
  const sqlite = new SqliteDatabase(file, { fileMustExist: true })
  try {
    sqlite.pragma('busy_timeout = 10000')
    const pages = Number(sqlite.pragma('page_count', { simple: true }))
    const free = Number(sqlite.pragma('freelist_count', { simple: true }))
    return (pages - free) * Number(sqlite.pragma('page_size', { simple: true }))
  } finally {
    sqlite.close()
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export function megabytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

export function describeBackup(result: BackupResult): string[] {
  return [
    `Backup written: ${result.file} (${megabytes(result.bytes)}, ${seconds(result.ms)})`,
    'Checked:',
    ...describeCheck(result.check),
  ]
}

/** What `openorch backup` says on PostgreSQL: the database's own tools do it properly. */
export const postgresBackupRecipe = `This installation runs on PostgreSQL (DATABASE_URL is set): back it up with PostgreSQL's own tools,
which take a consistent snapshot while the orchestrator runs:

  pg_dump --format=custom --no-owner --file=openorch-$(date +%F).dump "$DATABASE_URL"

Restore into an EMPTY database (orchestrators stopped), then check it before starting them:

  createdb openorch_restored
  pg_restore --no-owner --exit-on-error --dbname=postgres://…/openorch_restored openorch-….dump
  DATABASE_URL=postgres://…/openorch_restored openorch audit verify

Keep the master key (OPENORCH_MASTER_KEY) apart from the dump: it is not in it, and the stored secrets
can only be read with it. See docs/operations.md, "Backup and restore".`
