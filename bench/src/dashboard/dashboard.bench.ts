// `npm run bench -- dashboard`: the dashboard with many bots and one bot with a long run history,
// measured in Debian's Chromium (playwright-core) against a real server on SQLite (its own process,
// as `npm start` runs it). Issue 4 asks that "the bot list stays smooth with 1,000 bots and a run
// history with 100,000 runs". Reported: time to the first bot card and the first timeline item,
// frame times and long tasks (≥ 50 ms) while scrolling to the end with "Load more", the API's
// answer times per page (first and deep), and the JS heap after everything is loaded.
//
// The data is written straight into the server's SQLite file (a prepared INSERT in one transaction:
// 100,000 runs take about a second) before the server starts; nothing is scheduled to fire.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { chromium, type Page } from 'playwright-core'

const repo = path.resolve(import.meta.dirname, '../../..')
const chromiumPath = process.env.OPENORCH_CHROMIUM ?? '/usr/bin/chromium'
const apiKey = 'bench-owner-key-1234567890abcdef'

export interface DashboardBenchOptions {
  bots: number
  runs: number
  /** "Load more" clicks on the bot page (50 runs each). */
  runPages: number
}

/** A time-ordered id like the server's UUIDv7, so `ORDER BY id` is the order of creation. */
function uuidv7(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0') + crypto.randomBytes(10).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

function seed(file: string, options: DashboardBenchOptions): { heavyBotId: string } {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  const now = Date.now()
  const schedules = [null, '0 3 1 1 *', '@monthly', '*/30 * 1 1 *']
  const insertBot = db.prepare(`INSERT INTO bots (id, tenant_id, name, description, emoji, prompt, provider,
    model, schedule, timezone, enabled, max_runtime_seconds, max_retries, retry_delay_seconds,
    missed_run_policy, overlap_policy, pause_after_failures, jitter_seconds, max_cost_per_run_usd,
    daily_budget_usd, max_output_tokens, consecutive_failures, next_fire_at, next_slot_at, paused_reason,
    budget_warned_day, created_at, updated_at)
    VALUES (?, 'default', ?, ?, NULL, ?, 'openai', 'gpt-4o-mini', ?, 'Europe/Berlin', ?, 120, 2, 30,
    'ignore', 'skip', NULL, 0, NULL, NULL, NULL, 0, ?, ?, NULL, NULL, ?, ?)`)
  // A bot run's result (tokens, cost, hash, isNew) is JSON in runs.result (bots/bot.run-view.ts).
  const insertRun =
    db.prepare(`INSERT INTO runs (id, tenant_id, kind, subject_id, parent_run_id, status, trigger,
    input, output, result, priority, run_at, attempt, max_attempts, retry_base_ms, timeout_ms,
    lease_token, lease_owner, lease_expires_at, concurrency_key, concurrency_limit, idempotency_key,
    error_code, error_message, error_retryable, dead_lettered_at, wait_reason, duration_ms, created_at,
    started_at, finished_at, updated_at)
    VALUES (?, 'default', 'bot', ?, NULL, ?, ?, NULL, ?, ?, 0, ?, 1, 3, 1000, 120000, 1, NULL, NULL,
    NULL, 1, NULL, ?, ?, ?, NULL, NULL, 3200, ?, ?, ?, ?)`)
  const resultOf = (outputHash: string | null, isNew: number | null, tokensIn: number) =>
    outputHash === null
      ? null
      : JSON.stringify({ outputHash, isNew: isNew === 1, tokensIn, tokensOut: 300, costUsd: 0.000057 })
  let heavyBotId = ''
  db.transaction(() => {
    for (let i = 0; i < options.bots; i++) {
      const id = uuidv7(now - (options.bots - i) * 1000)
      if (i === 0) heavyBotId = id
      const schedule = schedules[i % schedules.length] ?? null
      // Far in the future: nothing fires while the benchmark runs.
      const next = schedule ? now + 400 * 86_400_000 : null
      insertBot.run(
        id,
        `Bot ${String(i + 1).padStart(4, '0')}`,
        `Watches source ${i + 1} and reports what is new.`,
        'Find new listings and summarise them in three bullet points.',
        schedule,
        i % 7 === 0 ? 0 : 1,
        next,
        next,
        now - 86_400_000,
        now - 86_400_000,
      )
      // Every bot has a few runs, so each card shows a last result.
      for (let r = 0; r < 3; r++) {
        const at = now - 3_600_000 + r * 60_000 + i
        insertRun.run(
          uuidv7(at),
          id,
          'completed',
          'schedule',
          JSON.stringify({ text: `## Report ${r + 1}\n\n- nothing new` }),
          resultOf(`h${i}-${r}`, r === 2 ? 1 : 0, 20),
          at,
          null,
          null,
          null,
          at,
          at,
          at + 3200,
          at + 3200,
        )
      }
    }
    // The heavy bot: a long history, one in 20 failed.
    const start = now - options.runs * 60_000
    for (let r = 0; r < options.runs; r++) {
      const at = start + r * 60_000
      const failed = r % 20 === 0
      insertRun.run(
        uuidv7(at),
        heavyBotId,
        failed ? 'failed' : 'completed',
        r % 3 === 0 ? 'manual' : 'schedule',
        failed ? null : JSON.stringify({ text: `## Run ${r}\n\nFound ${r % 7} new listings.` }),
        resultOf(failed ? null : `x${r % 97}`, failed ? null : r % 5 === 0 ? 1 : 0, 40),
        at,
        failed ? 'provider_rate_limited' : null,
        failed ? 'The provider is limiting requests.' : null,
        failed ? 1 : null,
        at,
        at,
        at + 3200,
        at + 3200,
      )
    }
  })()
  db.close()
  return { heavyBotId }
}

async function startServer(dataDir: string): Promise<{ url: string; process: ChildProcess }> {
  const server = spawn(process.execPath, [path.join(repo, 'apps/server/bin/openorch.mjs'), 'start'], {
    env: {
      ...process.env,
      OPENORCH_DATA_DIR: dataDir,
      OPENORCH_API_KEY: apiKey,
      PORT: '0',
      HOST: '127.0.0.1',
      OPENORCH_LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  server.stdout!.on('data', (chunk) => {
    out += chunk
  })
  server.stderr!.on('data', (chunk) => {
    out += chunk
  })
  const deadline = Date.now() + 60_000
  for (;;) {
    const url = /running at (http:\/\/\S+)/.exec(out)?.[1]
    if (url) return { url, process: server }
    if (server.exitCode !== null || Date.now() > deadline)
      throw new Error(`the server did not start:\n${out}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Answer times of one API page, `times` times in a row (ms, measured by the client). */
async function timeApi(url: string, times = 15): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < times; i++) {
    const started = performance.now()
    const response = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } })
    await response.arrayBuffer()
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`)
    samples.push(performance.now() - started)
  }
  return samples
}

/** The cursor of page `n` (0-based) of a list, by walking it. */
async function cursorOfPage(url: string, n: number): Promise<string | null> {
  let cursor: string | null = null
  for (let i = 0; i < n; i++) {
    const response: Response = await fetch(`${url}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    })
    cursor = ((await response.json()) as { nextCursor: string | null }).nextCursor
    if (!cursor) break
  }
  return cursor
}

interface ScrollResult {
  frames: number[]
  longTasks: number[]
  loads: number
  loadMs: number[]
  items: number
}

// In-page code is plain JavaScript in strings: tsx compiles functions with a `__name` helper that
// does not exist in the page.

/** Scrolls to the end, clicking "Load more" up to `maxLoads` times; frame times from rAF. */
const scrollSource = `async ({ itemSelector, maxLoads }) => {
  const startedAt = performance.now()
  const frames = []
  let last = performance.now()
  let running = true
  function tick(time) {
    frames.push(time - last)
    last = time
    if (running) requestAnimationFrame(tick)
  }
  requestAnimationFrame(tick)
  function frame() { return new Promise((resolve) => requestAnimationFrame(resolve)) }
  const loadMs = []
  let loads = 0
  for (;;) {
    await frame()
    window.scrollBy(0, 150)
    const root = document.documentElement
    if (window.scrollY + window.innerHeight < root.scrollHeight - 2) continue
    const button = Array.from(document.querySelectorAll('button')).find((b) => b.textContent.trim() === 'Load more')
    if (!button || loads >= maxLoads) break
    const before = document.querySelectorAll(itemSelector).length
    const clicked = performance.now()
    button.click()
    loads++
    while (document.querySelectorAll(itemSelector).length <= before && performance.now() - clicked < 30000) await frame()
    loadMs.push(performance.now() - clicked)
  }
  running = false
  return {
    frames: frames.slice(1),
    longTasks: window.__bench.longTasks.filter((t) => t.start >= startedAt).map((t) => t.duration),
    loads,
    loadMs,
    items: document.querySelectorAll(itemSelector).length,
  }
}`

function scrollThrough(page: Page, itemSelector: string, maxLoads: number): Promise<ScrollResult> {
  return page.evaluate(
    `(${scrollSource})(${JSON.stringify({ itemSelector, maxLoads })})`,
  ) as Promise<ScrollResult>
}

/** Before any page script: long tasks, the first card or timeline item, the session. */
const initSource = (key: string) => `(() => {
  const bench = { longTasks: [], first: 0 }
  window.__bench = bench
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) bench.longTasks.push({ start: entry.startTime, duration: entry.duration })
  }).observe({ type: 'longtask', buffered: true })
  // Measured from the start of the navigation (performance.now()'s origin).
  new MutationObserver((_, observer) => {
    if (document.querySelector('main li.cv-auto, #timeline + ol li')) {
      bench.first = performance.now()
      observer.disconnect()
    }
  }).observe(document, { childList: true, subtree: true })
  if (location.protocol === 'http:') {
    sessionStorage.setItem('openorch.session', JSON.stringify({ kind: 'apiKey', apiKey: ${JSON.stringify(key)} }))
    sessionStorage.setItem('openorch.onboarding.skipped', '1')
  }
})()`

async function heapMb(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('HeapProfiler.collectGarbage')
  const { usedSize } = await cdp.send('Runtime.getHeapUsage')
  await cdp.detach()
  return usedSize / 1024 / 1024
}

const ms = (value: number) => `${value.toFixed(value < 10 ? 1 : 0)} ms`

export async function runDashboardBench(options: DashboardBenchOptions): Promise<void> {
  const build = spawnSync(process.execPath, [path.join(repo, 'apps/web/scripts/build.mjs'), '--if-stale'], {
    stdio: 'inherit',
  })
  if (build.status !== 0) throw new Error('the dashboard build failed')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-dashboard-'))
  // The server creates and migrates the database on its first start; seed after that, then restart.
  let server = await startServer(dataDir)
  server.process.kill('SIGTERM')
  await new Promise((resolve) => server.process.once('exit', resolve))
  process.stderr.write(`… seeding ${options.bots} bots and ${options.runs} runs\n`)
  const seeded = performance.now()
  const { heavyBotId } = seed(path.join(dataDir, 'openorch.db'), options)
  process.stderr.write(`  seeded in ${((performance.now() - seeded) / 1000).toFixed(1)} s\n`)
  server = await startServer(dataDir)
  const { url } = server
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  })
  const rows: [string, string][] = []
  const version = browser.version()
  try {
    // API pages, measured from Node (no browser in between).
    process.stderr.write('… API pages\n')
    const api = `${url}/api/v1`
    const botsPage = await timeApi(`${api}/bots?limit=100`)
    const botsLast = await timeApi(
      `${api}/bots?limit=100&cursor=${encodeURIComponent((await cursorOfPage(`${api}/bots?limit=100`, Math.ceil(options.bots / 100) - 1))!)}`,
    )
    const runsFirst = await timeApi(`${api}/bots/${heavyBotId}/runs?limit=50`)
    // Halfway through the history.
    const deepPages = Math.max(1, Math.floor(options.runs / 2 / 200))
    const deepCursor = await cursorOfPage(`${api}/bots/${heavyBotId}/runs?limit=200`, deepPages)
    const runsDeep = await timeApi(
      `${api}/bots/${heavyBotId}/runs?limit=50&cursor=${encodeURIComponent(deepCursor!)}`,
    )
    const bot = await timeApi(`${api}/bots/${heavyBotId}`)
    const allRuns = await timeApi(`${api}/runs?limit=50`)
    const describe = (samples: number[]) =>
      `p50 ${ms(percentile(samples, 50))}, p95 ${ms(percentile(samples, 95))}`
    rows.push(['`GET /bots?limit=100` (first page)', describe(botsPage)])
    rows.push([
      `\`GET /bots?limit=100\` (last page, bot ${options.bots - 99}–${options.bots})`,
      describe(botsLast),
    ])
    rows.push(['`GET /bots/{id}` (the bot with the long history)', describe(bot)])
    rows.push(['`GET /bots/{id}/runs?limit=50` (first page)', describe(runsFirst)])
    rows.push([
      `\`GET /bots/{id}/runs?limit=50\` (after ${(deepPages * 200).toLocaleString('en')} runs)`,
      describe(runsDeep),
    ])
    rows.push(['`GET /runs?limit=50`', describe(allRuns)])

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: url })
    await context.addInitScript(initSource(apiKey))
    const page = await context.newPage()

    process.stderr.write('… bot list\n')
    const firsts: number[] = []
    for (let i = 0; i < 5; i++) {
      await page.goto('/')
      await page.locator('main li.cv-auto').first().waitFor()
      firsts.push((await page.evaluate('window.__bench.first')) as number)
    }
    rows.push(['Bot list: first card on screen (navigation start →, 5 loads)', describe(firsts)])
    const list = await scrollThrough(page, 'main li.cv-auto', Math.ceil(options.bots / 100))
    rows.push([
      `Bot list: scroll to the end with "Load more" (${list.loads} clicks, ${list.items} cards)`,
      `frames p50 ${ms(percentile(list.frames, 50))}, p95 ${ms(percentile(list.frames, 95))}, p99 ${ms(percentile(list.frames, 99))}, max ${ms(Math.max(...list.frames))}; long tasks: ${list.longTasks.length}${list.longTasks.length ? ` (longest ${ms(Math.max(...list.longTasks))})` : ''}`,
    ])
    rows.push([
      'Bot list: "Load more" click → next 100 cards in the DOM',
      `p50 ${ms(percentile(list.loadMs, 50))}, p95 ${ms(percentile(list.loadMs, 95))}`,
    ])
    rows.push([
      `Bot list: JS heap with ${list.items} cards (after GC)`,
      `${(await heapMb(page)).toFixed(1)} MB`,
    ])

    process.stderr.write('… bot page\n')
    const detailFirsts: number[] = []
    for (let i = 0; i < 5; i++) {
      await page.goto(`/bots/${heavyBotId}`)
      await page.locator('#timeline + ol li').first().waitFor()
      detailFirsts.push((await page.evaluate('window.__bench.first')) as number)
    }
    rows.push(['Bot page: first run of the history on screen (5 loads)', describe(detailFirsts)])
    const history = await scrollThrough(page, '#timeline + ol li', options.runPages)
    rows.push([
      `Bot page: scroll the history with "Load more" (${history.loads} clicks, ${history.items} runs)`,
      `frames p50 ${ms(percentile(history.frames, 50))}, p95 ${ms(percentile(history.frames, 95))}, p99 ${ms(percentile(history.frames, 99))}, max ${ms(Math.max(...history.frames))}; long tasks: ${history.longTasks.length}${history.longTasks.length ? ` (longest ${ms(Math.max(...history.longTasks))})` : ''}`,
    ])
    rows.push([
      'Bot page: "Load more" click → next 50 runs in the DOM',
      `p50 ${ms(percentile(history.loadMs, 50))}, p95 ${ms(percentile(history.loadMs, 95))}`,
    ])
    rows.push([
      `Bot page: JS heap with ${history.items} runs (after GC)`,
      `${(await heapMb(page)).toFixed(1)} MB`,
    ])
    await context.close()
  } finally {
    await browser.close()
    server.process.kill('SIGTERM')
    await new Promise((resolve) => server.process.once('exit', resolve))
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  process.stdout.write(
    `\n${options.bots} bots, one with ${options.runs.toLocaleString('en')} runs; Chromium ${version} headless, 1280×900\n\n| Measurement | Result |\n|---|---|\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`,
  )
}
