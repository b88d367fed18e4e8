import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { postgresUrl } from './databases.ts'
import { waitFor } from './kernel-harness.ts'

// The real server as a child process (bin/openorch.mjs start), for tests that kill it: a data dir and
// database of its own (an SQLite file, or a fresh PostgreSQL database), the owner key given.

const bin = path.join(import.meta.dirname, '..', 'bin', 'openorch.mjs')

/** A parsed answer, read by tests field by field. */
// biome-ignore lint/suspicious/noExplicitAny: tests read answers of every route through one helper
type Json = any

export interface ServerProcess {
  child: ChildProcess
  exited: Promise<void>
  /** The server's base URL once it printed it. */
  url(): Promise<string>
  /** A JSON call with the owner key. */
  api(
    base: string,
  ): (method: string, route: string, body?: unknown) => Promise<{ status: number; json: Json }>
}

/** Starts the server; `cleanups` gets its SIGKILL. */
export function startServerProcess(
  env: Record<string, string>,
  ownerKey: string,
  cleanups: Array<() => Promise<void>>,
): ServerProcess {
  const child = spawn(process.execPath, [bin, 'start'], {
    env: {
      ...process.env,
      OPENORCH_LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: '0',
      OPENORCH_API_KEY: ownerKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (chunk) => {
    out += chunk
  })
  child.stderr!.on('data', () => {})
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  cleanups.push(async () => {
    child.kill('SIGKILL')
    await exited
  })
  return {
    child,
    exited,
    url: () =>
      waitFor(() => /running at (http:\/\/\S+)/.exec(out)?.[1], {
        what: 'the server to start',
        timeoutMs: 90_000,
      }),
    api: (base) => async (method, route, body) => {
      const response = await fetch(`${base}/api/v1${route}`, {
        method,
        headers: {
          authorization: `Bearer ${ownerKey}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
      const text = await response.text()
      return { status: response.status, json: text ? JSON.parse(text) : null }
    },
  }
}

/** A data dir, and for PostgreSQL a database of its own (dropped by `cleanups`). */
export async function serverDatabaseEnv(
  dialect: string,
  cleanups: Array<() => Promise<void>>,
): Promise<Record<string, string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-server-'))
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }))
  if (dialect !== 'postgres') return { OPENORCH_DATA_DIR: dir, DATABASE_URL: '' }
  const name = `openorch_server_${process.pid}_${Date.now()}`
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
  return { OPENORCH_DATA_DIR: dir, DATABASE_URL: url.toString() }
}
