import { type LookupAddress, lookup } from 'node:dns'
import { isIP } from 'node:net'
import type { BrowserContext, Request } from 'playwright-core'
import type { EgressPolicy, EgressRefusedError } from '../../platform/egress/egress.ts'

// The egress guard inside the browser, first of two layers (decision 0016, as the web tools apply
// it): every request a page makes is held by Playwright's routing until its host has been resolved
// here and every address it resolves to has passed `egress.refusal(host, address, port)`; a refused
// request is aborted as "blocked by client" and never leaves Chromium, and a refused navigation is
// told apart from a broken one. Only http(s) goes out; data: and blob: URLs are the page's own bytes.
//
// Routing alone is not enough, so the second layer (browser-proxy.ts) checks every connection again
// where it leaves the browser. Routing does not see:
// - redirects: Playwright lets Chromium follow them without calling the route handler;
// - WebSocket handshakes, connections without a request (preconnect), and, for want of a hook, the
//   requests of service workers (blocked at the context instead);
// - DNS rebinding: after routing, Chromium would resolve the host again for itself.
// What neither layer covers: DNS queries themselves (a name may be resolved, for a check or a
// prefetch; nothing connects to it unchecked), and WebRTC beyond what Chromium sends through the
// proxy (direct UDP is turned off at launch).

/** Resolves a host to every address it has (`dns.lookup` with `all`), as the egress guard does. */
export type ResolveHost = (host: string) => Promise<LookupAddress[]>

export const resolveHost: ResolveHost = (host) =>
  new Promise((resolve, reject) => {
    lookup(host, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)))
  })

/**
 * `resolve` with its answers kept: one per browser context (one call of a run), shared by both
 * layers, so a page with a hundred images on one CDN resolves it once, and the proxy connects to an
 * address of the same answer the routing judged.
 */
export function cachedResolver(resolve: ResolveHost = resolveHost): ResolveHost {
  const answers = new Map<string, Promise<LookupAddress[]>>()
  return (host) => {
    let answer = answers.get(host)
    if (!answer) {
      answer = resolve(host)
      answers.set(host, answer)
    }
    return answer
  }
}

export interface GuardOptions {
  egress: EgressPolicy
  resolve: ResolveHost
  /** Told of each refused request. */
  onRefused: (refusal: EgressRefusedError, request: Request) => void
}

export type Verdict =
  | { allowed: true }
  | { allowed: false; refusal: EgressRefusedError | undefined; reason: 'egress' | 'scheme' | 'dns' }

/** Routes every request of `context` through the egress guard. */
export async function guardBrowserContext(context: BrowserContext, options: GuardOptions): Promise<void> {
  await context.route('**/*', async (route) => {
    const request = route.request()
    const verdict = await checkUrl(request.url(), options.egress, options.resolve)
    try {
      if (verdict.allowed) return await route.continue()
      if (verdict.refusal) options.onRefused(verdict.refusal, request)
      await route.abort(verdict.reason === 'dns' ? 'namenotresolved' : 'blockedbyclient')
    } catch {
      // The page or context closed while the request was held: nothing is left to answer.
    }
  })
}

const defaultPorts: Record<string, number> = { 'http:': 80, 'https:': 443 }
const ownBytes = new Set(['data:', 'blob:'])

/** Judges a URL a page asks for: its scheme, then every address its host resolves to. */
export async function checkUrl(text: string, egress: EgressPolicy, resolve: ResolveHost): Promise<Verdict> {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return { allowed: false, refusal: undefined, reason: 'scheme' }
  }
  if (ownBytes.has(url.protocol)) return { allowed: true }
  const defaultPort = defaultPorts[url.protocol]
  if (defaultPort === undefined) return { allowed: false, refusal: undefined, reason: 'scheme' }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = url.port === '' ? defaultPort : Number(url.port)
  let addresses: LookupAddress[]
  try {
    addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolve(host)
  } catch {
    // Not resolvable here: refused rather than left to be answered otherwise further on.
    return { allowed: false, refusal: undefined, reason: 'dns' }
  }
  for (const { address } of addresses) {
    const refusal = egress.refusal(host, address, port)
    if (refusal) return { allowed: false, refusal, reason: 'egress' }
  }
  return { allowed: true }
}
