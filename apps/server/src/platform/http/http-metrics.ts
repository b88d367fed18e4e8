import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** False for long-lived routes (event streams), whose duration would swamp the latency histogram. */
    metrics?: boolean
  }
}

/** Observes each request's duration, labelled by the route pattern (bounded), never the raw URL. */
export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.config.metrics === false) return
    metrics.httpRequestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    )
  })
}
