import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { toolSetListSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import type { Run } from '../runs/run.types.ts'

const key = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'

/** A local shop: a listing of offers (changeable), a slow page, and a page that never answers. */
async function startShop() {
  let offers = ['Nike Air Max 90 — 35 €', 'Adidas Samba — 55 €']
  let inFlight = 0
  let maxInFlight = 0
  const aborted: string[] = []
  const server = http.createServer((request, response) => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    response.on('close', () => {
      inFlight--
      if (!response.writableFinished) aborted.push(request.url ?? '')
    })
    if (request.url === '/hang') return
    if (request.url === '/rendered') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      response.end(
        '<html><head><title>Rendered</title></head><body><div id="app"></div><script>document.getElementById("app").textContent = "Drawn by script"</script></body></html>',
      )
      return
    }
    const send = () => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      response.end(
        `<html><head><title>Sneaker shop</title><script>var secret = 'not for the model'</script></head><body><h1>Offers</h1><ul>${offers
          .map((offer, i) => `<li class="offer"><a href="/offer/${i}">${offer}</a></li>`)
          .join('')}</ul></body></html>`,
      )
    }
    if (request.url === '/slow') setTimeout(send, 300)
    else send()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    setOffers: (next: string[]) => {
      offers = next
    },
    maxInFlight: () => maxInFlight,
    aborted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

describe.each(dialects)('bots with tools on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer
  let shop: Awaited<ReturnType<typeof startShop>>

  async function setUp() {
    t = await createTestApp(dialect)
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    shop = await startShop()
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
    await shop?.close()
    await t?.close()
  })

  const createBot = (fields: Record<string, unknown> = {}) =>
    t.bots.service.create(tenantId, {
      name: 'Scout',
      prompt: 'Look for new offers of Nike Air Max 90 under 40 €.',
      provider: 'openai',
      tools: ['web'],
      retryDelaySeconds: 0,
      ...fields,
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
  const logOf = async (id: string) =>
    (await t.app.inject({ url: `/api/v1/runs/${id}/log`, headers: bearer(t.keys.viewer) })).json()
      .items as Array<{ level: string; message: string; data: Record<string, unknown> | null }>
  const chatBodies = () =>
    model.requests.filter((r) => r.path.endsWith('/chat/completions')).map((r) => JSON.stringify(r.body))

  it('reads the shop through http_fetch, sends the page back, and answers; every call logged and counted', async () => {
    await setUp()
    const bot = await createBot()
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'tool_calls', calls: [{ name: 'http_fetch', arguments: { url: `${shop.url}/` } }] },
        { type: 'success', text: 'New: Nike Air Max 90 for 35 €.' },
      ],
    })
    const done = await run(bot.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    expect(done.output).toEqual({ text: 'New: Nike Air Max 90 for 35 €.' })
    // Two model calls, both counted: 12 + 12 tokens in, 5 + 5 out (the stand-ins' default usage).
    expect(done.result).toMatchObject({ tokensIn: 24, tokensOut: 10, isNew: true })
    const usage = await t.database.db
      .selectFrom('usage_records')
      .select(['call', 'tokens_in'])
      .where('run_id', '=', done.id)
      .orderBy('call')
      .execute()
    expect(usage).toEqual([
      { call: 0, tokens_in: 12 },
      { call: 1, tokens_in: 12 },
    ])
    // The first request offered the web functions; the second carried the page as the tool's result.
    const [first, second] = chatBodies()
    expect(first).toContain('"http_fetch"')
    expect(first).toContain('"extract_html"')
    expect(second).toContain('Nike Air Max 90')
    expect(second).toContain('Sneaker shop')
    expect(second).not.toContain('not for the model')
    const log = await logOf(done.id)
    const call = log.find((line) => line.message === 'tool http_fetch completed')
    expect(call).toMatchObject({
      level: 'info',
      data: { tool: 'http_fetch', arguments: { url: `${shop.url}/` } },
    })
    expect(call!.data!.resultChars).toEqual(expect.any(Number))
    expect(log.map((line) => line.message)).toContain('tools done')

    // The same answer again: nothing new.
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'tool_calls', calls: [{ name: 'http_fetch', arguments: { url: `${shop.url}/` } }] },
        { type: 'success', text: 'New: Nike Air Max 90 for 35 €.' },
      ],
    })
    expect((await run(bot.id)).result).toMatchObject({ isNew: false })
  })

  it('the scout: reads the shop, keeps what it saw in a file, and isNew follows what is new', async () => {
    await setUp()
    const bot = await createBot({ tools: ['web', 'files'] })
    const scoutRun = async (answer: string, seen: string) => {
      model.setBehaviour({
        type: 'script',
        steps: [
          {
            type: 'tool_calls',
            calls: [
              { name: 'files_read', arguments: { name: 'seen.txt' } },
              { name: 'http_fetch', arguments: { url: `${shop.url}/` } },
            ],
          },
          {
            type: 'tool_calls',
            calls: [{ name: 'files_write', arguments: { name: 'seen.txt', content: seen } }],
          },
          { type: 'success', text: answer },
        ],
      })
      model.requests.length = 0
      const done = await run(bot.id)
      expect(done.status, JSON.stringify(done.error)).toBe('completed')
      return done
    }
    const first = await scoutRun('New: Nike Air Max 90 — 35 €', 'offer/0\noffer/1')
    expect(first.result).toMatchObject({ isNew: true })
    // The first run found no file yet: the model was told so, and went on.
    expect(chatBodies()[1]).toContain('file_not_found')
    // The shop did not change: the bot reads what it saw before, and has nothing new to say.
    const second = await scoutRun('Nothing new.', 'offer/0\noffer/1')
    expect(chatBodies()[1]).toContain('offer/1')
    expect(chatBodies()[1]).not.toContain('file_not_found')
    expect(second.result).toMatchObject({ isNew: true })
    const third = await scoutRun('Nothing new.', 'offer/0\noffer/1')
    expect(third.result).toMatchObject({ isNew: false })
    shop.setOffers(['Nike Air Max 90 — 35 €', 'Adidas Samba — 55 €', 'Nike Air Max 90 — 29 €'])
    const fourth = await scoutRun('New: Nike Air Max 90 — 29 €', 'offer/0\noffer/1\noffer/2')
    expect(chatBodies()[1]).toContain('29 €')
    expect(fourth.result).toMatchObject({ isNew: true })
    // The file is the bot's, in the database: the API's notes are not where it is.
    const stored = await t.database.db
      .selectFrom('bot_files')
      .select(['space', 'name', 'content'])
      .where('bot_id', '=', bot.id)
      .execute()
    expect(stored).toEqual([{ space: 'files', name: 'seen.txt', content: 'offer/0\noffer/1\noffer/2' }])
  })

  it('tells the model what a tool refused, and goes on: private addresses, unknown tools, bad arguments', async () => {
    await setUp()
    const bot = await createBot()
    // As a page might ask the model to: reach the cloud metadata, delete files the bot cannot touch.
    model.setBehaviour({
      type: 'script',
      steps: [
        {
          type: 'tool_calls',
          calls: [
            { name: 'http_fetch', arguments: { url: 'http://169.254.169.254/latest/meta-data/' } },
            { name: 'files_delete', arguments: { name: 'seen.json' } },
            { name: 'http_fetch', arguments: { address: 'nowhere' } },
          ],
        },
        { type: 'success', text: 'I could not do that.' },
      ],
    })
    const done = await run(bot.id)
    expect(done.status).toBe('completed')
    const second = chatBodies()[1]!
    expect(second).toContain('egress_refused')
    expect(second).toContain('tool_unknown')
    expect(second).toContain('tool_arguments_invalid')
    const failed = (await logOf(done.id)).filter((line) => line.message.endsWith(' failed'))
    expect(failed.map((line) => (line.data!.error as { code: string }).code).sort()).toEqual([
      'egress_refused',
      'tool_arguments_invalid',
      'tool_unknown',
    ])
    expect(failed.every((line) => line.level === 'warn')).toBe(true)
  })

  it('computes with run_code in the sandbox, where the host (process, require, fetch) does not exist', async () => {
    await setUp()
    const bot = await createBot({ tools: ['code'] })
    model.setBehaviour({
      type: 'script',
      steps: [
        {
          type: 'tool_calls',
          calls: [
            {
              name: 'run_code',
              arguments: {
                code: 'input.prices.filter((p) => p < 40).length',
                input: { prices: [35, 55, 29] },
              },
            },
            {
              name: 'run_code',
              arguments: { code: 'typeof process + "/" + typeof require + "/" + typeof fetch' },
            },
          ],
        },
        { type: 'success', text: 'Two offers under 40 €.' },
      ],
    })
    expect((await run(bot.id)).status).toBe('completed')
    const second = chatBodies()[1]!
    expect(second).toMatch(/"result\\?":2/)
    expect(second).toContain('undefined/undefined/undefined')
  })

  it('opens a page in the browser, whose content only exists once its script ran', async () => {
    await setUp()
    const bot = await createBot({ tools: ['browser'] })
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'tool_calls', calls: [{ name: 'browser_open', arguments: { url: `${shop.url}/rendered` } }] },
        { type: 'success', text: 'Rendered.' },
      ],
    })
    const done = await run(bot.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    expect(chatBodies()[1]).toContain('Drawn by script')
  })

  it('runs the calls of one step at the same time', async () => {
    await setUp()
    const bot = await createBot()
    model.setBehaviour({
      type: 'script',
      steps: [
        {
          type: 'tool_calls',
          calls: [
            { name: 'http_fetch', arguments: { url: `${shop.url}/slow` } },
            {
              name: 'extract_html',
              arguments: { url: `${shop.url}/slow`, selectors: { offers: '.offer a' } },
            },
          ],
        },
        { type: 'success', text: 'Two offers.' },
      ],
    })
    expect((await run(bot.id)).status).toBe('completed')
    expect(shop.maxInFlight()).toBe(2)
    expect(chatBodies()[1]).toContain('Adidas Samba')
  })

  it('fails a run whose model keeps asking for tools past maxToolIterations, without retrying it', async () => {
    await setUp()
    const bot = await createBot({ maxToolIterations: 2, maxRetries: 2 })
    model.setBehaviour({
      type: 'tool_calls',
      calls: [{ name: 'http_fetch', arguments: { url: `${shop.url}/` } }],
    })
    const done = await run(bot.id)
    expect(done).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'tool_iterations_exceeded' } })
    expect(done.error!.message).toMatch(/after 2 rounds/)
    // Three model calls: two rounds of tools, then the third asked again.
    expect(chatBodies()).toHaveLength(3)
  })

  it('stops a tool at once when the run is cancelled', async () => {
    await setUp()
    const bot = await createBot()
    model.setBehaviour({
      type: 'script',
      steps: [
        { type: 'tool_calls', calls: [{ name: 'http_fetch', arguments: { url: `${shop.url}/hang` } }] },
        { type: 'success', text: 'never' },
      ],
    })
    const started = await t.bots.service.runNow(tenantId, bot.id, { trigger: 'manual' })
    if (started.status === 'dropped') throw new Error('dropped')
    await waitFor(() => shop.aborted.length === 0 && shop.maxInFlight() >= 1, { what: 'the tool to start' })
    await t.kernel.runs.cancel(tenantId, started.run.id)
    await waitFor(() => shop.aborted.includes('/hang'), { what: 'the hanging fetch to be aborted' })
    expect((await t.kernel.runs.get(tenantId, started.run.id)).status).toBe('cancelled')
    expect(chatBodies()).toHaveLength(1)
  })

  it('lists the tool sets, and refuses a bot naming one that does not exist', async () => {
    await setUp()
    const listed = await t.app.inject({ url: '/api/v1/tools', headers: bearer(t.keys.viewer) })
    expect(listed.statusCode).toBe(200)
    const { items } = toolSetListSchema.parse(listed.json())
    const web = items.find((set) => set.name === 'web')!
    expect(web.functions.map((fn) => fn.name)).toEqual(['http_fetch', 'extract_html'])
    expect(web.functions[0]!.inputSchema).toMatchObject({ type: 'object', required: ['url'] })
    expect((await t.app.inject({ url: '/api/v1/tools' })).statusCode).toBe(401)

    const refused = await t.app.inject({
      method: 'POST',
      url: '/api/v1/bots',
      headers: bearer(t.keys.editor),
      payload: { name: 'X', prompt: 'p', provider: 'openai', tools: ['web', 'telepathy'] },
    })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().detail).toContain('"telepathy"')
    expect(refused.json().errors).toEqual([expect.objectContaining({ field: 'tools' })])
    const bot = await createBot({ tools: ['web'], maxToolIterations: 3 })
    expect(bot).toMatchObject({ tools: ['web'], maxToolIterations: 3 })
    const exported = (
      await t.app.inject({ url: `/api/v1/bots/${bot.id}/export`, headers: bearer(t.keys.viewer) })
    ).json()
    expect(exported.bot).toMatchObject({ tools: ['web'], maxToolIterations: 3 })
    const patched = await t.bots.service.update(tenantId, bot.id, { tools: [] })
    expect(patched.tools).toEqual([])
  })
})
