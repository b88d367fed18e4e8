import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { type Server, startServer } from '../main.ts'
import { loadConfig } from './config.ts'
import { createLogger } from './logger.ts'

// Issue 11, item 13: on first start the data directory was 0755 and the database files 0644 (the
// vault's 0700 came after the database had made the directory). A real server on SQLite in a fresh
// temp directory; the modes are read while it runs, after writes, when the -wal and -shm files exist.

const dirs: string[] = []
const servers: Server[] = []

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close()
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-modes-'))
  dirs.push(dir)
  return dir
}

async function start(dataDir: string): Promise<{ server: Server; warnings: string[] }> {
  const warnings: string[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { level: number; msg: string }
        if (entry.level >= 40) warnings.push(line)
      }
      done()
    },
  })
  const config = loadConfig({ OPENORCH_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: '' })
  const server = await startServer(config, createLogger({ level: 'warn', destination }))
  servers.push(server)
  // A write through the API after start (the owner key, migrations and the vault wrote already).
  const created = await fetch(`${server.url}/api/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.ownerKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'modes', role: 'viewer' }),
  })
  expect(created.status).toBe(201)
  return { server, warnings }
}

const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8)

describe('data directory and database file modes', () => {
  it('creates a new data directory (and its missing parents) 0700 and the database, -wal, -shm and master key 0600', async () => {
    const parent = path.join(tempDir(), 'srv')
    const dataDir = path.join(parent, 'data')
    const { warnings } = await start(dataDir)
    const files = fs.readdirSync(dataDir).sort()
    expect(files).toEqual(
      expect.arrayContaining(['master.key', 'openorch.db', 'openorch.db-shm', 'openorch.db-wal']),
    )
    expect({ parent: modeOf(parent), dataDir: modeOf(dataDir) }).toEqual({ parent: '700', dataDir: '700' })
    expect(Object.fromEntries(files.map((f) => [f, modeOf(path.join(dataDir, f))]))).toEqual(
      Object.fromEntries(files.map((f) => [f, '600'])),
    )
    expect(warnings).toEqual([])
  })

  it("leaves an existing directory's mode as the operator chose it, warns when others can read it, and still makes new database files 0600", async () => {
    const dataDir = tempDir()
    fs.chmodSync(dataDir, 0o750)
    const { warnings } = await start(dataDir)
    expect(modeOf(dataDir)).toBe('750')
    for (const file of ['openorch.db', 'openorch.db-wal', 'openorch.db-shm', 'master.key'])
      expect([file, modeOf(path.join(dataDir, file))]).toEqual([file, '600'])
    expect(warnings.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        level: 40,
        dataDir,
        mode: '750',
        msg: 'the data directory can be read by other users of this machine; restrict it with chmod 700',
      }),
    ])
  })

  it('does not warn about an existing 0700 directory and keeps an existing database file as it is', async () => {
    const dataDir = tempDir()
    fs.writeFileSync(path.join(dataDir, 'openorch.db'), '', { mode: 0o640 })
    fs.chmodSync(path.join(dataDir, 'openorch.db'), 0o640)
    const { warnings } = await start(dataDir)
    expect(modeOf(dataDir)).toBe('700')
    // SQLite gives the -wal and -shm files the database file's mode.
    expect(
      ['openorch.db', 'openorch.db-wal', 'openorch.db-shm'].map((f) => modeOf(path.join(dataDir, f))),
    ).toEqual(['640', '640', '640'])
    expect(warnings).toEqual([])
  })
})
