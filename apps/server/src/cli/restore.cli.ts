import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { ensurePrivateDir } from '../platform/private-files.ts'
import {
  checkSqliteFile,
  type FileCheck,
  lockSqliteFile,
  type MasterKey,
  OperationRefused,
  openSqliteFile,
  refuseNewerSqlite,
} from './sqlite-file.ts'

// `openorch restore <file>`: puts a backup in place of a STOPPED SQLite installation's database
// (decision 0037). The file is copied next to the database first and checked there — an SQLite file,
// integrity ok, ours (migrations table), not newer than this build, its schema exactly what its
// migrations create (no trigger, view or table added or replaced), the audit chain intact — and the
// secrets are tried with the master key present. Only then is the old database moved aside (kept as
// `openorch.db.before-restore-<time>`) and the copy renamed into its place, while the old one is held
// under SQLite's exclusive lock, so no server starts on it half-way.

export interface RestoreResult {
  check: FileCheck
  /** Where the database that was there before now is (undefined: there was none). */
  keptAs: string | undefined
  /** Secrets that the present master key cannot read (the restore went on; the operator must act). */
  unreadableSecrets: number
}

export async function restoreSqlite(options: {
  backup: string
  /** The installation's database file (`<data dir>/openorch.db`). */
  target: string
  key: MasterKey | undefined
  now?: Date
}): Promise<RestoreResult> {
  const backup = path.resolve(options.backup)
  const target = path.resolve(options.target)
  if (!fs.existsSync(backup)) throw new OperationRefused(`There is no file ${backup}.`)
  if (backup === target) throw new OperationRefused(`${backup} is the installation's own database.`)
  // Refused before anything is copied: a running server must be stopped first.
  lockSqliteFile(target)?.close()

  ensurePrivateDir(path.dirname(target))
  const incoming = `${target}.restoring-${randomBytes(4).toString('hex')}`
  try {
    fs.copyFileSync(backup, incoming)
    fs.chmodSync(incoming, 0o600)
    const check = await checkSqliteFile(incoming, options.key, backup)
    if (check.integrity !== 'ok')
      throw new OperationRefused(
        `${backup} fails SQLite's integrity check (${check.integrity}). It is damaged: use another backup.`,
      )
    // In the words `openorch start` uses for a newer build's database.
    const copy = openSqliteFile(incoming, { readonly: true })
    try {
      await refuseNewerSqlite(copy.sqlite!, backup)
    } finally {
      await copy.close()
    }
    if (!check.audit.ok)
      throw new OperationRefused(
        `The audit trail in ${backup} is broken at entry ${check.audit.id}: ${check.audit.detail} Use another backup, or investigate who changed it.`,
      )
    // From here the old database is held: nothing can open it until the new one is in place.
    const held = lockSqliteFile(target)
    let keptAs: string | undefined
    try {
      if (held) {
        // Everything in the old database's WAL goes into its main file, and the WAL goes away: a
        // stale -wal beside the restored file would be replayed into it.
        held.pragma('wal_checkpoint(TRUNCATE)')
        held.pragma('journal_mode = DELETE')
        keptAs = `${target}.before-restore-${stamp(options.now ?? new Date())}`
        fs.renameSync(target, keptAs)
      }
      for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(`${target}${suffix}`, { force: true })
      fs.renameSync(incoming, target)
      syncDir(path.dirname(target))
    } finally {
      held?.close()
    }
    const unreadableSecrets = check.secrets.total - check.secrets.readable
    return { check, keptAs, unreadableSecrets }
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(`${incoming}${suffix}`, { force: true })
  }
}

/** 2026-12-04T15-30-00Z: sortable and valid in every file system. */
function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-')
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** What `openorch restore` says on PostgreSQL. */
export const postgresRestoreRecipe = `This installation runs on PostgreSQL (DATABASE_URL is set): restore a pg_dump file with pg_restore
into an EMPTY database while the orchestrators are stopped, check it, then point DATABASE_URL at it:

  createdb openorch_restored
  pg_restore --no-owner --exit-on-error --dbname=postgres://…/openorch_restored openorch-….dump
  DATABASE_URL=postgres://…/openorch_restored openorch audit verify

Start the orchestrators with the same OPENORCH_MASTER_KEY as before. See docs/operations.md, "Backup and restore".`
