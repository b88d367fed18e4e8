import fs from 'node:fs'

// The data directory holds the database, the master key and the bots' notes: only the server's own
// user may read it. A directory the server creates is 0700 (parents too) and a database file 0600 —
// SQLite gives the -wal and -shm files it creates later the mode of the database file. A directory or
// file that already exists keeps its mode: the operator may have chosen it (a group for backups), and
// this code never makes anything more open.

/** What `ensurePrivateDir` found or made. */
export interface PrivateDir {
  /** True when this call created it (0700). */
  created: boolean
  /** Its permission bits as they are now. */
  mode: number
  /** True when the group or others may read, write or enter it. */
  isOpenToOthers: boolean
}

/** Creates `dir` (and missing parents) 0700 when it does not exist; an existing one keeps its mode. */
export function ensurePrivateDir(dir: string): PrivateDir {
  const first = fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const mode = fs.statSync(dir).mode & 0o777
  return { created: first !== undefined, mode, isOpenToOthers: (mode & 0o077) !== 0 }
}

/**
 * Creates an empty `file` 0600 unless it exists (SQLite takes an empty file for a new database).
 * Exclusive, so two processes starting at once do not both create it.
 */
export function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
}
