// `npm run bench -- tools` (issue 13): the tool loop's own cost per call, run_code's start-up and a
// trivial call, http_fetch of a local 1 MB page, a browser page with a warm browser, and memory with
// 2 browser pages open — each beside a bare peer where there is a fair one (a bare QuickJS eval,
// fetch + cheerio, bare Playwright). Each measurement runs in its own process; the pages are served
// from this one. Prints Markdown tables.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { bundle, runChild, serverNodeFlags } from '../child.ts'
import type { BrowserResult, MemoryMb } from './browser.run.ts'
import type { CodeResult } from './code.run.ts'
import type { FetchResult } from './fetch.run.ts'
import type { LoopResult } from './loop.run.ts'
import type { Summary } from './stats.ts'

export interface ToolsSuiteOptions {
  databaseUrl: string
  samples: number
  /** Runs of the loop measurements (each `rounds` tool calls). */
  runs: number
  only: string[] | null
}

const rounds = 25

/** A shop listing of about `bytes` bytes (the 1 MB page), and a page whose 50 offers a script draws. */
function startPages(bytes: number): Promise<{ url: string; close(): void }> {
  const offers: string[] = []
  let size = 0
  for (let i = 0; size < bytes - 200; i++) {
    const offer = `<li class="offer"><a href="/offer/${i}">Nike Air Max 90, size ${36 + (i % 12)}, offer ${i}</a> <span class="price">${(20 + (i % 40)).toFixed(2)} €</span><p>Worn twice, original box, shipping within Germany ${i % 5} days; pick-up possible in Berlin-Mitte.</p></li>\n`
    offers.push(offer)
    size += Buffer.byteLength(offer)
  }
  const big = `<!doctype html><html><head><title>Sneaker shop — all offers</title></head><body><h1>Offers</h1><ul>\n${offers.join('')}</ul></body></html>`
  const drawn = `<!doctype html><html><head><title>Shop</title></head><body><ul id="app">Loading</ul><script>
    document.getElementById('app').innerHTML = Array.from({ length: 50 }, (_, i) =>
      '<li class="offer"><a href="/offer/' + i + '">Offer ' + i + '</a> <span class="price">' + (20 + i) + ' €</span></li>').join('')
  </script></body></html>`
  const server = http.createServer((request, response) => {
    const body = request.url === '/big' ? big : drawn
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    })
    response.end(body)
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => {
          server.closeAllConnections()
          server.close()
        },
      }),
    ),
  )
}

const ms = (n: number) =>
  n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n >= 0.1 ? n.toFixed(2) : n.toFixed(3)
const pp = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)}`
const ratio = (ours: Summary, peer: Summary) => `${(ours.p50 / peer.p50).toFixed(2)}×`

export async function runToolsSuite(options: ToolsSuiteOptions): Promise<void> {
  const here = import.meta.dirname
  await bundle({
    'loop.run': path.join(here, 'loop.run.ts'),
    'code.run': path.join(here, 'code.run.ts'),
    'fetch.run': path.join(here, 'fetch.run.ts'),
    'browser.run': path.join(here, 'browser.run.ts'),
    // run_code starts its workers from a file next to the running bundle, as the server's build does.
    'run-code.worker': path.join(
      here,
      '..',
      '..',
      '..',
      'apps',
      'server',
      'src',
      'tools',
      'code',
      'run-code.worker.ts',
    ),
  })
  const wanted = (name: string) => options.only === null || options.only.includes(name)
  const pages = await startPages(1024 * 1024)
  const rows: string[] = []
  const notes: string[] = []
  try {
    for (const mode of ['loop', 'sqlite', 'postgres'] as const) {
      if (!wanted(mode === 'loop' ? 'loop' : `loop-${mode}`) && !wanted('loop-all')) continue
      process.stderr.write(`… tool loop: ${mode}\n`)
      const [line] = await runChild(
        'loop.run.js',
        [mode, JSON.stringify({ runs: options.runs, rounds, databaseUrl: options.databaseUrl })],
        serverNodeFlags,
      )
      const r = JSON.parse(line!) as LoopResult
      rows.push(
        `| Tool loop per call, ${r.mode} (${r.calls} calls; tool ${ms(r.toolMs.p50)} ms, model ${ms(r.modelMs.p50)} ms p50 left out${r.queriesPerCall === undefined ? '' : `; ${r.queriesPerCall} SQL statements a call`}) | ${pp(r.overheadMs)} | — | — | — | < 2 ms p50 |`,
      )
    }
    if (wanted('code')) {
      process.stderr.write('… run_code\n')
      const [line] = await runChild(
        'code.run.js',
        [JSON.stringify({ samples: options.samples })],
        serverNodeFlags,
      )
      const r = JSON.parse(line!) as CodeResult
      rows.push(
        `| \`run_code\` cold: a new worker thread loads QuickJS, then \`input.a + input.b\` | ${pp(r.oursColdMs)} | QuickJS module instantiated + eval, main thread | ${pp(r.peerColdMs)} | ${ratio(r.oursColdMs, r.peerColdMs)} | — |`,
        `| \`run_code\` warm worker, \`input.a + input.b\` | ${pp(r.oursWarmMs)} | fresh QuickJS runtime + context + eval on a loaded module | ${pp(r.peerWarmMs)} | ${ratio(r.oursWarmMs, r.peerWarmMs)} | < 20 ms p50 |`,
      )
    }
    if (wanted('fetch')) {
      process.stderr.write('… http_fetch\n')
      const [line] = await runChild(
        'fetch.run.js',
        [JSON.stringify({ url: `${pages.url}/big`, samples: options.samples })],
        serverNodeFlags,
      )
      const r = JSON.parse(line!) as FetchResult
      rows.push(
        `| \`http_fetch\` of a local ${(r.pageBytes / 1024 / 1024).toFixed(2)} MB HTML page (text ${r.oursTextChars} chars) | ${pp(r.oursMs)} | \`fetch\` + cheerio: title, body text (${r.peerTextChars} chars), 200 links | ${pp(r.peerMs)} | ${ratio(r.oursMs, r.peerMs)} | — |`,
      )
    }
    if (wanted('browser')) {
      const results: BrowserResult[] = []
      for (const system of ['ours', 'playwright'] as const) {
        process.stderr.write(`… browser: ${system}\n`)
        const [line] = await runChild(
          'browser.run.js',
          [system, JSON.stringify({ url: `${pages.url}/drawn`, samples: options.samples })],
          serverNodeFlags,
        )
        results.push(JSON.parse(line!) as BrowserResult)
      }
      const [ours, peer] = results as [BrowserResult, BrowserResult]
      rows.push(
        `| Browser page open, warm browser (\`browser_open\`: fresh context, egress proxy, text and links) | ${pp(ours.openMs)} | bare Playwright: new context, goto, \`content()\`, close | ${pp(peer.openMs)} | ${ratio(ours.openMs, peer.openMs)} | — |`,
      )
      const mem = (m: MemoryMb) =>
        `${m.nodeRss} | ${m.chromiumRss} | ${m.chromiumPss} | ${m.chromiumProcesses}`
      notes.push(
        '',
        '| Memory (MB) | Node RSS | Chromium RSS (sum) | Chromium PSS (sum) | Chromium processes |',
        '|---|---:|---:|---:|---:|',
        `| openOrchestrator, browser warm, no page | ${mem(ours.idle)} |`,
        `| openOrchestrator, 2 pages open | ${mem(ours.twoPages)} |`,
        `| bare Playwright, browser warm, no page | ${mem(peer.idle)} |`,
        `| bare Playwright, 2 pages open | ${mem(peer.twoPages)} |`,
      )
    }
  } finally {
    pages.close()
  }
  const lines = [
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; ${options.samples} samples per timing (loop: ${options.runs} runs × ${rounds} calls).`,
    '',
    '| Measurement | openOrchestrator p50 / p99 ms | Peer | Peer p50 / p99 ms | Ratio (p50) | Target |',
    '|---|---:|---|---:|---:|---|',
    ...rows,
    ...notes,
    '',
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}
