import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { waitFor } from '../../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../../test/provider-servers/index.ts'
import type { Run } from '../../runs/run.types.ts'
import { type HttpMcpServer, startHttpMcpServer, stdioServerScript } from './mcp-test-servers.ts'

// MCP servers' tools called by a bot, end to end: a real Streamable HTTP server and a real stdio
// program (both built with the SDK), the OpenAI stand-in scripting the model's calls. A server that
// crashes, hangs or answers megabytes fails that call (told to the model), never the orchestrator.

const key = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.each(dialects)('MCP tools in runs on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  let mcp: HttpMcpServer | undefined
  let tempDir: string | undefined
  let captured: ReturnType<typeof createCapturingLog>

  async function setUp(options: { stdio?: boolean } = {}) {
    captured = createCapturingLog()
    t = await createTestApp(dialect, {
      mcp: { stdio: options.stdio ?? false, callTimeoutMs: 1500 },
      log: captured.log,
    })
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.requests.length = 0
    t.startKernel()
  }
  afterEach(async () => {
    await model?.close()
    await mcp?.close()
    mcp = undefined
    await t?.close()
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true })
    tempDir = undefined
  })

  const register = async (body: Record<string, unknown>, keyOf: 'admin' | 'owner' = 'admin') => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/mcp-servers',
      headers: bearer(t.keys[keyOf]),
      payload: body,
    })
    expect(created.statusCode, created.body).toBe(201)
    return created.json() as { id: string; name: string }
  }
  const createBot = (tools: string[]) =>
    t.bots.service.create(tenantId, {
      name: 'MCP bot',
      prompt: 'Use the tools.',
      provider: 'openai',
      tools,
      retryDelaySeconds: 0,
    })
  const run = async (botId: string): Promise<Run> => {
    const result = await t.bots.service.runNow(tenantId, botId, { trigger: 'manual' })
    if (result.status === 'dropped') throw new Error('dropped')
    return waitFor(
      async () => {
        const current = await t.kernel.runs.get(tenantId, result.run.id)
        return ['completed', 'failed', 'timeout', 'cancelled'].includes(current.status) ? current : undefined
      },
      { what: 'the run to settle' },
    )
  }
  const chatBodies = () =>
    model.requests.filter((r) => r.path.endsWith('/chat/completions')).map((r) => JSON.stringify(r.body))
  const logOf = async (id: string) =>
    (await t.app.inject({ url: `/api/v1/runs/${id}/log`, headers: bearer(t.keys.viewer) })).json()
      .items as Array<{ level: string; message: string; data: Record<string, unknown> | null }>
  const script = (...calls: Array<Array<{ name: string; arguments: unknown }>>) =>
    model.setBehaviour({
      type: 'script',
      steps: [
        ...calls.map((c) => ({ type: 'tool_calls' as const, calls: c })),
        { type: 'success', text: 'Done.' },
      ],
    })

  it('offers an http server’s tools to the model and calls them; bad arguments and broken schemas stay ours', async () => {
    await setUp()
    mcp = await startHttpMcpServer()
    await register({ name: 'crm', transport: 'http', url: mcp.url, enabled: true, headers: { 'X-Key': 'k' } })
    const bot = await createBot(['web', 'mcp:crm'])
    script([
      { name: 'mcp_crm__echo', arguments: { text: 'hello Anna' } },
      { name: 'mcp_crm__add', arguments: { a: 2, b: 40 } },
      { name: 'mcp_crm__echo', arguments: { text: 42 } },
    ])
    const done = await run(bot.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    const [first, second] = chatBodies()
    // Prefixed names, converted schemas ($ref inlined, $schema gone); the recursive one is not offered.
    expect(first).toContain('"mcp_crm__echo"')
    expect(first).toContain('"http_fetch"')
    expect(first).not.toContain('"mcp_crm__recursive"')
    expect(first).not.toContain('$ref')
    expect(first).not.toContain('json-schema.org')
    expect(second).toContain('echo: hello Anna')
    expect(second).toContain('\\"sum\\":42')
    // The argument that does not match the schema went back to the model, not to the server.
    expect(second).toContain('tool_arguments_invalid')
    // The calls of one step run at the same time: they may reach the server in either order.
    expect([...mcp.calls].sort()).toEqual(['add', 'echo'])
    expect(
      captured
        .lines()
        .some((line) => line.msg === 'mcp tool skipped: its argument schema cannot be offered to the models'),
    ).toBe(true)
    const log = await logOf(done.id)
    expect(log.map((line) => line.message)).toContain('tool mcp_crm__echo completed')

    // GET /tools lists the set with its functions.
    const sets = (await t.app.inject({ url: '/api/v1/tools', headers: bearer(t.keys.viewer) })).json()
      .items as Array<{
      name: string
      functions: Array<{ name: string }>
    }>
    const crm = sets.find((set) => set.name === 'mcp:crm')
    expect(crm?.functions.map((fn) => fn.name)).toEqual([
      'mcp_crm__echo',
      'mcp_crm__add',
      'mcp_crm__hang',
      'mcp_crm__crash',
      'mcp_crm__huge',
    ])
  })

  it('refreshes the tool list on list_changed', async () => {
    await setUp()
    mcp = await startHttpMcpServer()
    const server = await register({ name: 'crm', transport: 'http', url: mcp.url, enabled: true })
    const view = async () =>
      (
        await t.app.inject({ url: `/api/v1/mcp-servers/${server.id}`, headers: bearer(t.keys.admin) })
      ).json() as {
        tools: Array<{ name: string }>
      }
    expect((await view()).tools.map((tool) => tool.name)).not.toContain('new_tool')
    mcp.setExtraTools([
      { name: 'new_tool', description: 'New.', inputSchema: { type: 'object', properties: {} } },
    ])
    await waitFor(async () => (await view()).tools.some((tool) => tool.name === 'new_tool'), {
      what: 'the new tool to be listed',
    })
    const bot = await createBot(['mcp:crm'])
    script([{ name: 'mcp_crm__new_tool', arguments: {} }])
    expect((await run(bot.id)).status).toBe('completed')
    expect(chatBodies()[1]).toContain('new_tool done')
  })

  it('fails only the call when the http server crashes, hangs or answers megabytes', async () => {
    await setUp()
    mcp = await startHttpMcpServer()
    await register({ name: 'crm', transport: 'http', url: mcp.url, enabled: true })
    const bot = await createBot(['mcp:crm'])
    script(
      [{ name: 'mcp_crm__crash', arguments: {} }],
      [{ name: 'mcp_crm__hang', arguments: {} }],
      [{ name: 'mcp_crm__huge', arguments: {} }],
      [{ name: 'mcp_crm__echo', arguments: { text: 'still here' } }],
    )
    const done = await run(bot.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    const bodies = chatBodies()
    expect(bodies[1]).toContain('mcp_failed')
    expect(bodies[2]).toContain('mcp_timeout')
    expect(bodies[3]).toMatch(/mcp_failed[^"]*larger than/)
    expect(bodies[4]).toContain('echo: still here')
    const log = await logOf(done.id)
    expect(log.filter((line) => line.message.endsWith('failed')).map((line) => line.data?.error)).toEqual([
      expect.objectContaining({ code: 'mcp_failed' }),
      expect.objectContaining({ code: 'mcp_timeout' }),
      expect.objectContaining({ code: 'mcp_failed' }),
    ])
  }, 30_000)

  it('runs a stdio server for the run with a clean environment, and stops its process group when the run ends', async () => {
    await setUp({ stdio: true })
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-mcp-'))
    const starts = path.join(tempDir, 'starts')
    const secret = 'stdio-secret-0123456789abcdefXYZ'
    const server = await register(
      {
        name: 'local',
        transport: 'stdio',
        command: process.execPath,
        args: [stdioServerScript],
        env: { STARTS_FILE: starts, SECRET_TOKEN: secret },
      },
      'owner',
    )
    const bot = await createBot(['mcp:local'])
    // Not enabled: the run offers nothing of it and nothing is started.
    model.setBehaviour({ type: 'success', text: 'Nothing to do.' })
    expect((await run(bot.id)).status).toBe('completed')
    expect(chatBodies()[0]).not.toContain('mcp_local__')
    expect(fs.existsSync(starts)).toBe(false)

    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/mcp-servers/${server.id}`,
      headers: bearer(t.keys.owner),
      payload: { enabled: true },
    })
    model.requests.length = 0
    script(
      [
        { name: 'mcp_local__env', arguments: {} },
        { name: 'mcp_local__grandchild', arguments: {} },
      ],
      [{ name: 'mcp_local__pid', arguments: {} }],
    )
    const done = await run(bot.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    const bodies = chatBodies()
    // Only its own variables and PATH.
    expect(bodies[1]).toContain('PATH,SECRET_TOKEN,STARTS_FILE')
    expect(bodies[1]).not.toContain('HOME')
    const grandchild = Number(
      /"text\\":\\"(\d+)\\"/.exec(bodies[1]!.slice(bodies[1]!.indexOf('grandchild')))?.[1],
    )
    const pid = Number(/\\"text\\":\\"(\d+)\\"/.exec(bodies[2]!)?.[1])
    expect(pid).toBeGreaterThan(0)
    // One child for the run (listing used the cache or a short-lived one), stopped with its group.
    await waitFor(() => !alive(pid), { what: 'the stdio server to stop' })
    if (grandchild > 0) await waitFor(() => !alive(grandchild), { what: 'its process group to stop' })
    // Its stderr reached the log, without the secret.
    const stderr = captured.lines().filter((line) => line.msg === 'mcp server stderr')
    expect(stderr.length).toBeGreaterThan(0)
    expect(JSON.stringify(captured.lines())).not.toContain(secret)
  }, 30_000)

  it('fails only the call when the stdio program crashes or hangs, and follows its list_changed', async () => {
    await setUp({ stdio: true })
    const server = await register(
      {
        name: 'local',
        transport: 'stdio',
        command: process.execPath,
        args: [stdioServerScript],
        enabled: true,
      },
      'owner',
    )
    const bot = await createBot(['mcp:local'])
    script(
      [{ name: 'mcp_local__hang', arguments: {} }],
      [{ name: 'mcp_local__crash', arguments: {} }],
      [{ name: 'mcp_local__echo', arguments: { text: 'again' } }],
      [{ name: 'mcp_local__change', arguments: {} }],
    )
    const done = await run(bot.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    const bodies = chatBodies()
    expect(bodies[1]).toContain('mcp_timeout')
    expect(bodies[2]).toMatch(/mcp_failed[^"]*exited with code 3/)
    // The run's next call starts it again.
    expect(bodies[3]).toContain('echo: again')
    expect(bodies[4]).toContain('changed')
    // list_changed from the run's child refreshed the cached list.
    const view = async () =>
      (await t.app.inject({ url: '/api/v1/mcp-servers', headers: bearer(t.keys.admin) })).json().items[0] as {
        id: string
        tools: Array<{ name: string }>
      }
    expect((await view()).id).toBe(server.id)
    await waitFor(async () => (await view()).tools.some((tool) => tool.name === 'added'), {
      what: 'the added tool to be cached',
    })
  }, 30_000)
})
