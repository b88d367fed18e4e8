// The server of the pipelines benchmark: the product itself, bundled as apps/server/scripts/build.mjs
// bundles it and started as `npm start` starts it (plain Node with the server's V8 flags), in a place
// of its own: a temp data dir with its SQLite file, or a fresh PostgreSQL database (dropped afterwards).
// The benchmark talks to it over HTTP as any client would, and reads run timings from its database.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { build } from 'esbuild'
import pg from 'pg'
// @ts-expect-error: a plain JavaScript module without type declarations
import { externalDependencies } from '../../../apps/server/scripts/external-dependencies.mjs'

/** A parsed answer, read field by field. */
// biome-ignore lint/suspicious/noExplicitAny: the benchmark reads answers of several routes through one helper
type Json = any

export interface BenchServer {
  base: string
  api(method: string, route: string, body?: unknown): Promise<Json>
  /** Rows of the server's database (`$1`… parameters on both dialects). */
  query<Row>(sql: string, parameters?: unknown[]): Promise<Row[]>
  /** Stops the server (SIGTERM) and removes its place. */
  close(): Promise<void>
}

const serverDir = path.join(import.meta.dirname, '..', '..', '..', 'apps', 'server')
/** As `npm start` starts it (package.json). */
const serverFlags = ['--enable-source-maps', '--max-semi-space-size=2']

/**
 * Bundles the server as apps/server/scripts/build.mjs does, into dist/bench-pipelines.js: beside the
 * server's own packages (not all are hoisted), and safe from an `npm start` rebuilding dist/cli.js
 * while the benchmark runs.
 */
export async function buildServer(): Promise<void> {
  await build({
    entryPoints: { 'bench-pipelines': path.join(serverDir, 'src', 'cli.ts') },
    outdir: path.join(serverDir, 'dist'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [externalDependencies],
    sourcemap: 'linked',
    logLevel: 'warning',
  })
}

/** The client's requests in flight at most (its connection pool). */
const maxRequestsInFlight = 16

export const ownerKey = 'bench-pipelines-owner-key-0123456789'

export async function startBenchServer(
  dialect: 'sqlite' | 'postgres',
  options: { databaseUrl: string; concurrency: number },
): Promise<BenchServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-pipelines-'))
  let databaseUrl = ''
  const database = `bench_pipelines_${randomBytes(4).toString('hex')}`
  if (dialect === 'postgres') {
    const admin = new pg.Client({ connectionString: options.databaseUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    await admin.end()
    const url = new URL(options.databaseUrl)
    url.pathname = `/${database}`
    databaseUrl = url.toString()
  }
  const child: ChildProcess = spawn(
    process.execPath,
    [...serverFlags, path.join(serverDir, 'dist', 'bench-pipelines.js'), 'start'],
    {
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: '0',
        OPENORCH_DATA_DIR: dir,
        DATABASE_URL: databaseUrl,
        OPENORCH_API_KEY: ownerKey,
        OPENORCH_LOG_LEVEL: 'warn',
        OPENORCH_CONCURRENCY: String(options.concurrency),
        // The stand-in listens on loopback; the client sends thousands of requests a minute.
        OPENORCH_EGRESS_ALLOW: '127.0.0.1',
        OPENORCH_RATE_LIMIT_PER_KEY: '10000000',
        OPENORCH_RATE_LIMIT_PER_TENANT: '10000000',
        OPENORCH_DEFAULT_DAILY_BUDGET_USD: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const base = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk) => {
      out += chunk
      const url = /running at (http:\/\/\S+)/.exec(out)?.[1]
      if (url) resolve(url)
    })
    void exited.then(() => reject(new Error('the server exited before it started')))
  })
  const sqlite =
    dialect === 'sqlite'
      ? new SqliteDatabase(path.join(dir, 'openorch.db'), { readonly: true, fileMustExist: true })
      : undefined
  const pool = dialect === 'postgres' ? new pg.Pool({ connectionString: databaseUrl, max: 2 }) : undefined
  // As one client with a connection pool: at most this many requests at a time, the rest wait.
  let inFlight = 0
  const queued: Array<() => void> = []
  const slot = async () => {
    if (inFlight < maxRequestsInFlight) inFlight++
    else await new Promise<void>((resolve) => queued.push(resolve))
  }
  const release = () => {
    const next = queued.shift()
    if (next) next()
    else inFlight--
  }

  return {
    base,
    async api(method, route, body) {
      await slot()
      try {
        const response = await fetch(`${base}/api/v1${route}`, {
          method,
          headers: {
            authorization: `Bearer ${ownerKey}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        const text = await response.text()
        if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`)
        return text ? JSON.parse(text) : null
      } finally {
        release()
      }
    },
    async query<Row>(sql: string, parameters: unknown[] = []) {
      if (sqlite) return sqlite.prepare(sql.replace(/\$\d+/g, '?')).all(...parameters) as Row[]
      return (await pool!.query(sql, parameters)).rows as Row[]
    },
    async close() {
      sqlite?.close()
      await pool?.end()
      child.kill('SIGTERM')
      await exited
      if (dialect === 'postgres') {
        const admin = new pg.Client({ connectionString: options.databaseUrl })
        await admin.connect()
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
        await admin.end()
      }
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}
