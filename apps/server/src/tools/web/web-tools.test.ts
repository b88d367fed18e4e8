import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { ToolError } from '../tool-error.ts'
import { extractHtml } from './extract-html.ts'
import { httpFetch, type WebToolContext } from './http-fetch.ts'

// Real listeners on 127.0.0.1 stand for the web: `site` is opened by the policy (127.0.0.1:<its port>
// only), `other` is not, and counts what reaches it.

const page = `<!doctype html>
<html><head><title>  The  Page </title><style>body { color: red }</style>
<script>var secret = 'do not show'</script></head>
<body>
  <nav><a href="/about">About   us</a> <a href="https://example.com/x?y=1">Elsewhere</a></nav>
  <h1>Heading</h1>
  <p>First   paragraph with <b>bold</b> words.</p><p>Second<br>line</p>
  <script>document.write('also hidden')</script>
  <noscript>Enable JavaScript</noscript>
  <ul><li>one</li><li>two <a href="sub/page.html" title="Sub">x</a></li></ul>
  <a href="mailto:someone@example.com">Mail</a> <a href="javascript:void 0">Nothing</a>
  <a href="#top">Top</a> <a href="/about">About again</a>
  <pre>  indented
    code</pre>
  <table><tr><td>Name</td><td>Price</td></tr><tr><td>Tea</td><td>3 EUR</td></tr></table>
  <img src="/img/cat.png" alt="cat"><img src="https://cdn.example.com/dog.png" alt="dog">
</body></html>`

let site: http.Server
let other: http.Server
let sitePort: number
let otherPort: number
let otherHits = 0
let siteHits = 0
let context: WebToolContext

const routes: Record<string, (request: http.IncomingMessage, response: http.ServerResponse) => void> = {
  '/page': (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end(page)
  },
  '/json': (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end('{"items":[1,2],"name":"tea"}')
  },
  '/problem': (_request, response) => {
    response.writeHead(422, { 'content-type': 'application/problem+json' })
    response.end('{"title":"Unprocessable"}')
  },
  '/text': (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' })
    response.end(Buffer.from('caf\xe9 au lait\n', 'latin1'))
  },
  '/image': (_request, response) => {
    response.writeHead(200, { 'content-type': 'image/png' })
    response.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]))
  },
  '/big': (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' })
    const chunk = Buffer.alloc(64 * 1024, 'a')
    let sent = 0
    const write = () => {
      while (sent < 5 * 1024 * 1024) {
        sent += chunk.length
        if (!response.write(chunk)) return void response.once('drain', write)
      }
      response.end()
    }
    write()
  },
  '/hang': (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' })
    response.write('a beginning and never an end')
  },
  '/missing': (_request, response) => {
    response.writeHead(404, { 'content-type': 'text/html' })
    response.end('<html><head><title>Not found</title></head><body><p>No such page.</p></body></html>')
  },
  '/echo': (request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => {
      body += chunk
    })
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ method: request.method, body, headers: request.headers }))
    })
  },
  '/to-metadata': (_request, response) => {
    response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' })
    response.end()
  },
  '/to-other': (_request, response) => {
    response.writeHead(302, { location: `http://localhost:${otherPort}/secret` })
    response.end()
  },
  '/to-file': (_request, response) => {
    response.writeHead(302, { location: 'file:///etc/passwd' })
    response.end()
  },
  '/post-redirect': (_request, response) => {
    response.writeHead(302, { location: '/echo' })
    response.end()
  },
  '/keep-post': (_request, response) => {
    response.writeHead(307, { location: '/echo' })
    response.end()
  },
}

function handle(request: http.IncomingMessage, response: http.ServerResponse): void {
  siteHits++
  const url = new URL(request.url ?? '/', 'http://site')
  // /hops/3 redirects three times, then lands on /json.
  const hops = /^\/hops\/(\d+)$/.exec(url.pathname)
  if (hops) {
    const left = Number(hops[1])
    response.writeHead(301, { location: left <= 1 ? '/json' : `/hops/${left - 1}` })
    return void response.end()
  }
  const route = routes[url.pathname]
  if (route) {
    route(request, response)
    return
  }
  response.writeHead(500, { 'content-type': 'text/plain' })
  response.end(`no route ${url.pathname}`)
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

beforeAll(async () => {
  site = http.createServer(handle)
  other = http.createServer((_request, response) => {
    otherHits++
    response.end('secret')
  })
  sitePort = await listen(site)
  otherPort = await listen(other)
  context = {
    egress: createEgressPolicy(parseEgressAllow(`127.0.0.1:${sitePort}`)),
    signal: new AbortController().signal,
  }
})
afterAll(async () => {
  await close(site)
  await close(other)
})

const at = (path: string) => `http://127.0.0.1:${sitePort}${path}`

async function failure(promise: Promise<unknown>): Promise<ToolError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  if (!(error instanceof ToolError)) throw new Error(`expected a ToolError, got ${String(error)}`)
  return error
}

describe('httpFetch', () => {
  it('reduces an HTML page to its title, readable text and absolute http(s) links', async () => {
    const result = await httpFetch({ url: at('/page') }, context)
    expect(result).toMatchObject({
      url: at('/page'),
      status: 200,
      contentType: 'text/html',
      truncated: false,
    })
    expect(result.title).toBe('The Page')
    expect(result.text).not.toMatch(/secret|also hidden|color: red|Enable JavaScript|The Page/)
    expect(result.text.split('\n')).toEqual([
      'About us Elsewhere',
      'Heading',
      'First paragraph with bold words.',
      'Second',
      'line',
      'one',
      'two x',
      'Mail Nothing Top About again',
      '  indented',
      '    code',
      'Name Price',
      'Tea 3 EUR',
    ])
    expect(result.links).toEqual([
      { text: 'About us', url: at('/about') },
      { text: 'Elsewhere', url: 'https://example.com/x?y=1' },
      { text: 'x', url: at('/sub/page.html') },
      { text: 'Top', url: at('/page#top') },
    ])
    expect(result.json).toBeUndefined()
    expect(result.bytes).toBe(Buffer.byteLength(page))
  })

  it('parses JSON (and +json types) and pretty-prints it as the text', async () => {
    const result = await httpFetch({ url: at('/json') }, context)
    expect(result.json).toEqual({ items: [1, 2], name: 'tea' })
    expect(result.text).toBe(JSON.stringify({ items: [1, 2], name: 'tea' }, null, 2))
    expect(result.contentType).toBe('application/json')
    const problem = await httpFetch({ url: at('/problem') }, context)
    expect(problem).toMatchObject({ status: 422, json: { title: 'Unprocessable' } })
  })

  it('returns plain text as is, decoded from its charset', async () => {
    const result = await httpFetch({ url: at('/text') }, context)
    expect(result).toMatchObject({ contentType: 'text/plain', text: 'café au lait\n', truncated: false })
    expect(result.title).toBeUndefined()
    expect(result.links).toBeUndefined()
  })

  it('refuses a content type it does not read, naming it', async () => {
    const error = await failure(httpFetch({ url: at('/image') }, context))
    expect(error.code).toBe('content_type_refused')
    expect(error.message).toContain('image/png')
  })

  it('stops reading at maxBytes and says the body was truncated', async () => {
    const result = await httpFetch({ url: at('/big') }, context, { maxTextChars: 10_000_000 })
    expect(result).toMatchObject({ status: 200, truncated: true, bytes: 2 * 1024 * 1024 })
    expect(result.text.length).toBe(2 * 1024 * 1024)
    const small = await httpFetch({ url: at('/big') }, context, { maxBytes: 1000, maxTextChars: 100 })
    expect(small).toMatchObject({ truncated: true, bytes: 1000 })
    expect(small.text).toBe('a'.repeat(100))
  })

  it('gives up on a server that never finishes, with fetch_timeout', async () => {
    const started = Date.now()
    const error = await failure(httpFetch({ url: at('/hang') }, context, { timeoutMs: 300 }))
    expect(error.code).toBe('fetch_timeout')
    expect(error.message).toContain('0.3 s')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it("stops at once when the run's signal aborts, rethrowing its reason", async () => {
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    setTimeout(() => controller.abort(reason), 100)
    const started = Date.now()
    const error = await httpFetch({ url: at('/hang') }, { ...context, signal: controller.signal }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBe(reason)
    expect(Date.now() - started).toBeLessThan(5_000)
    // Already aborted: nothing is sent.
    const before = siteHits
    await expect(httpFetch({ url: at('/json') }, { ...context, signal: controller.signal })).rejects.toBe(
      reason,
    )
    expect(siteHits).toBe(before)
  })

  it('returns a 404 with its status and text rather than throwing', async () => {
    const result = await httpFetch({ url: at('/missing') }, context)
    expect(result).toMatchObject({ status: 404, title: 'Not found', text: 'No such page.' })
  })

  it('sends a POST body and the caller headers, with its own User-Agent and without hop-by-hop headers', async () => {
    const result = await httpFetch(
      {
        url: at('/echo'),
        method: 'POST',
        body: '{"q":"tea"}',
        headers: {
          'content-type': 'application/json',
          'x-api-key': 'k1',
          'user-agent': 'spoofed',
          host: 'evil.example',
          connection: 'upgrade',
          'transfer-encoding': 'chunked',
        },
      },
      context,
    )
    const echo = result.json as { method: string; body: string; headers: Record<string, string> }
    expect(echo.method).toBe('POST')
    expect(echo.body).toBe('{"q":"tea"}')
    expect(echo.headers['content-type']).toBe('application/json')
    expect(echo.headers['x-api-key']).toBe('k1')
    expect(echo.headers['user-agent']).toBe('openOrchestrator/0.1 (+tools)')
    expect(echo.headers.host).toBe(`127.0.0.1:${sitePort}`)
    expect(echo.headers['transfer-encoding']).toBeUndefined()
  })

  it('refuses a body on GET and a method other than GET or POST', async () => {
    expect((await failure(httpFetch({ url: at('/echo'), body: 'x' }, context))).code).toBe('request_invalid')
    const put = { url: at('/echo'), method: 'PUT' } as unknown as Parameters<typeof httpFetch>[0]
    expect((await failure(httpFetch(put, context))).code).toBe('request_invalid')
  })

  it('follows up to five redirects, turning POST into GET on 301/302/303 and keeping it on 307', async () => {
    const three = await httpFetch({ url: at('/hops/3') }, context)
    expect(three).toMatchObject({ url: at('/json'), status: 200, json: { items: [1, 2], name: 'tea' } })
    expect((await httpFetch({ url: at('/hops/5') }, context)).url).toBe(at('/json'))

    const posted = await httpFetch({ url: at('/post-redirect'), method: 'POST', body: 'gone' }, context)
    expect(posted.json).toMatchObject({ method: 'GET', body: '' })
    const kept = await httpFetch({ url: at('/keep-post'), method: 'POST', body: 'kept' }, context)
    expect(kept.json).toMatchObject({ method: 'POST', body: 'kept' })
  })

  it('refuses a sixth redirect with a clear error', async () => {
    const error = await failure(httpFetch({ url: at('/hops/6') }, context))
    expect(error.code).toBe('too_many_redirects')
    expect(error.message).toContain('redirected more than 5 times')
  })

  it('checks every redirect target: cloud metadata and another local port are refused', async () => {
    const metadata = await failure(httpFetch({ url: at('/to-metadata') }, context))
    expect(metadata.code).toBe('egress_refused')
    expect(metadata.message).toContain('169.254.169.254 is a link-local (cloud metadata) address')
    expect(metadata.message).toContain('OPENORCH_EGRESS_ALLOW')

    // localhost resolves to 127.0.0.1, but only 127.0.0.1:<site port> is open.
    const before = otherHits
    const local = await failure(httpFetch({ url: at('/to-other') }, context))
    expect(local.code).toBe('egress_refused')
    expect(local.message).toContain('localhost')
    expect(otherHits).toBe(before)

    const file = await failure(httpFetch({ url: at('/to-file') }, context))
    expect(file.code).toBe('redirect_invalid')
  })

  it.each([
    ['http://127.0.0.1:PORT/json'],
    ['http://2130706433:PORT/json'],
    ['http://0x7f.1:PORT/json'],
    ['http://[::ffff:127.0.0.1]:PORT/json'],
    ['http://localhost:PORT/json'],
    ['http://localhost/'],
    ['http://169.254.169.254/latest/meta-data'],
  ])('with nothing allowed, refuses %s as egress_refused and sends nothing', async (spelling) => {
    const closed: WebToolContext = { ...context, egress: createEgressPolicy([]) }
    const before = siteHits
    const error = await failure(httpFetch({ url: spelling.replace('PORT', String(sitePort)) }, closed))
    expect(error.code).toBe('egress_refused')
    expect(error.message).toContain('OPENORCH_EGRESS_ALLOW')
    expect(siteHits).toBe(before)
  })

  it.each([
    ['file:///etc/passwd'],
    ['ftp://example.com/file'],
    ['not a url'],
    ['http://user:pass@example.com/'],
  ])('refuses %s as url_invalid', async (url) => {
    const error = await failure(httpFetch({ url }, context))
    expect(error.code).toBe('url_invalid')
  })

  it('reports a connection that nothing answers as fetch_failed', async () => {
    const open: WebToolContext = { ...context, egress: createEgressPolicy(parseEgressAllow('127.0.0.0/8')) }
    // `other` listens on 127.0.0.1 only: nothing answers on 127.0.0.2 at its port.
    const error = await failure(httpFetch({ url: `http://127.0.0.2:${otherPort}/` }, open))
    expect(error.code).toBe('fetch_failed')
    expect(error.message).toContain('ECONNREFUSED')
  })
})

describe('extractHtml', () => {
  it('returns the text of each named selector, and absolute href/src attributes', async () => {
    const text = await extractHtml(
      {
        url: at('/page'),
        selectors: { heading: 'h1', items: 'ul > li', cells: 'tr:nth-child(2) td', none: 'article' },
      },
      context,
    )
    expect(text).toEqual({
      url: at('/page'),
      status: 200,
      matches: { heading: ['Heading'], items: ['one', 'two x'], cells: ['Tea', '3 EUR'], none: [] },
    })

    const links = await extractHtml(
      {
        url: at('/page'),
        selectors: { nav: 'nav a', images: 'img', mail: 'a[href^="mailto:"]' },
        attribute: 'href',
      },
      context,
    )
    expect(links.matches).toEqual({
      nav: [at('/about'), 'https://example.com/x?y=1'],
      images: [],
      mail: ['mailto:someone@example.com'],
    })
    const images = await extractHtml(
      { url: at('/page'), selectors: { images: 'img' }, attribute: 'src' },
      context,
    )
    expect(images.matches.images).toEqual([at('/img/cat.png'), 'https://cdn.example.com/dog.png'])
    const alts = await extractHtml(
      { url: at('/page'), selectors: { images: 'img' }, attribute: 'alt' },
      context,
    )
    expect(alts.matches.images).toEqual(['cat', 'dog'])
  })

  it('refuses an invalid selector by name before fetching anything', async () => {
    const before = siteHits
    const error = await failure(
      extractHtml({ url: at('/page'), selectors: { good: 'p', broken: 'a[' } }, context),
    )
    expect(error.code).toBe('selector_invalid')
    expect(error.message).toContain('"broken"')
    expect(siteHits).toBe(before)
    const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, index) => [`s${index}`, 'p']))
    expect((await failure(extractHtml({ url: at('/page'), selectors: tooMany }, context))).code).toBe(
      'request_invalid',
    )
  })

  it('requires HTML, and goes through the same guard', async () => {
    expect((await failure(extractHtml({ url: at('/json'), selectors: { a: 'a' } }, context))).code).toBe(
      'content_type_refused',
    )
    expect(
      (await failure(extractHtml({ url: at('/to-metadata'), selectors: { a: 'a' } }, context))).code,
    ).toBe('egress_refused')
  })
})
