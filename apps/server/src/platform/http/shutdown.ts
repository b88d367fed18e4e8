import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'

/**
 * While the app closes, requests still arriving on open keep-alive connections get 503
 * `shutting_down` (problem+json) and `Connection: close`, so the client retries elsewhere.
 */
export function registerShutdownRefusal(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    throw new AppError('shutting_down', 'The server is shutting down; send the request again.', 503, {
      retryAfterMs: 1000,
    })
  })
}
