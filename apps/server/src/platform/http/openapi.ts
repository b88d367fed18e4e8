import swagger, { type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'

// OpenAPI 3.1 generated from the zod schemas of the routes (packages/contracts). Must be registered
// before any route, since it collects them as they are added.

export const apiPrefix = '/api/v1'
export const openApiPath = `${apiPrefix}/openapi.json`
export const docsPath = '/docs'

/**
 * The docs UI's CSP (issue 11, item 14): Swagger UI's scripts and styles are files under /docs/static
 * and it fetches the document from /docs/json — nothing inline, nothing from elsewhere; its logo is a
 * data: image. Never framed, so no other page can lay it under a transparent frame. Set by
 * security-headers.ts on every answer under /docs, with X-Frame-Options DENY.
 */
export const docsCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** True for /docs and everything under it (not for /docsx). */
export function isDocsPath(url: string): boolean {
  return url === docsPath || /^\/docs[/?#]/.test(url)
}

/** Put on routes that need no API key, so the document does not inherit the global requirement. */
export const noAuth: Array<Record<string, string[]>> = []

/**
 * fastify-type-provider-zod puts an input copy (`RunInput`, …) of every named schema in the
 * components, though only a few are used by requests; drop the ones nothing refers to.
 */
const transformObject: SwaggerTransformObject = (document) => {
  const openapi = jsonSchemaTransformObject(document) as {
    paths?: unknown
    components?: { schemas?: Record<string, unknown> }
  }
  const schemas = openapi.components?.schemas
  if (!schemas) return openapi as ReturnType<SwaggerTransformObject>
  const refsIn = (value: unknown) =>
    [...JSON.stringify(value ?? null).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!)
  const kept = new Set(Object.keys(schemas).filter((name) => !name.endsWith('Input')))
  const queue = [...refsIn(openapi.paths), ...[...kept].flatMap((name) => refsIn(schemas[name]))]
  while (queue.length > 0) {
    const name = queue.pop()!
    if (kept.has(name)) continue
    kept.add(name)
    queue.push(...refsIn(schemas[name]))
  }
  for (const name of Object.keys(schemas)) if (!kept.has(name)) delete schemas[name]
  return openapi as ReturnType<SwaggerTransformObject>
}

export async function registerOpenApi(app: FastifyInstance, options: { version: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'openOrchestrator API',
        version: options.version,
        description:
          'Durable runs of AI bots, pipelines and agents. Every error is RFC 9457 `application/problem+json` ' +
          'with a stable `code`. Lists use cursor pagination: `?limit=1..200&cursor=` → `{ items, nextCursor }`.',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key: `Authorization: Bearer oo_…`',
          },
          apiKeyHeader: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'An API key: `X-API-Key: oo_…`',
          },
        },
      },
      // Either scheme will do.
      security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject,
  })
  // BaseLayout: the standalone layout's top bar (a field to explore other documents, and a logo that
  // is an SVG with an inline <style>, which docsCsp refuses) is not needed for this one document.
  await app.register(swaggerUi, { routePrefix: docsPath, uiConfig: { layout: 'BaseLayout' } })
}
