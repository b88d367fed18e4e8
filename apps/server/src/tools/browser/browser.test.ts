import { createHash } from 'node:crypto'
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createEgressPolicy, type EgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { createLogger } from '../../platform/logger.ts'
import type { FileSpace, ToolContext } from '../tool.types.ts'
import { ToolError } from '../tool-error.ts'
import { createBrowserToolSet } from './browser.tool-set.ts'
import { type BrowserPool, chromiumCandidates, createBrowserPool, openPage } from './browser.ts'

// Debian's Chromium drives real pages served by two listeners on 127.0.0.1: `site` is opened by the
// policy (127.0.0.1:<its port> only), `other` is not and counts every request and WebSocket that
// reaches it. The pages build their content with scripts, so the text exists only once they ran.

const hasChromium = chromiumCandidates.some((path) => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
})

// The words are joined by the script, so they are nowhere in the HTML the server sends.
const rendered = (body: string) => `<!doctype html>
<html><head><title>Before</title></head><body><div id="app">Loading</div>
<script>${body}</script></body></html>`

let site: http.Server
let other: http.Server
let siteUrl: string
let otherUrl: string
let otherHits: string[] = []
let siteHits = 0
const logLines: string[] = []
let hangReached: (() => void) | undefined

const routes: Record<string, (request: http.IncomingMessage, response: http.ServerResponse) => void> = {
  '/js': (_request, response) =>
    html(
      response,
      rendered(`
        document.title = ['Rendered', 'title'].join(' ')
        document.getElementById('app').innerHTML =
          '<h1>' + ['Made', 'by', 'script'].join(' ') + '</h1>' +
          '<p>Second line</p><a href="/next">Next</a> <a href="https://example.com/x">Out</a>'
      `),
    ),
  '/late': (_request, response) =>
    html(
      response,
      rendered(`
        setTimeout(() => {
          const late = document.createElement('p')
          late.className = 'late'
          late.textContent = ['Arrived', 'late'].join(' ')
          document.body.append(late)
        }, 1500)
      `),
    ),
  '/list': (_request, response) =>
    html(
      response,
      rendered(`
        const items = [['Tea', '3 EUR', 'tea'], ['Coffee', '4 EUR', 'coffee']]
        document.getElementById('app').innerHTML = '<ul>' + items.map(([name, price, slug]) =>
          '<li class="item"><b class="name">' + name + '</b> <span class="price">' + price + '</span>' +
          ' <a href="/shop/' + slug + '">more</a></li>').join('') + '</ul>'
      `),
    ),
  '/leaky': (_request, response) =>
    html(
      response,
      `<!doctype html><html><head><title>Leaky</title></head><body>
      <img src="${otherUrl}/img.png"><iframe src="${otherUrl}/frame"></iframe>
      <script>
        const outcomes = []
        const attempt = (name, promise) => promise.then(() => outcomes.push(name + ': reached'), () => outcomes.push(name + ': blocked'))
        const socket = new Promise((resolve, reject) => {
          const ws = new WebSocket('${otherUrl.replace('http', 'ws')}/ws')
          ws.onopen = resolve
          ws.onclose = reject
        })
        Promise.allSettled([
          attempt('metadata', fetch('http://169.254.169.254/latest/meta-data/')),
          attempt('other', fetch('${otherUrl}/fetch')),
          attempt('redirect', fetch('/redirect-out').then((response) => response.ok || Promise.reject())),
          attempt('socket', socket),
        ]).then(() => {
          document.body.insertAdjacentHTML('beforeend', '<p id="done">' + outcomes.sort().join(', ') + '</p>')
        })
      </script></body></html>`,
    ),
  '/echo': (request, response) => {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      // Two writes without a length: the answer comes chunked.
      response.writeHead(200, { 'content-type': 'text/plain', 'x-seen': request.headers['x-test'] ?? '' })
      response.write(`${request.method} `)
      response.end(body)
    })
  },
  '/talk': (_request, response) =>
    html(
      response,
      rendered(`
        const socket = new Promise((resolve, reject) => {
          const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws')
          ws.onmessage = (event) => resolve(event.data)
          ws.onclose = () => reject(new Error('closed'))
        })
        const posted = fetch('/echo', { method: 'POST', body: 'tea=3', headers: { 'x-test': 'yes' } })
          .then(async (response) => (await response.text()) + ' ' + response.headers.get('x-seen'))
        Promise.all([posted, socket]).then(
          (parts) => { document.getElementById('app').textContent = parts.join(' | ') },
          (error) => { document.getElementById('app').textContent = 'failed: ' + error.message },
        )
      `),
    ),
  '/redirect-out': (_request, response) => {
    response.writeHead(302, { location: `${otherUrl}/landed` })
    response.end()
  },
  '/redirect-tls': (_request, response) => {
    response.writeHead(302, { location: `${otherUrl.replace('http:', 'https:')}/landed` })
    response.end()
  },
  '/cookie': (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'session=from-server; Path=/' })
    response.end(rendered(`document.cookie = 'script=from-page; path=/'`))
  },
  '/cookie-check': (request, response) =>
    html(response, `<title>Cookies</title><p>cookie header: [${request.headers.cookie ?? ''}]</p>`),
  '/hang': () => {
    // Never answers: the page never finishes loading.
    hangReached?.()
  },
  '/download': (_request, response) => {
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-disposition': 'attachment; filename="data.bin"',
    })
    response.end(Buffer.alloc(1024))
  },
  '/dialogs': (_request, response) =>
    html(
      response,
      rendered(`
        alert('hello')
        const answer = confirm('sure?')
        window.open('/js')
        document.getElementById('app').textContent = 'confirm said ' + answer
      `),
    ),
  '/tall': (_request, response) =>
    html(
      response,
      '<title>Tall</title><div style="height:3000px;background:linear-gradient(red,blue)">x</div>',
    ),
}

function html(response: http.ServerResponse, body: string): void {
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
  response.end(body)
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

let pool: BrowserPool
let allowSite: EgressPolicy
const log = createLogger({ level: 'debug', destination: { write: (line: string) => logLines.push(line) } })

function runContext(egress = allowSite, signal = new AbortController().signal): ToolContext {
  return { tenantId: 'tenant-1', runId: 'run-1', signal, egress }
}

const toolSet = () => createBrowserToolSet(pool)
const call = (name: string, input: unknown, context = runContext()) => {
  const fn = toolSet().functions.find((candidate) => candidate.name === name)!
  return fn.execute(fn.input.parse(input), context)
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** Chromium processes started by this test process (its descendants named chrom*). */
function chromiumPids(): number[] {
  const parents = new Map<number, { ppid: number; name: string }>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parents.set(Number(entry), { ppid, name })
    } catch {
      // Gone in between.
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let current = parents.get(pid)?.ppid; current !== undefined && current > 1; ) {
      if (current === process.pid) return true
      current = parents.get(current)?.ppid
    }
    return false
  }
  return [...parents].filter(([pid, { name }]) => /chrom/i.test(name) && isOurs(pid)).map(([pid]) => pid)
}

describe.skipIf(!hasChromium)('browser tool set (Chromium at /usr/bin/chromium)', () => {
  beforeAll(async () => {
    site = http.createServer((request, response) => {
      siteHits++
      const route = routes[new URL(request.url ?? '/', 'http://x').pathname]
      if (route) return route(request, response)
      response.writeHead(404, { 'content-type': 'text/html' })
      response.end('<title>Not found</title>')
    })
    other = http.createServer((request, response) => {
      otherHits.push(request.url ?? '')
      html(response, '<title>Other</title><p>secret</p>')
    })
    other.on('upgrade', (request, socket) => {
      otherHits.push(`upgrade ${request.url}`)
      socket.destroy()
    })
    // A WebSocket that says hello (RFC 6455: the accept key, then one unmasked text frame).
    site.on('upgrade', (request, socket) => {
      const accept = createHash('sha1')
        .update(`${request.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64')
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      )
      socket.write(Buffer.concat([Buffer.from([0x81, 5]), Buffer.from('hello')]))
      socket.on('error', () => {})
      // Read (and drop) what the page sends, so its end is seen and the socket closes.
      socket.resume()
      socket.on('end', () => socket.destroy())
    })
    siteUrl = await listen(site)
    otherUrl = await listen(other)
    allowSite = createEgressPolicy(parseEgressAllow(siteUrl.replace('http://', '')))
    pool = createBrowserPool({ log })
  })

  afterAll(async () => {
    await pool?.close()
    site?.closeAllConnections()
    other?.closeAllConnections()
    await Promise.all([site, other].map((server) => new Promise((resolve) => server?.close(resolve))))
  })

  beforeEach(() => {
    otherHits = []
  })

  it('browser_open returns the text a page builds with JavaScript, its title and absolute links', async () => {
    const result = await call('browser_open', { url: `${siteUrl}/js` })
    expect(result).toEqual({
      url: `${siteUrl}/js`,
      status: 200,
      title: 'Rendered title',
      text: 'Made by script\nSecond line\nNext Out',
      truncated: false,
      links: [
        { text: 'Next', url: `${siteUrl}/next` },
        { text: 'Out', url: 'https://example.com/x' },
      ],
    })
  })

  it('browser_open waits for a selector that appears after the page loaded', async () => {
    const without = (await call('browser_open', { url: `${siteUrl}/late` })) as { text: string }
    expect(without.text).not.toContain('Arrived late')
    const waited = (await call('browser_open', { url: `${siteUrl}/late`, waitFor: 'p.late' })) as {
      text: string
    }
    expect(waited.text).toContain('Arrived late')
  })

  it('refuses an invalid waitFor selector and a URL that is not http(s) before opening anything', async () => {
    const hits = siteHits
    const badSelector = await rejection(call('browser_open', { url: `${siteUrl}/js`, waitFor: 'p[' }))
    expect(badSelector).toMatchObject({ name: 'ToolError', code: 'selector_invalid' })
    const badUrl = await rejection(call('browser_open', { url: 'file:///etc/passwd' }))
    expect(badUrl).toMatchObject({ code: 'url_invalid' })
    expect(siteHits).toBe(hits)
  })

  it('browser_extract picks text and absolute links from the rendered page', async () => {
    const text = await call('browser_extract', {
      url: `${siteUrl}/list`,
      selectors: { names: '.item .name', prices: '.item .price', missing: '.nothing' },
    })
    expect(text).toEqual({
      url: `${siteUrl}/list`,
      status: 200,
      matches: { names: ['Tea', 'Coffee'], prices: ['3 EUR', '4 EUR'], missing: [] },
    })
    const links = await call('browser_extract', {
      url: `${siteUrl}/list`,
      selectors: { links: '.item a' },
      attribute: 'href',
    })
    expect(links).toMatchObject({ matches: { links: [`${siteUrl}/shop/tea`, `${siteUrl}/shop/coffee`] } })
    const bad = await rejection(call('browser_extract', { url: `${siteUrl}/list`, selectors: { x: 'a[' } }))
    expect(bad).toMatchObject({ code: 'selector_invalid' })
  })

  it('browser_screenshot returns a PNG with its size and SHA-256, and a full page taller than the window', async () => {
    const shot = (await call('browser_screenshot', { url: `${siteUrl}/js` })) as {
      url: string
      title: string
      bytes: number
      sha256: string
      truncated: boolean
      base64: string
    }
    const png = Buffer.from(shot.base64, 'base64')
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    expect(shot).toMatchObject({ url: `${siteUrl}/js`, title: 'Rendered title', bytes: png.byteLength })
    expect(shot.sha256).toBe(createHash('sha256').update(png).digest('hex'))
    // The PNG header's IHDR holds width and height.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 800])

    const full = (await call('browser_screenshot', { url: `${siteUrl}/tall`, fullPage: true })) as {
      base64: string
      truncated: boolean
    }
    const tall = Buffer.from(full.base64, 'base64')
    expect(tall.readUInt32BE(20)).toBeGreaterThanOrEqual(3000)
    expect(full.truncated).toBe(false)
  })

  it('browser_screenshot stores the image in the run’s file space and returns its name, not its bytes', async () => {
    const written: Array<{ name: string; bytes: Buffer; contentType: string }> = []
    let pngTooLarge = false
    const files: FileSpace = {
      list: async () => [],
      read: async () => expect.unreachable('not read'),
      write: async () => expect.unreachable('not text'),
      append: async () => expect.unreachable('not text'),
      delete: async () => {},
      async writeBinary(name, bytes, contentType) {
        // As the bot's space answers a PNG over 1 MiB: the tool takes a JPEG instead.
        if (pngTooLarge && contentType === 'image/png') throw new ToolError('file_too_large', 'too large')
        written.push({ name, bytes: Buffer.from(bytes), contentType })
        return { name, size: bytes.byteLength }
      },
    }
    const shot = (await call(
      'browser_screenshot',
      { url: `${siteUrl}/js` },
      { ...runContext(), files },
    )) as Record<string, unknown>
    expect(written).toHaveLength(1)
    const [stored] = written
    expect(stored!.name).toMatch(/^screenshot-\d{8}T\d{6}Z-[0-9a-f]{8}\.png$/)
    expect(stored!.contentType).toBe('image/png')
    expect(stored!.bytes.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]))
    expect(shot).toEqual({
      file: stored!.name,
      contentType: 'image/png',
      bytes: stored!.bytes.byteLength,
      sha256: createHash('sha256').update(stored!.bytes).digest('hex'),
      url: `${siteUrl}/js`,
      title: 'Rendered title',
      width: 1280,
      height: 800,
      truncated: false,
    })
    expect(stored!.name).toContain((shot.sha256 as string).slice(0, 8))

    pngTooLarge = true
    const jpeg = (await call(
      'browser_screenshot',
      { url: `${siteUrl}/tall`, fullPage: true },
      { ...runContext(), files },
    )) as Record<string, unknown>
    const second = written[1]!
    expect(second.name).toMatch(/\.jpg$/)
    expect(second.bytes.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]))
    expect(jpeg).toMatchObject({ file: second.name, contentType: 'image/jpeg', width: 1280 })
    expect(jpeg.height).toBeGreaterThanOrEqual(3000)
  })

  it('lets no request of a page reach a place the egress policy refuses: images, frames, fetch, WebSockets', async () => {
    logLines.length = 0
    const result = (await call('browser_open', { url: `${siteUrl}/leaky`, waitFor: '#done' })) as {
      text: string
    }
    expect(result.text).toBe('metadata: blocked, other: blocked, redirect: blocked, socket: blocked')
    expect(otherHits).toEqual([])
    const refused = logLines
      .map((line) => JSON.parse(line) as { msg: string; host?: string; range?: string })
      .filter((line) => line.msg === 'browser request refused')
    expect(refused).toContainEqual(
      expect.objectContaining({ host: '169.254.169.254', range: 'link-local (cloud metadata)' }),
    )
    expect(refused).toContainEqual(expect.objectContaining({ host: '127.0.0.1', range: 'loopback' }))
  })

  it('refuses opening a refused address, or being redirected to one, with the guard’s message', async () => {
    const direct = await rejection(call('browser_open', { url: `${otherUrl}/` }))
    expect(direct).toBeInstanceOf(ToolError)
    expect(direct).toMatchObject({ code: 'egress_refused' })
    expect((direct as Error).message).toMatch(/^127\.0\.0\.1 is a loopback address, .*OPENORCH_EGRESS_ALLOW/)
    // Playwright's routing does not see redirects: the proxy refuses the hop (http, then a tunnel).
    const redirected = await rejection(call('browser_open', { url: `${siteUrl}/redirect-out` }))
    expect(redirected).toMatchObject({ code: 'egress_refused', message: (direct as Error).message })
    const tunnelled = await rejection(call('browser_open', { url: `${siteUrl}/redirect-tls` }))
    expect(tunnelled).toMatchObject({ code: 'egress_refused', message: (direct as Error).message })
    expect(otherHits).toEqual([])
  })

  it('connects to the address the guard checked, not one Chromium looks up for itself', async () => {
    // Only the pool's resolver knows this name: the page loads because the proxy connected to it.
    const port = new URL(siteUrl).port
    const named = createBrowserPool({
      log,
      resolve: async (host) => {
        if (host === 'shop.example') return [{ address: '127.0.0.1', family: 4 }]
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
      },
    })
    try {
      const page = await named.withPage(runContext(), async (page) => {
        const response = await openPage(page, `http://shop.example:${port}/cookie-check`)
        return { status: response?.status(), text: await page.textContent('p') }
      })
      expect(page).toEqual({ status: 200, text: 'cookie header: []' })
      const unknown = await rejection(
        named.withPage(runContext(), (page) => openPage(page, `http://nowhere.example:${port}/`)),
      )
      expect(unknown).toMatchObject({ code: 'browser_navigation_failed' })
      expect((unknown as Error).message).toContain('ERR_NAME_NOT_RESOLVED')
    } finally {
      await named.close()
    }
  })

  it('passes allowed traffic through the proxy as sent: a POST body, headers, a chunked answer, a WebSocket', async () => {
    const result = (await call('browser_open', { url: `${siteUrl}/talk`, waitFor: '#app:not(:empty)' })) as {
      text: string
    }
    expect(result.text).toBe('POST tea=3 yes | hello')
  })

  it('refuses 127.0.0.1 under the default policy that opens nothing', async () => {
    const hits = siteHits
    const error = await rejection(
      call('browser_open', { url: `${siteUrl}/js` }, runContext(createEgressPolicy([]))),
    )
    expect(error).toMatchObject({ code: 'egress_refused' })
    expect(siteHits).toBe(hits)
  })

  it('gives each run a fresh browser context: cookies set in one run are gone in the next', async () => {
    const set = await pool.withPage(runContext(), async (page) => {
      await openPage(page, `${siteUrl}/cookie`)
      return (await page.context().cookies()).map((cookie) => cookie.name).sort()
    })
    expect(set).toEqual(['script', 'session'])
    const next = await pool.withPage(runContext(), async (page) => {
      const cookies = await page.context().cookies()
      await openPage(page, `${siteUrl}/cookie-check`)
      return { cookies, text: await page.textContent('p') }
    })
    expect(next).toEqual({ cookies: [], text: 'cookie header: []' })
  })

  it('refuses downloads, dismisses dialogs and closes popups', async () => {
    const download = await rejection(call('browser_open', { url: `${siteUrl}/download` }))
    expect(download).toMatchObject({ code: 'browser_download_refused' })
    const text = await pool.withPage(runContext(), async (page) => {
      const popup = page.context().waitForEvent('page')
      await openPage(page, `${siteUrl}/dialogs`)
      const opened = await popup
      if (!opened.isClosed()) await opened.waitForEvent('close')
      expect(page.context().pages()).toEqual([page])
      return page.textContent('#app')
    })
    expect(text).toBe('confirm said false')
  })

  it('rejects with the signal’s reason as soon as the run aborts, while the page is still loading', async () => {
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    const reached = new Promise<void>((resolve) => {
      hangReached = resolve
    })
    let pageClosed: Promise<void> | undefined
    const pending = pool.withPage(runContext(allowSite, controller.signal), async (page) => {
      pageClosed = new Promise((resolve) => page.once('close', () => resolve()))
      return openPage(page, `${siteUrl}/hang`)
    })
    await reached
    controller.abort(reason)
    const started = performance.now()
    await expect(pending).rejects.toBe(reason)
    expect(performance.now() - started).toBeLessThan(1500)
    await expect(pageClosed).resolves.toBeUndefined()
    // The slot was given back: the pool still opens pages.
    await expect(call('browser_open', { url: `${siteUrl}/js` })).resolves.toMatchObject({ status: 200 })
  })

  it('with concurrency 1 runs pages one after the other, and a waiting call leaves the queue on abort', async () => {
    const single = createBrowserPool({ log, concurrency: 1 })
    try {
      const spans: Array<[number, number]> = []
      const work = () =>
        single.withPage(runContext(), async (page) => {
          const start = performance.now()
          await openPage(page, `${siteUrl}/js`)
          await new Promise((resolve) => setTimeout(resolve, 200))
          spans.push([start, performance.now()])
        })
      await Promise.all([work(), work()])
      const [first, second] = spans as [[number, number], [number, number]]
      expect(second[0]).toBeGreaterThanOrEqual(first[1])

      const holding = work()
      const controller = new AbortController()
      const waiting = single.withPage(runContext(allowSite, controller.signal), async () => 'ran')
      controller.abort(new Error('gave up'))
      await expect(waiting).rejects.toThrow('gave up')
      await holding
    } finally {
      await single.close()
    }
  })

  it('fails with browser_missing when there is no Chromium to start', async () => {
    const missing = createBrowserPool({ log, executablePath: '/nonexistent/chromium' })
    const error = await rejection(missing.withPage(runContext(), async () => 'never'))
    expect(error).toMatchObject({ name: 'ToolError', code: 'browser_missing' })
    expect((error as Error).message).toContain('apt-get install chromium')
    expect((error as Error).message).toContain('OPENORCH_CHROMIUM_PATH')
    expect((error as Error).message).toContain('/nonexistent/chromium (OPENORCH_CHROMIUM_PATH)')
    await missing.close()
  })

  it('checks its options at once', () => {
    expect(() => createBrowserPool({ log, concurrency: 0 })).toThrow(RangeError)
    expect(() => createBrowserPool({ log, concurrency: 1.5 })).toThrow(RangeError)
  })

  it('close() stops Chromium: no process is left, and later calls fail with browser_closed', async () => {
    const before = new Set(chromiumPids())
    const own = createBrowserPool({ log })
    const browser = await own.withPage(runContext(), async (page) => page.context().browser() as Browser)
    const started = chromiumPids().filter((pid) => !before.has(pid))
    expect(started.length).toBeGreaterThan(0)
    expect(browser.isConnected()).toBe(true)
    await own.close()
    expect(browser.isConnected()).toBe(false)
    const alive = chromiumPids().filter((pid) => started.includes(pid))
    expect(alive).toEqual([])
    await expect(own.withPage(runContext(), async () => 'never')).rejects.toMatchObject({
      code: 'browser_closed',
    })
  })
})
