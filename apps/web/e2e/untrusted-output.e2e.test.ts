import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../server/test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../server/test/provider-servers/index.ts'

// Issue 11, items 11 and 14, in Chromium against a real server (SQLite in a temp dir, its own
// process) and the local OpenAI stand-in:
// - a bot whose model answers with the review's fake full-screen "session expired" panel: on the run
//   page the output stays inside its box, the navigation stays visible and clickable, and even HTML
//   that got past the sanitiser (put there by the test) cannot be positioned outside the box;
// - /docs renders and works with its CSP (no violation), and no page can frame it.
// Without Chromium the tests are skipped, loudly; under CI=true that is a failure.

const chromiumPath = process.env.OPENORCH_CHROMIUM ?? '/usr/bin/chromium'
const hasChromium = fs.existsSync(chromiumPath)
const isCi = process.env.CI === 'true' || process.env.CI === '1'
const repo = path.resolve(import.meta.dirname, '../../..')
const apiKey = 'e2e-untrusted-output-key-1234567890'
const providerKey = 'sk-e2e-untrusted-1234567890'

/** The model's answer: the dashboard's own utility classes drawing a panel over the whole page. */
const phishingAnswer =
  'Here is your report.\n\n<div class="fixed inset-0 z-50 flex items-center justify-center bg-white dark:bg-slate-950">' +
  '<div class="rounded-lg bg-white p-8 shadow-xl"><h2 class="text-lg font-semibold">Session expired</h2>' +
  '<p>Please <a href="https://evil.example/login" class="underline">sign in</a> again.</p></div></div>'

if (!hasChromium) {
  const message = `Chromium not found at ${chromiumPath}: the untrusted-output e2e tests are SKIPPED. Install it with \`apt-get install -y chromium\`.`
  if (isCi)
    describe('untrusted output e2e', () => {
      it('needs Chromium under CI', () => {
        throw new Error(message)
      })
    })
  else console.warn(`\n*** ${message}\n`)
}

describe.skipIf(!hasChromium)('untrusted output and the docs UI in Chromium (real server)', () => {
  let server: ChildProcess
  let out = ''
  let url = ''
  let provider: ProviderServer
  let browser: Browser
  let dataDir: string

  const api = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const json = (await response.json()) as Record<string, unknown>
    if (response.status >= 300)
      throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(json)}`)
    return json
  }

  /** Console errors and CSP violations of the page, one line each. */
  function watch(page: Page): string[] {
    const problems: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text())
    })
    page.on('pageerror', (error) => problems.push(error.message))
    void page.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) => {
        // zod 4 probes once whether it may compile validators (`Function('')` in a try) and falls
        // back when the CSP says no: expected, not a problem of the page.
        if (e.violatedDirective === 'script-src' && e.blockedURI === 'eval') return
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`)
      }),
    )
    return problems
  }

  beforeAll(async () => {
    const built = spawnSync(process.execPath, [path.join(repo, 'apps/web/scripts/build.mjs'), '--if-stale'], {
      encoding: 'utf8',
    })
    if (built.status !== 0) throw new Error(`dashboard build failed: ${built.stderr}`)
    provider = await startProviderServer('openai', {
      apiKey: providerKey,
      models: ['gpt-4o-mini'],
      behaviour: { type: 'success', text: phishingAnswer },
    })
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-e2e-output-'))
    server = spawn(process.execPath, [path.join(repo, 'apps/server/bin/openorch.mjs'), 'start'], {
      env: {
        ...process.env,
        OPENORCH_DATA_DIR: dataDir,
        OPENORCH_API_KEY: apiKey,
        PORT: '0',
        HOST: '127.0.0.1',
        OPENORCH_LOG_LEVEL: 'warn',
        DATABASE_URL: '',
        // The stand-in listens on loopback.
        OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    server.stdout!.on('data', (chunk) => {
      out += chunk
    })
    server.stderr!.on('data', (chunk) => {
      out += chunk
    })
    await waitFor(() => /running at (http:\/\/\S+)/.exec(out)?.[1], { what: 'the server', timeoutMs: 30_000 })
    url = /running at (http:\/\/\S+)/.exec(out)![1]!
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((resolve) => server.once('exit', resolve))
    }
    await provider?.close()
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it('keeps a run output that draws a full-screen "session expired" panel inside its box, the page usable', async () => {
    await api('PUT', '/providers/openai', { apiKey: providerKey, baseUrl: provider.baseUrl })
    const bot = await api('POST', '/bots', {
      name: 'Report',
      prompt: 'Write the report.',
      provider: 'openai',
      model: 'gpt-4o-mini',
    })
    const run = await api('POST', `/bots/${bot.id}/runs`)
    await waitFor(async () => (await api('GET', `/runs/${run.id}`)).status === 'completed', {
      what: 'the run to complete',
      timeoutMs: 30_000,
    })

    const context = await browser.newContext({ baseURL: url, viewport: { width: 1280, height: 860 } })
    await context.addInitScript((key) => {
      if (location.protocol === 'http:' && !sessionStorage.getItem('openorch.session'))
        sessionStorage.setItem('openorch.session', JSON.stringify({ kind: 'apiKey', apiKey: key }))
    }, apiKey)
    const page = await context.newPage()
    const problems = watch(page)
    await page.goto(`/runs/${run.id}`)
    const output = page.getByTestId('run-output')
    await output.getByText('Session expired').waitFor()

    const facts = await output.evaluate((box) => {
      const outer = box.getBoundingClientRect()
      const inside = Array.from(box.querySelectorAll('*'))
      const escaped = inside
        .map((el) => ({ tag: el.tagName, rect: el.getBoundingClientRect() }))
        .filter(
          ({ rect }) =>
            rect.left < outer.left - 1 ||
            rect.top < outer.top - 1 ||
            rect.right > outer.right + 1 ||
            rect.bottom > outer.bottom + 1,
        )
        .map(({ tag }) => tag)
      const style = getComputedStyle(box)
      return {
        html: box.innerHTML,
        attributes: [...new Set(inside.flatMap((el) => el.getAttributeNames()))].sort(),
        positioned: inside.filter((el) => getComputedStyle(el).position !== 'static').map((el) => el.tagName),
        escaped,
        contain: style.contain,
        isolation: style.isolation,
        coversViewport: outer.width >= innerWidth && outer.height >= innerHeight,
      }
    })
    expect(facts).toEqual({
      html: expect.stringContaining(
        '<h2>Session expired</h2><p>Please <a href="https://evil.example/login" target="_blank" rel="noopener noreferrer nofollow">sign in</a> again.</p>',
      ),
      attributes: ['href', 'rel', 'target'],
      positioned: [],
      escaped: [],
      contain: 'content',
      isolation: 'isolate',
      coversViewport: false,
    })
    // The navigation is what the top-left of the page shows, and it still works.
    const nav = page.getByRole('link', { name: 'Bots', exact: true })
    const navBox = (await nav.boundingBox())!
    const topElement = await page.evaluate(
      ([x, y]) => document.elementFromPoint(x!, y!)?.closest('a')?.textContent ?? null,
      [navBox.x + navBox.width / 2, navBox.y + navBox.height / 2],
    )
    expect(topElement).toBe('Bots')

    // Defence in depth: markup that got past the sanitiser still cannot leave the box.
    const injected = await output.evaluate((box) => {
      const panel = document.createElement('div')
      // Through the CSSOM: the dashboard's CSP already refuses style attributes in markup.
      Object.assign(panel.style, { position: 'fixed', inset: '0', zIndex: '2147483647', background: 'red' })
      panel.textContent = 'Session expired'
      box.append(panel)
      const outer = box.getBoundingClientRect()
      const rect = panel.getBoundingClientRect()
      return {
        position: getComputedStyle(panel).position,
        withinBox:
          rect.left >= outer.left - 1 &&
          rect.top >= outer.top - 1 &&
          rect.right <= outer.right + 1 &&
          rect.bottom <= outer.bottom + 1,
        topLeftCovered: panel.contains(document.elementFromPoint(5, 5)),
      }
    })
    expect(injected).toEqual({ position: 'fixed', withinBox: true, topLeftCovered: false })
    await nav.click()
    await page.waitForURL(`${url}/`)
    expect(problems).toEqual([])
    await context.close()
  })

  it('renders /docs under its CSP without a violation, runs "Try it out", and refuses to be framed', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    const page = await context.newPage()
    const problems = watch(page)
    const response = await page.goto(`${url}/docs`)
    expect(response!.headers()['content-security-policy']).toContain("frame-ancestors 'none'")
    expect(response!.headers()['x-frame-options']).toBe('DENY')
    await page.getByRole('heading', { name: /openOrchestrator API/ }).waitFor()
    expect(await page.locator('.opblock').count()).toBeGreaterThan(20)
    // An operation tried from the page: a request to this origin, allowed by connect-src.
    await page.locator('.opblock-summary-path[data-path="/health"]').first().click()
    await page.getByRole('button', { name: 'Try it out' }).first().click()
    await page.getByRole('button', { name: 'Execute' }).first().click()
    await page.locator('.live-responses-table .response .response-col_status').first().waitFor()
    expect(
      (await page.locator('.live-responses-table .response .response-col_status').first().innerText()).trim(),
    ).toBe('200')
    expect(problems).toEqual([])

    // Another page (here about:blank) framing the docs gets Chromium's error page, not the docs.
    const framing = await context.newPage()
    const framingProblems: string[] = []
    framing.on('console', (message) => framingProblems.push(message.text()))
    await framing.setContent(`<iframe src="${url}/docs/" width="800" height="600"></iframe>`)
    await waitFor(() => framingProblems.some((text) => /frame-ancestors/.test(text)), {
      what: 'the frame refusal',
      timeoutMs: 10_000,
    })
    const frame = framing.frames().find((f) => f !== framing.mainFrame())
    expect(await frame?.locator('#swagger-ui').count()).toBe(0)
    await context.close()
  })
})
