import fs from 'node:fs'
import path from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

// The dashboard: the static build of apps/web served at `/`, with the SPA fallback (any other GET
// that asks for HTML gets index.html, so /bots/123 can be reloaded). The API, the docs and the probes
// keep their paths; an unknown /api path still answers problem+json 404.

/** Paths the dashboard never answers for, even when a browser asks for HTML. */
const reservedPrefixes = ['/api/', '/api', '/docs', '/health', '/ready', '/metrics']

/**
 * Same-origin only, no inline script, no eval: the dashboard needs nothing else. Styles are files too,
 * but React sets `style` properties through the DOM, which CSP allows.
 */
export const dashboardCsp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

function setSecurityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', dashboardCsp)
  reply.header('x-content-type-options', 'nosniff')
  reply.header('referrer-policy', 'no-referrer')
}

export interface WebApp {
  /** Answers a GET for an unknown path with index.html when the client asks for HTML; false otherwise. */
  fallback(request: FastifyRequest, reply: FastifyReply): FastifyReply | false
}

/** Registers the dashboard when `root` holds a build (index.html); undefined when there is none. */
export async function registerWebApp(app: FastifyInstance, root: string): Promise<WebApp | undefined> {
  const indexFile = path.join(root, 'index.html')
  if (!fs.existsSync(indexFile)) return undefined

  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // One route per file, found at start: nothing shadows the API or the not-found handler.
    wildcard: false,
    index: ['index.html'],
    setHeaders(reply, file) {
      setSecurityHeaders(reply)
      // File names under assets/ carry a content hash; the rest (index.html, sw.js, manifest) must be
      // revalidated so a new build is picked up.
      const immutable = file.includes(`${path.sep}assets${path.sep}`)
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    },
  })

  return {
    fallback(request, reply) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false
      const pathname = request.url.split('?')[0] ?? '/'
      if (reservedPrefixes.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`)))
        return false
      if (!(request.headers.accept ?? '').includes('text/html')) return false
      setSecurityHeaders(reply)
      reply.header('cache-control', 'no-cache')
      return reply.type('text/html; charset=utf-8').send(fs.createReadStream(indexFile))
    },
  }
}
