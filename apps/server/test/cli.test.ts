import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { appendAudit } from '../src/audit/audit.store.ts'
import type { Tables } from '../src/database.ts'
import { createVault } from '../src/platform/crypto.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { insertProviderRow } from './app-harness.ts'
import { waitFor } from './kernel-harness.ts'
import { startProviderServer } from './provider-servers/index.ts'

const bin = path.join(import.meta.dirname, '..', 'bin', 'openorch.mjs')
const dirs: string[] = []

function dataDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-cli-'))
  dirs.push(dir)
  return dir
}

function run(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [bin, ...args], {
    // The provider stand-in listens on loopback: opened as an operator would.
    env: {
      ...process.env,
      OPENORCH_LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      ...env,
    },
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

  it('prints its usage for --help and -h instead of starting a server', async () => {
    for (const flag of ['--help', '-h']) {
      const dir = dataDir()
      const help = run([flag], { OPENORCH_DATA_DIR: dir })
      expect(await help.exited).toBe(0)
      expect(help.out()).toContain('openorch')
      expect(help.out()).toContain('users create')
      expect(fs.existsSync(path.join(dir, 'openorch.db'))).toBe(false)
    }
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

  it('lists, runs (streamed output, tokens and cost), exports and imports bots of a running server', async () => {
    const dir = dataDir()
    const key = 'cli-owner-key-1234567890abcd'
    const provider = await startProviderServer('openai', { apiKey: 'sk-cli-1234', models: ['gpt-4o-mini'] })
    provider.setBehaviour({
      type: 'success',
      text: 'Two new offers:\n- A 35 €\n- B 38 €',
      usage: { inputTokens: 300, outputTokens: 20 },
    })
    const server = run(['start'], { OPENORCH_DATA_DIR: dir, PORT: '0', OPENORCH_API_KEY: key })
    try {
      await waitFor(() => server.out().includes('running at'), {
        what: 'the start banner',
        timeoutMs: 30_000,
      })
      const url = /running at (http:\/\/\S+)/.exec(server.out())![1]!
      const api = (method: string, path: string, body?: unknown) =>
        fetch(`${url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      expect(
        (
          await api('PUT', '/providers/openai', {
            apiKey: 'sk-cli-1234',
            baseUrl: provider.baseUrl,
            defaultModel: 'gpt-4o-mini',
          })
        ).status,
      ).toBe(200)
      expect(
        (
          await api('POST', '/bots', {
            name: 'Sneaker scout',
            emoji: '👟',
            prompt: 'Find offers.',
            provider: 'openai',
            schedule: '@hourly',
          })
        ).status,
      ).toBe(201)
      const env = { OPENORCH_URL: url, OPENORCH_API_KEY: key }

      const list = run(['bots', 'list'], env)
      expect(await list.exited).toBe(0)
      expect(list.out()).toMatch(/👟 Sneaker scout\s+@hourly/)

      const once = run(['bots', 'run', 'Sneaker scout', '--input', '{"maxPrice":40}'], env)
      expect(await once.exited, once.err()).toBe(0)
      expect(once.out()).toBe('Two new offers:\n- A 35 €\n- B 38 €\n')
      expect(once.err()).toMatch(/queued/)
      expect(once.err()).toMatch(/completed in .* tokens 300 in \/ 20 out · cost \$0\.0000[0-9]+/)

      const file = path.join(dir, 'scout.json')
      const exported = run(['bots', 'export', 'Sneaker scout', '--out', file], env)
      expect(await exported.exited).toBe(0)
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({
        format: 'openorch.bot',
        bot: { name: 'Sneaker scout' },
      })
      const imported = run(['bots', 'import', file], env)
      expect(await imported.exited, imported.err()).toBe(0)
      expect(imported.out()).toContain('Imported "Sneaker scout (imported)"')

      const missing = run(['bots', 'run', 'No such bot'], env)
      expect(await missing.exited).toBe(1)
      expect(missing.err()).toContain('no bot with id or name "No such bot"')
      const noKey = run(['bots', 'list'], { OPENORCH_URL: url, OPENORCH_API_KEY: '' })
      expect(await noKey.exited).toBe(1)
      expect(noKey.err()).toContain('OPENORCH_API_KEY')
      const wrongKey = run(['bots', 'list'], { OPENORCH_URL: url, OPENORCH_API_KEY: 'oo_wrong' })
      expect(await wrongKey.exited).toBe(1)
      expect(wrongKey.err()).toMatch(/Check OPENORCH_API_KEY/)
      expect(wrongKey.err()).not.toMatch(/\n\s+at /)
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
      await provider.close()
    }
    const down = run(['bots', 'list'], { OPENORCH_URL: 'http://127.0.0.1:1', OPENORCH_API_KEY: key })
    expect(await down.exited).toBe(1)
    expect(down.err()).toContain('cannot reach the orchestrator')
  })

  it('verifies the audit chain and names the first changed entry, exit 1', async () => {
    const dir = dataDir()
    expect(await run(['migrate'], { OPENORCH_DATA_DIR: dir }).exited).toBe(0)
    const database = await openDatabase<Tables>({ sqlitePath: path.join(dir, 'openorch.db') })
    const entry = (action: string) => ({
      tenant_id: 'default',
      at: 1,
      actor_type: 'system',
      actor_id: null,
      actor_role: null,
      action,
      target_type: null,
      target_id: null,
      ip: null,
      request_id: null,
      status: null,
      details: null,
    })
    await appendAudit(database, [entry('a'), entry('b'), entry('c')])
    const ok = run(['audit', 'verify'], { OPENORCH_DATA_DIR: dir })
    expect(await ok.exited).toBe(0)
    expect(ok.out()).toContain('intact: 3 entries')
    await database.db.updateTable('audit_log').set({ action: 'forged' }).where('action', '=', 'b').execute()
    await database.close()
    const broken = run(['audit', 'verify'], { OPENORCH_DATA_DIR: dir })
    expect(await broken.exited).toBe(1)
    expect(broken.err()).toMatch(/broken at entry 2 \(changed\)/)
    expect(broken.err()).not.toMatch(/\n\s+at /)
  })

  it('rotates secrets to a new master key and says when a secret cannot be read', async () => {
    const dir = dataDir()
    const oldKey = 'cli-old-master-key-0123456789abcdefghij'
    const newKey = 'cli-new-master-key-0123456789abcdefghij'
    expect(await run(['migrate'], { OPENORCH_DATA_DIR: dir }).exited).toBe(0)
    const database = await openDatabase<Tables>({ sqlitePath: path.join(dir, 'openorch.db') })
    const stored = createVault({ masterKey: oldKey, dataDir: dir }).encrypt('sk-cli-secret')
    await insertProviderRow(database, 'openai', { apiKeyEncrypted: stored })
    const withoutOld = run(['secrets', 'rotate'], { OPENORCH_DATA_DIR: dir, OPENORCH_MASTER_KEY: newKey })
    expect(await withoutOld.exited).toBe(1)
    expect(withoutOld.err()).toContain('could not be read')
    expect(withoutOld.err()).toContain('OPENORCH_EXTRA_MASTER_KEYS')
    const rotate = run(['secrets', 'rotate'], {
      OPENORCH_DATA_DIR: dir,
      OPENORCH_MASTER_KEY: newKey,
      OPENORCH_EXTRA_MASTER_KEYS: oldKey,
    })
    expect(await rotate.exited, rotate.err()).toBe(0)
    expect(rotate.out()).toContain('1 re-encrypted')
    const row = await database.db
      .selectFrom('providers')
      .select('api_key_encrypted')
      .executeTakeFirstOrThrow()
    expect(createVault({ masterKey: newKey, dataDir: dir }).decrypt(row.api_key_encrypted!)).toBe(
      'sk-cli-secret',
    )
    expect(rotate.out() + rotate.err()).not.toContain('sk-cli-secret')
    const entry = await database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'secrets.rotated')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow()
    expect(entry).toMatchObject({ actor_type: 'cli', tenant_id: 'default' })
    expect(JSON.parse(entry.details!)).toMatchObject({ rotated: 1, failed: 0 })
    expect(entry.details).not.toContain('sk-cli-secret')
    await database.close()
  })

  it('creates a dashboard user with the password from standard input, and explains refusals', async () => {
    const dir = dataDir()
    const create = async (email: string, password: string) => {
      const child = spawn(process.execPath, [bin, 'users', 'create', '--email', email, '--role', 'owner'], {
        env: { ...process.env, OPENORCH_DATA_DIR: dir, OPENORCH_LOG_LEVEL: 'warn' },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (c) => {
        out += c
      })
      child.stderr.on('data', (c) => {
        out += c
      })
      child.stdin.end(`${password}\n`)
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
      return { code, out }
    }
    const ok = await create('anna@example.com', 'a long and quiet passphrase')
    expect(ok.code, ok.out).toBe(0)
    expect(ok.out).toMatch(/Created owner anna@example.com/)
    expect(ok.out).not.toContain('a long and quiet passphrase')
    const database = await openDatabase<Tables>({ sqlitePath: path.join(dir, 'openorch.db') })
    const entry = await database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'users.created')
      .executeTakeFirstOrThrow()
    await database.close()
    expect(entry).toMatchObject({ actor_type: 'cli', actor_id: os.userInfo().username, target_type: 'users' })
    const again = await create('anna@example.com', 'a long and quiet passphrase')
    expect(again.code).toBe(1)
    expect(again.out).toContain('exists already')
    const weak = await create('bob@example.com', 'password1234')
    expect(weak.code).toBe(1)
    expect(weak.out).toMatch(/password .*too easy to guess/)
    expect(weak.out).not.toMatch(/\n\s+at /)
  })

  it('creates, lists, disables and enables workspaces, audited, and never disables the default one', async () => {
    const dir = dataDir()
    const cli = async (args: string[], stdin = '') => {
      const child = spawn(process.execPath, [bin, ...args], {
        env: { ...process.env, OPENORCH_DATA_DIR: dir, OPENORCH_LOG_LEVEL: 'warn', DATABASE_URL: '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (c) => {
        out += c
      })
      child.stderr.on('data', (c) => {
        err += c
      })
      child.stdin.end(stdin)
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
      return { code, out, err }
    }
    const password = 'a long and quiet passphrase'
    const created = await cli(
      ['workspaces', 'create', '--name', 'Acme', '--owner-email', 'anna@acme.example'],
      `${password}\n`,
    )
    expect(created.code, created.err).toBe(0)
    const id = /Created workspace "Acme" \(([0-9a-f-]{36})\) with owner anna@acme\.example\./.exec(
      created.out,
    )?.[1]
    expect(id, created.out).toBeDefined()
    expect(created.out + created.err).not.toContain(password)

    const listed = await cli(['workspaces', 'list'])
    expect(listed.code).toBe(0)
    const lines = listed.out.trim().split('\n')
    expect(lines[0]).toMatch(/^ID\s+NAME\s+USERS\s+STATE$/)
    expect(lines[1]).toMatch(new RegExp(`^${id}\\s+Acme\\s+1\\s+enabled$`))
    expect(lines[2]).toMatch(/^default\s+Default workspace \(default\)\s+0\s+enabled$/)
    const json = JSON.parse((await cli(['workspaces', 'list', '--json'])).out)
    expect(json.map((w: { id: string }) => w.id)).toEqual([id, 'default'])

    // `users create --workspace` adds to a workspace that exists, and says so when it does not.
    const ben = await cli(
      ['users', 'create', '--email', 'ben@acme.example', '--role', 'editor', '--workspace', id!],
      `${password}\n`,
    )
    expect(ben.code, ben.err).toBe(0)
    expect(ben.out).toContain(`in workspace ${id}`)
    const nowhere = await cli(
      ['users', 'create', '--email', 'cara@x.example', '--workspace', 'nowhere'],
      `${password}\n`,
    )
    expect(nowhere.code).toBe(1)
    expect(nowhere.err).toContain('there is no workspace "nowhere". "openorch workspaces list" shows them')

    const disabled = await cli(['workspaces', 'disable', id!])
    expect(disabled.code, disabled.err).toBe(0)
    expect(disabled.out).toContain(`Disabled workspace "Acme" (${id})`)
    expect((await cli(['workspaces', 'list'])).out).toMatch(/Acme\s+2\s+disabled since \d{4}-/)
    const enabled = await cli(['workspaces', 'enable', id!])
    expect(enabled.out).toContain(`Enabled workspace "Acme" (${id}) again.`)

    const protectedDefault = await cli(['workspaces', 'disable', 'default'])
    expect(protectedDefault.code).toBe(1)
    expect(protectedDefault.err).toMatch(/^openorch: The default workspace cannot be disabled/)
    const missing = await cli(['workspaces', 'disable', 'nowhere'])
    expect(missing.err).toBe('openorch: Workspace nowhere does not exist.\n')
    const weak = await cli(
      ['workspaces', 'create', '--name', 'Weak', '--owner-email', 'dan@weak.example'],
      'password1234\n',
    )
    expect(weak.code).toBe(1)
    expect(weak.err).toMatch(/password .*too easy to guess/)
    const bidi = await cli(
      ['workspaces', 'create', '--name', 'Acme\u202Egnp', '--owner-email', 'eve@bidi.example'],
      `${password}\n`,
    )
    expect(bidi.err).toBe(
      'openorch: name must not contain control, bidi-control or invisible characters (found U+202E)\n',
    )
    expect(JSON.parse((await cli(['workspaces', 'list', '--json'])).out)).toHaveLength(2)
    const usage = await cli(['workspaces'])
    expect(usage.code).toBe(1)
    expect(usage.out).toContain('Usage: openorch workspaces <command>')

    const database = await openDatabase<Tables>({ sqlitePath: path.join(dir, 'openorch.db') })
    const trail = await database.db
      .selectFrom('audit_log')
      .select(['tenant_id', 'action', 'actor_type', 'actor_id'])
      .where('target_type', '=', 'workspaces')
      .orderBy('id')
      .execute()
    await database.close()
    const me = os.userInfo().username
    expect(trail).toEqual([
      { tenant_id: id, action: 'workspaces.created', actor_type: 'cli', actor_id: me },
      { tenant_id: 'default', action: 'workspaces.created', actor_type: 'cli', actor_id: me },
      { tenant_id: id, action: 'workspaces.disabled', actor_type: 'cli', actor_id: me },
      { tenant_id: 'default', action: 'workspaces.disabled', actor_type: 'cli', actor_id: me },
      { tenant_id: id, action: 'workspaces.enabled', actor_type: 'cli', actor_id: me },
      { tenant_id: 'default', action: 'workspaces.enabled', actor_type: 'cli', actor_id: me },
    ])
  }, 180_000)
})
