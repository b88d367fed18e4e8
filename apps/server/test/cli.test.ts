import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from './kernel-harness.ts'

const bin = path.join(import.meta.dirname, '..', 'bin', 'openorch.mjs')
const dirs: string[] = []

function dataDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-cli-'))
  dirs.push(dir)
  return dir
}

function run(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, OPENORCH_LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk) => {
    out += chunk
  })
  child.stderr.on('data', (chunk) => {
    err += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, exited, out: () => out, err: () => err }
}

afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

describe('openorch CLI', () => {
  it('starts on SQLite, prints the URL and a generated owner key once, and stops gracefully on SIGTERM', async () => {
    const dir = dataDir()
    const first = run(['start'], { OPENORCH_DATA_DIR: dir, PORT: '0' })
    await waitFor(() => first.out().includes('Owner API key'), {
      what: 'the start banner',
      timeoutMs: 30_000,
    })
    const url = /running at (http:\/\/\S+)/.exec(first.out())?.[1]
    const key = /\n {2}(oo_\S+)\n/.exec(first.out())?.[1]
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(key).toBeDefined()
    const authorised = await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${key}` } })
    expect(authorised.status).toBe(200)
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)

    const second = run(['start'], { OPENORCH_DATA_DIR: dir, PORT: '0' })
    await waitFor(() => second.out().includes('running at'), { what: 'the second start', timeoutMs: 30_000 })
    expect(second.out()).not.toContain('Owner API key')
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  })

  it('uses OPENORCH_API_KEY as the owner key of a new database and does not print it', async () => {
    const dir = dataDir()
    const key = 'my-own-owner-key-1234567890'
    const server = run(['start'], { OPENORCH_DATA_DIR: dir, PORT: '0', OPENORCH_API_KEY: key })
    await waitFor(() => server.out().includes('running at'), { what: 'the start banner', timeoutMs: 30_000 })
    expect(server.out()).not.toContain(key)
    const url = /running at (http:\/\/\S+)/.exec(server.out())?.[1]
    const response = await fetch(`${url}/api/v1/runs`, { headers: { 'x-api-key': key } })
    expect(response.status).toBe(200)
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  })

  it('exits 1 naming each bad environment variable, without a stack trace', async () => {
    const bad = run(['start'], { OPENORCH_DATA_DIR: dataDir(), PORT: 'eighty', OPENORCH_CONCURRENCY: '-2' })
    expect(await bad.exited).toBe(1)
    expect(bad.err()).toContain('PORT')
    expect(bad.err()).toContain('OPENORCH_CONCURRENCY')
    expect(bad.err()).not.toMatch(/\n\s+at /)
  })

  it('migrates on request and says when there is nothing to do', async () => {
    const dir = dataDir()
    const first = run(['migrate'], { OPENORCH_DATA_DIR: dir })
    expect(await first.exited).toBe(0)
    expect(first.out()).toContain('Applied: 0001-foundation')
    const second = run(['migrate'], { OPENORCH_DATA_DIR: dir })
    expect(await second.exited).toBe(0)
    expect(second.out()).toContain('up to date')
  })

  it('explains an unreachable PostgreSQL instead of printing a stack trace', async () => {
    const down = run(['migrate'], {
      OPENORCH_DATA_DIR: dataDir(),
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    })
    expect(await down.exited).toBe(1)
    expect(down.err()).toMatch(/cannot reach the database/)
    expect(down.err()).not.toMatch(/\n\s+at /)
  })
})
