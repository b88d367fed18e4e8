// A browser page opened with a warm browser, and memory with 2 pages open, in its own process: the
// browser tool set's pool (tools/browser) against bare Playwright on the same Chromium. The page
// (drawn by a script) is served by the suite's process. Prints one JSON line.
// Usage: node bench/dist/browser.run.js <ours|playwright> <json options>
//
// ours: pool.withPage + browserOpen, as browser_open runs — a fresh context per call with its own
//   egress proxy and request routing (every request checked), the page loaded, its text and links read.
// playwright: browser.newContext(), newPage, goto (waitUntil load), page.content(), context.close().
// Memory: RSS of this process and of every Chromium process under it (and their PSS, which counts
// shared pages once), with the browser started and no page, then with 2 pages open at once.

import fs from 'node:fs'
import pino from 'pino'
import { type Browser, chromium } from 'playwright-core'
import { createEgressPolicy, parseEgressAllow } from '../../../apps/server/src/platform/egress/egress.ts'
import { browserOpen } from '../../../apps/server/src/tools/browser/browser.tool-set.ts'
import { createBrowserPool, findChromium } from '../../../apps/server/src/tools/browser/browser.ts'
import { type Summary, summarise } from './stats.ts'

export interface BrowserOptions {
  url: string
  samples: number
}

export interface MemoryMb {
  nodeRss: number
  chromiumRss: number
  chromiumPss: number
  chromiumProcesses: number
}

export interface BrowserResult {
  system: string
  openMs: Summary
  /** The browser started, no page open. */
  idle: MemoryMb
  /** Two pages open at once. */
  twoPages: MemoryMb
}

const system = process.argv[2] as 'ours' | 'playwright'
const options = JSON.parse(process.argv[3] ?? '{}') as BrowserOptions
const now = () => performance.now()
const mb = (kb: number) => Math.round(kb / 1024)

/** Every descendant of this process, from /proc. */
function descendants(): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // Gone in between.
    }
  }
  return [...parentOf.keys()].filter((pid) => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p))
      if (p === process.pid) return true
    return false
  })
}

function kbOf(file: string, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(file, 'utf8'))
    return match ? Number(match[1]) : 0
  } catch {
    return 0
  }
}

function memory(): MemoryMb {
  const pids = descendants()
  return {
    nodeRss: mb(kbOf('/proc/self/status', 'VmRSS')),
    chromiumRss: mb(pids.reduce((sum, pid) => sum + kbOf(`/proc/${pid}/status`, 'VmRSS'), 0)),
    chromiumPss: mb(pids.reduce((sum, pid) => sum + kbOf(`/proc/${pid}/smaps_rollup`, 'Pss'), 0)),
    chromiumProcesses: pids.length,
  }
}

/** Lets the memory settle (a GC in Node; Chromium frees what closed pages held) before reading it. */
async function settled(): Promise<MemoryMb> {
  await new Promise((resolve) => setTimeout(resolve, 1000))
  return memory()
}

async function measure(
  open: () => Promise<void>,
  holdTwo: (opened: () => void, release: Promise<void>) => Promise<void>[],
): Promise<Omit<BrowserResult, 'system'>> {
  // Warm: the browser started, the code paths run a few times.
  for (let i = 0; i < 5; i++) await open()
  const samples: number[] = []
  for (let i = 0; i < options.samples; i++) {
    const start = now()
    await open()
    samples.push(now() - start)
  }
  const idle = await settled()
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let opened = 0
  let bothOpen!: () => void
  const both = new Promise<void>((resolve) => {
    bothOpen = resolve
  })
  const holding = holdTwo(() => {
    if (++opened === 2) bothOpen()
  }, released)
  await both
  const twoPages = await settled()
  release()
  await Promise.all(holding)
  return { openMs: summarise(samples), idle, twoPages }
}

async function ours(): Promise<BrowserResult> {
  const pool = createBrowserPool({ log: pino({ level: 'silent' }) })
  const context = () => ({
    runId: 'bench',
    signal: new AbortController().signal,
    egress: createEgressPolicy(parseEgressAllow(new URL(options.url).host)),
  })
  const result = await measure(
    async () => {
      const page = await pool.withPage(context(), (page) => browserOpen(page, options.url))
      if (!page.text.includes('Offer 49'))
        throw new Error(`the page was not drawn: ${page.text.slice(0, 100)}`)
    },
    (opened, release) =>
      [0, 1].map(() =>
        pool.withPage(context(), async (page) => {
          await browserOpen(page, options.url)
          opened()
          await release
        }),
      ),
  )
  await pool.close()
  return { system: 'ours', ...result }
}

async function playwright(): Promise<BrowserResult> {
  const browser: Browser = await chromium.launch({
    executablePath: findChromium(undefined),
    headless: true,
    chromiumSandbox: process.getuid?.() !== 0,
    args: ['--disable-dev-shm-usage'],
  })
  const openOne = async (hold?: { opened: () => void; release: Promise<void> }) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    try {
      const page = await context.newPage()
      await page.goto(options.url, { waitUntil: 'load' })
      const html = await page.content()
      if (!html.includes('Offer 49')) throw new Error('the page was not drawn')
      if (hold) {
        hold.opened()
        await hold.release
      }
    } finally {
      await context.close()
    }
  }
  const result = await measure(
    () => openOne(),
    (opened, release) => [0, 1].map(() => openOne({ opened, release })),
  )
  await browser.close()
  return { system: 'playwright', ...result }
}

const result = system === 'ours' ? await ours() : await playwright()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
