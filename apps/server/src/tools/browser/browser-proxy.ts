import http from 'node:http'
import { isIP, connect as netConnect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { type EgressPolicy, EgressRefusedError } from '../../platform/egress/egress.ts'
import { type ResolveHost, resolveHost } from './browser-egress.ts'

// The egress guard where the browser's connections leave it: a small HTTP proxy on 127.0.0.1, one
// per browser context (so per run, with that run's policy), which Chromium is told to use for every
// request of the context, loopback included (Playwright passes `<-loopback>`). It resolves each
// host, refuses it if any address is refused, and connects to exactly the address it checked, so:
// - redirects are checked hop by hop (Playwright's routing lets Chromium follow them unseen);
// - DNS rebinding cannot slip in between the check and the connection (Chromium does not resolve
//   proxied hosts itself);
// - workers, WebSockets (Chromium tunnels ws:// and wss:// with CONNECT), preconnects and anything
//   else that opens a connection of the context's network go through the same check.
// https and wss are tunnelled (CONNECT), so only their host and port are seen; plain http requests
// are forwarded one by one, their redirects returned to Chromium, which asks for the next hop here.
// A refused http request gets a 403 marked `x-openorch-egress: refused`; a refused tunnel a 403,
// which Chromium reports as net::ERR_TUNNEL_CONNECTION_FAILED.
// The proxy listens on loopback without authentication while its run's page is open: a process on
// the same machine could use it for that time, within that run's egress policy.

export interface EgressProxy {
  /** For Playwright's `proxy.server`: http://127.0.0.1:<port>. */
  server: string
  /** The refusal of the last connection refused to `host:port` (`host` without brackets). */
  refusalFor(host: string, port: number): EgressRefusedError | undefined
  /** The last connection refused, if any. */
  lastRefusal(): EgressRefusedError | undefined
  /** Stops listening and cuts every connection still open. */
  close(): Promise<void>
}

export interface EgressProxyOptions {
  egress: EgressPolicy
  onRefused?: (refusal: EgressRefusedError) => void
  resolve?: ResolveHost
}

export const refusedMarker = 'x-openorch-egress'

// Per connection (RFC 9110 §7.6.1), and the proxy's own: not passed on in either direction.
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const resolve = options.resolve ?? resolveHost
  const refusals = new Map<string, EgressRefusedError>()
  let last: EgressRefusedError | undefined
  const open = new Set<Duplex>()
  const track = (socket: Duplex) => {
    open.add(socket)
    socket.once('close', () => open.delete(socket))
  }

  /** The address to connect to: one `host` resolves to, after every one of them passed the policy. */
  async function checkedAddress(host: string, port: number): Promise<string> {
    const addresses = isIP(host) ? [{ address: host }] : await resolve(host)
    for (const { address } of addresses) {
      const refusal = options.egress.refusal(host, address, port)
      if (refusal) {
        refusals.set(`${host}:${port}`, refusal)
        last = refusal
        options.onRefused?.(refusal)
        throw refusal
      }
    }
    const first = addresses[0]
    if (!first) throw new Error(`${host} has no address`)
    return first.address
  }

  const server = http.createServer((request, response) => {
    forward(request, response).catch(() => response.destroy())
  })

  async function forward(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    let target: URL
    try {
      target = new URL(request.url ?? '')
    } catch {
      target = new URL('invalid:')
    }
    if (target.protocol !== 'http:') {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('Only absolute http URLs are proxied.')
      return
    }
    const host = target.hostname.replace(/^\[|\]$/g, '')
    const port = target.port === '' ? 80 : Number(target.port)
    let address: string
    try {
      address = await checkedAddress(host, port)
    } catch (error) {
      answerFailure(response, error)
      return
    }
    const upstream = http.request({
      host: address,
      port,
      method: request.method,
      path: `${target.pathname}${target.search}`,
      headers: endToEnd(request.rawHeaders),
      setHost: false,
      agent: false,
    })
    upstream.on('response', (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders))
      answer.pipe(response)
    })
    upstream.on('error', (error) => {
      if (response.headersSent) response.destroy()
      else answerFailure(response, error)
    })
    response.on('close', () => upstream.destroy())
    request.pipe(upstream)
  }

  server.on('connect', (request: http.IncomingMessage, client: Duplex, head: Buffer) => {
    track(client)
    client.on('error', () => {})
    tunnel(request.url ?? '', client, head).catch(() => client.destroy())
  })

  async function tunnel(authority: string, client: Duplex, head: Buffer): Promise<void> {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(authority)
    if (!match) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n')
      return
    }
    const host = (match[1] ?? match[2])!
    const port = Number(match[3])
    let address: string
    try {
      address = await checkedAddress(host, port)
    } catch (error) {
      client.end(
        `HTTP/1.1 ${error instanceof EgressRefusedError ? '403 Forbidden' : '502 Bad Gateway'}\r\n\r\n`,
      )
      return
    }
    const upstream: Socket = netConnect({ host: address, port })
    track(upstream)
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.byteLength > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => {
      if (upstream.connecting) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n')
      else client.destroy()
    })
    client.on('close', () => upstream.destroy())
  }

  // Chromium tunnels WebSockets with CONNECT; an Upgrade sent as a plain request is not proxied.
  server.on('upgrade', (_request, client: Duplex) => {
    client.end('HTTP/1.1 501 Not Implemented\r\n\r\n')
  })
  server.on('connection', track)

  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => done())
  })
  const { port } = server.address() as { port: number }

  return {
    server: `http://127.0.0.1:${port}`,
    refusalFor: (host, port) => refusals.get(`${host}:${port}`),
    lastRefusal: () => last,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done())
        for (const socket of open) socket.destroy()
        server.closeAllConnections()
      }),
  }
}

function answerFailure(response: http.ServerResponse, error: unknown): void {
  if (error instanceof EgressRefusedError) {
    response.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', [refusedMarker]: 'refused' })
    response.end(error.message)
    return
  }
  const code = (error as { code?: unknown }).code
  response.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' })
  response.end(`The address could not be reached${typeof code === 'string' ? ` (${code})` : ''}.`)
}

/** `rawHeaders` without the hop-by-hop ones (and those the Connection header names). */
function endToEnd(rawHeaders: string[]): string[] {
  const named = new Set(hopByHop)
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]!.toLowerCase() === 'connection')
      for (const token of rawHeaders[index + 1]!.split(',')) named.add(token.trim().toLowerCase())
  }
  const kept: string[] = []
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (!named.has(rawHeaders[index]!.toLowerCase())) kept.push(rawHeaders[index]!, rawHeaders[index + 1]!)
  }
  return kept
}
