import { createHash } from 'node:crypto'
import { accessSync, constants } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { botFileListSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { chromiumCandidates } from '../tools/browser/browser.ts'
import { botFileSpace } from './bot-files.ts'

// A bot's files through the API (GET /bots/{id}/files[/{name}]), and the screenshot a bot's run takes:
// stored as a bot file by browser_screenshot, fetched back byte for byte with its type.

const key = 'sk-test-0123456789abcdef3456'
const tenantId = 'default'
const hasChromium = chromiumCandidates.some((path) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
})

describe.each(dialects)('a bot’s files through the API on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer | undefined
  let page: http.Server | undefined

  afterEach(async () => {
    await model?.close()
    page?.closeAllConnections()
    await new Promise((resolve) => (page ? page.close(resolve) : resolve(undefined)))
    await t?.close()
  })

  const get = (url: string, key = t.keys.viewer) => t.app.inject({ url, headers: bearer(key) })

  it('lists a bot’s files with their types and serves each as it is: images inline, text as a download', async () => {
    t = await createTestApp(dialect)
    await insertProviderRow(t.database, 'ollama', { defaultModel: 'llama3.2' })
    const bot = await t.bots.service.create(tenantId, { name: 'Keeper', prompt: 'p', provider: 'ollama' })
    const files = botFileSpace(
      { database: t.database, clock: { now: () => 1_700_000_000_000 } },
      tenantId,
      bot.id,
    )
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0xff, 0xfe])
    await files.writeBinary('shot.png', png, 'image/png')
    await files.write('seen.txt', 'offer/1\n<script>alert(1)</script>')
    await files.writeBinary('page.svg', Buffer.from('<svg onload="alert(1)"/>'), 'image/svg+xml')

    const list = await get(`/api/v1/bots/${bot.id}/files`)
    expect(list.statusCode, list.body).toBe(200)
    expect(botFileListSchema.parse(list.json()).items).toEqual([
      { name: 'page.svg', size: 24, contentType: 'image/svg+xml', updatedAt: '2023-11-14T22:13:20.000Z' },
      {
        name: 'seen.txt',
        size: 33,
        contentType: 'text/plain; charset=utf-8',
        updatedAt: '2023-11-14T22:13:20.000Z',
      },
      { name: 'shot.png', size: 14, contentType: 'image/png', updatedAt: '2023-11-14T22:13:20.000Z' },
    ])

    const image = await get(`/api/v1/bots/${bot.id}/files/shot.png`)
    expect(image.statusCode).toBe(200)
    expect(image.rawPayload.equals(png)).toBe(true)
    expect(image.headers).toMatchObject({
      'content-type': 'image/png',
      'x-content-type-options': 'nosniff',
      'content-disposition': 'inline; filename="shot.png"',
      'content-length': '14',
    })
    const text = await get(`/api/v1/bots/${bot.id}/files/seen.txt`)
    expect(text.body).toBe('offer/1\n<script>alert(1)</script>')
    expect(text.headers).toMatchObject({
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'content-disposition': 'attachment; filename="seen.txt"',
    })
    // The route's own sandbox policy is kept by the global headers, which add frame-ancestors to it.
    expect(text.headers['content-security-policy']).toContain("default-src 'none'")
    expect(text.headers['content-security-policy']).toContain('sandbox')
    expect(text.headers['content-security-policy']).toContain("frame-ancestors 'none'")
    // A name of the longest length the files tool allows downloads too (not 414).
    const longName = `${'n'.repeat(196)}.txt`
    await files.write(longName, 'long')
    const long = await get(`/api/v1/bots/${bot.id}/files/${longName}`)
    expect(long.statusCode, long.body).toBe(200)
    expect(long.body).toBe('long')
    // An SVG may carry scripts: it is a download, never shown as this origin's page.
    expect((await get(`/api/v1/bots/${bot.id}/files/page.svg`)).headers['content-disposition']).toBe(
      'attachment; filename="page.svg"',
    )

    for (const name of ['missing.png', '..%2Fx', '.hidden']) {
      const missing = await get(`/api/v1/bots/${bot.id}/files/${name}`)
      expect(missing.statusCode, name).toBe(404)
      expect(missing.json()).toMatchObject({ code: 'file_not_found' })
    }
    // Another workspace sees no such bot; a bot's notes are not its files.
    for (const url of [`/api/v1/bots/${bot.id}/files`, `/api/v1/bots/${bot.id}/files/shot.png`]) {
      const foreign = await get(url, t.keys.otherTenant)
      expect(foreign.statusCode).toBe(404)
      expect(foreign.json()).toMatchObject({ code: 'bot_not_found' })
    }
    await t.bots.notes.put({ tenantId, botId: bot.id }, 'note.md', 'a note')
    expect((await get(`/api/v1/bots/${bot.id}/files/note.md`)).statusCode).toBe(404)
  })

  it.skipIf(!hasChromium)(
    'a run’s browser_screenshot is stored as a bot file: the model gets its name, people its bytes',
    async () => {
      t = await createTestApp(dialect)
      model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
      page = http.createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        response.end(
          '<html><head><title>Shop</title></head><body style="background:#fc0"><h1 id="h"></h1><script>document.getElementById("h").textContent = "Drawn"</script></body></html>',
        )
      })
      await new Promise<void>((resolve) => page!.listen(0, '127.0.0.1', resolve))
      const pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`
      const configured = await t.app.inject({
        method: 'PUT',
        url: '/api/v1/providers/openai',
        headers: bearer(t.keys.admin),
        payload: { apiKey: key, baseUrl: model.baseUrl, defaultModel: 'gpt-4o-mini' },
      })
      expect(configured.statusCode, configured.body).toBe(200)
      t.startKernel()
      const bot = await t.bots.service.create(tenantId, {
        name: 'Watcher',
        prompt: 'Take a screenshot of the shop.',
        provider: 'openai',
        tools: ['browser', 'files'],
        retryDelaySeconds: 0,
      })
      model.setBehaviour({
        type: 'script',
        steps: [
          { type: 'tool_calls', calls: [{ name: 'browser_screenshot', arguments: { url: pageUrl } }] },
          { type: 'tool_calls', calls: [{ name: 'files_list', arguments: {} }] },
          { type: 'success', text: 'Done.' },
        ],
      })
      model.requests.length = 0
      const started = await t.bots.service.runNow(tenantId, bot.id, { trigger: 'manual' })
      if (started.status === 'dropped') throw new Error('dropped')
      const run = await waitFor(
        async () => {
          const current = await t.kernel.runs.get(tenantId, started.run.id)
          return ['completed', 'failed', 'timeout', 'cancelled'].includes(current.status)
            ? current
            : undefined
        },
        { what: 'the run to settle', timeoutMs: 30_000 },
      )
      expect(run.status, JSON.stringify(run.error)).toBe('completed')

      const listed = botFileListSchema.parse((await get(`/api/v1/bots/${bot.id}/files`)).json()).items
      expect(listed).toHaveLength(1)
      const [file] = listed
      expect(file!.name).toMatch(/^screenshot-\d{8}T\d{6}Z-[0-9a-f]{8}\.png$/)
      expect(file!.contentType).toBe('image/png')
      const fetched = await get(`/api/v1/bots/${bot.id}/files/${file!.name}`)
      expect(fetched.statusCode).toBe(200)
      expect(fetched.headers['content-type']).toBe('image/png')
      const png = fetched.rawPayload
      expect(png.length).toBe(file!.size)
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 800])

      // The model was told the file's name, size and hash, and no base64 of it.
      const bodies = model.requests
        .filter((request) => request.path.endsWith('/chat/completions'))
        .map((request) => JSON.stringify(request.body))
      const sha256 = createHash('sha256').update(png).digest('hex')
      expect(bodies[1]).toContain(file!.name)
      expect(bodies[1]).toContain(sha256)
      expect(bodies[1]).not.toContain(png.toString('base64').slice(0, 100))
      // files_list shows it as an image.
      expect(bodies[2]).toContain('image/png')
      // The run's log line of the call names the file, so the run can link it.
      const log = (await get(`/api/v1/runs/${run.id}/log`)).json().items as Array<{
        message: string
        data: Record<string, unknown> | null
      }>
      const line = log.find((entry) => entry.message === 'tool browser_screenshot completed')
      expect(line?.data).toMatchObject({ tool: 'browser_screenshot', file: file!.name })
    },
    60_000,
  )
})
