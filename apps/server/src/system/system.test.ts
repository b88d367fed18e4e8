import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from '../../test/server-process.ts'
import { migrations } from '../migrations/index.ts'

// Issue 16: GET /api/v1/system and the operating modes, on the real server (a child process running
// main.ts), so the mode reaches the worker the way it does in production. Paused: nothing new starts
// and a running run finishes; degraded: only bots of the level's priority start; normal: the rest
// follow. `openorch mode` changes the mode of a running server; on PostgreSQL two processes follow it.

const ownerKey = 'system-owner-key-0123456789abcdef'
const providerKey = 'sk-system-0123456789abcdef'
const bin = path.join(import.meta.dirname, '..', '..', 'bin', 'openorch.mjs')
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

type Call = ReturnType<ReturnType<typeof startServerProcess>['api']>

async function cli(env: Record<string, string>, ...args: string[]) {
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'mode', ...args], {
    env: { ...process.env, OPENORCH_LOG_LEVEL: 'warn', ...env },
  })
  return stdout
}

async function setUp(dialect: (typeof dialects)[number], model: ProviderServer) {
  const env = { ...(await serverDatabaseEnv(dialect, cleanups)), OPENORCH_EGRESS_ALLOW: '127.0.0.1' }
  const server = startServerProcess(env, ownerKey, cleanups)
  const call = server.api(await server.url())
  const configured = await call('PUT', '/providers/openai', {
    apiKey: providerKey,
    baseUrl: model.baseUrl,
    defaultModel: 'gpt-4o-mini',
  })
  expect(configured.status, JSON.stringify(configured.json)).toBe(200)
  const bot = async (name: string, priority: number) => {
    const created = await call('POST', '/bots', {
      name,
      prompt: `${name}: go.`,
      provider: 'openai',
      priority,
    })
    expect(created.status, JSON.stringify(created.json)).toBe(201)
    expect(created.json.priority).toBe(priority)
    return created.json.id as string
  }
  return { env, server, call, bot }
}

const statusOf = async (call: Call, runId: string) =>
  (await call('GET', `/runs/${runId}`)).json.status as string
const start = async (call: Call, botId: string) => {
  const run = await call('POST', `/bots/${botId}/runs`, {})
  expect(run.status, JSON.stringify(run.json)).toBe(202)
  return run.json.id as string
}
const ended = (what: string) => async (call: Call, runId: string) =>
  waitFor(async () => ((await statusOf(call, runId)) === 'completed' ? true : undefined), {
    what,
    timeoutMs: 30_000,
  })

describe.each(dialects)('system and operating modes on %s', (dialect) => {
  it('GET /system tells the build, database, schema, processes and queue; modes gate what starts, audited', async () => {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    cleanups.push(() => model.close())
    const { call, bot } = await setUp(dialect, model)

    const info = (await call('GET', '/system')).json
    expect(info.database.engine).toBe(dialect)
    expect(info.database.version).toMatch(/^\d+\.\d+/)
    expect(info.database.sizeBytes).toBeGreaterThan(0)
    // The tests' PostgreSQL role is an application role the policies bind (scripts/test.mjs).
    expect(info.database.rowLevelSecurity).toBe(dialect === 'postgres' ? 'enforced' : 'unsupported')
    const newest = Object.keys(migrations).sort().at(-1)
    expect(info.schema).toEqual({ version: newest, known: newest, pending: 0 })
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(info.node).toBe(process.version)
    expect(info.processes).toHaveLength(1)
    expect(info.processes[0]).toMatchObject({
      roles: ['api', 'scheduler', 'worker'],
      alive: true,
      self: true,
      pid: expect.any(Number),
    })
    expect(info.mode).toMatchObject({ mode: 'normal', minPriority: null, changedAt: null })
    expect(info.providers).toEqual([{ name: 'openai', status: 'valid', circuit: 'closed' }])
    expect(info.queue).toMatchObject({ due: 0, running: 0, waiting: 0, deadLetters: 0 })

    const low = await bot('Low', 0)
    const high = await bot('High', 5)

    // Paused: a run already going finishes; nothing new starts, and the queue says so.
    model.setBehaviour({ type: 'slow', delayMs: 2_000 })
    const going = await start(call, low)
    await waitFor(async () => ((await statusOf(call, going)) === 'running' ? true : undefined), {
      what: 'the first run to start',
    })
    const paused = await call('PUT', '/system/mode', { mode: 'paused', reason: 'Database maintenance' })
    expect(paused.status, JSON.stringify(paused.json)).toBe(200)
    expect(paused.json).toMatchObject({ mode: 'paused', minPriority: null, reason: 'Database maintenance' })
    expect(paused.json.changedBy.type).toBe('api_key')
    model.setBehaviour({ type: 'success', text: 'done' })
    const lowRun = await start(call, low)
    const highRun = await start(call, high)
    await ended('the run that was going when the mode paused')(call, going)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(await statusOf(call, lowRun)).toBe('pending')
    expect(await statusOf(call, highRun)).toBe('pending')
    const whilePaused = (await call('GET', '/system')).json
    expect(whilePaused.mode.mode).toBe('paused')
    expect(whilePaused.queue.due).toBe(2)
    expect(whilePaused.queue.oldestDueSeconds).toBeGreaterThan(0)

    // Degraded at 1: the priority-5 bot starts, the priority-0 one keeps waiting.
    const degraded = await call('PUT', '/system/mode', { mode: 'degraded', minPriority: 1 })
    expect(degraded.json).toMatchObject({ mode: 'degraded', minPriority: 1 })
    await ended('the high-priority run in the degraded mode')(call, highRun)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(await statusOf(call, lowRun)).toBe('pending')

    // Normal: the rest follows.
    expect((await call('PUT', '/system/mode', { mode: 'normal' })).json.mode).toBe('normal')
    await ended('the low-priority run back in the normal mode')(call, lowRun)
    expect((await call('GET', '/system/mode')).json.mode).toBe('normal')

    // A level without the degraded mode, and an unknown mode, are refused with words.
    const wrong = await call('PUT', '/system/mode', { mode: 'paused', minPriority: 3 })
    expect(wrong.status).toBe(400)
    expect(wrong.json.detail).toMatch(/degraded mode only/)
    expect((await call('PUT', '/system/mode', { mode: 'asleep' })).status).toBe(400)
    // A reason is one line of plain text: terminal escapes and bidi controls are refused, naming them.
    for (const reason of ['\u001b]0;pwned\u0007\u001b[2J', 'all good \u202E', 'two\nlines']) {
      const refused = await call('PUT', '/system/mode', { mode: 'paused', reason })
      expect(refused.status, JSON.stringify(reason)).toBe(400)
      expect(refused.json.errors).toEqual([expect.objectContaining({ field: 'reason' })])
    }

    // Every change is in the audit trail with what it changed from and to.
    const audit = (await call('GET', '/audit?action=system.mode_changed&limit=10')).json.items as Array<{
      action: string
      details: { from: string; to: string; minPriority: number | null; reason: string | null }
    }>
    const changes = audit.filter((entry) => entry.action === 'system.mode_changed').map((e) => e.details)
    expect(changes.reverse()).toEqual([
      { from: 'normal', to: 'paused', minPriority: null, reason: 'Database maintenance' },
      { from: 'paused', to: 'degraded', minPriority: 1, reason: null },
      { from: 'degraded', to: 'normal', minPriority: null, reason: null },
    ])
  }, 240_000)

  it('openorch mode changes the mode of a running server and shows it', async () => {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    cleanups.push(() => model.close())
    const { env, call, bot } = await setUp(dialect, model)
    const botId = await bot('Quiet', 0)

    expect(await cli(env, 'paused', '--reason', 'Moving servers')).toMatch(/Operating mode: paused/)
    await waitFor(
      async () => ((await call('GET', '/system/mode')).json.mode === 'paused' ? true : undefined),
      {
        what: 'the server to follow the command line',
        timeoutMs: 10_000,
      },
    )
    const runId = await start(call, botId)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(await statusOf(call, runId)).toBe('pending')
    const shown = JSON.parse(await cli(env, '--json'))
    expect(shown).toMatchObject({ mode: 'paused', reason: 'Moving servers', changedBy: { type: 'cli' } })

    await expect(cli(env, 'degraded', '--min-priority', 'high')).rejects.toThrow(/whole number/)
    await expect(cli(env, 'paused', '--reason', '\u001b[2Jall good')).rejects.toThrow(/U\+001B/)
    await cli(env, 'normal')
    await ended('the run once the command line set the mode back to normal')(call, runId)
  }, 240_000)
})

describe.skipIf(!dialects.includes('postgres'))('operating mode across two processes on PostgreSQL', () => {
  it('a pause set through one process stops claims in both; GET /system lists both processes', async () => {
    const model = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      chunkDelayMs: 0,
    })
    cleanups.push(() => model.close())
    const { env, call, bot } = await setUp('postgres', model)
    startServerProcess({ ...env, OPENORCH_ROLES: 'worker,scheduler' }, ownerKey, cleanups)
    const listed = await waitFor(
      async () => {
        const processes = (await call('GET', '/system')).json.processes as Array<{
          roles: string[]
          self: boolean
        }>
        return processes.length === 2 ? processes : undefined
      },
      { what: 'the second process in GET /system', timeoutMs: 90_000 },
    )
    expect(listed.map((p) => [p.roles.join(','), p.self]).sort()).toEqual([
      ['api,scheduler,worker', true],
      ['worker,scheduler', false],
    ])

    expect((await call('PUT', '/system/mode', { mode: 'paused' })).status).toBe(200)
    const botId = await bot('Many', 0)
    const runs = []
    for (let i = 0; i < 6; i++) runs.push(await start(call, botId))
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    for (const runId of runs) expect(await statusOf(call, runId)).toBe('pending')

    expect((await call('PUT', '/system/mode', { mode: 'normal' })).status).toBe(200)
    for (const runId of runs) await ended('every run once normal again')(call, runId)
  }, 240_000)
})

describe.each(dialects)('the operating mode seen from another workspace on %s', (dialect) => {
  it("shows other workspaces the mode but not the operators' reason or who changed it", async () => {
    const t = await createTestApp(dialect)
    try {
      const as = (key: string, method: 'GET' | 'PUT', body?: object) =>
        t.app.inject({
          method,
          url: '/api/v1/system/mode',
          headers: { authorization: `Bearer ${key}` },
          ...(body ? { payload: body } : {}),
        })
      const set = await as(t.keys.owner, 'PUT', {
        mode: 'paused',
        reason: 'Moving the database to new disks',
      })
      expect(set.statusCode).toBe(200)
      expect((await as(t.keys.viewer, 'GET')).json()).toMatchObject({
        mode: 'paused',
        reason: 'Moving the database to new disks',
        changedBy: { type: 'api_key' },
      })
      const other = (await as(t.keys.otherTenant, 'GET')).json()
      expect(other).toMatchObject({ mode: 'paused', reason: null, changedBy: null })
      expect(JSON.stringify(other)).not.toContain('disks')
    } finally {
      await t.close()
    }
  })
})
