import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'

// Every request has an id: the caller's `x-request-id` when it is safe to log and echo, else a uuid.
// Fastify binds it as `reqId` to every log line of the request.

export const requestIdHeader = 'x-request-id'

const safeRequestId = /^[A-Za-z0-9._:-]{1,128}$/

export function genReqId(request: IncomingMessage): string {
  const incoming = request.headers[requestIdHeader]
  return typeof incoming === 'string' && safeRequestId.test(incoming) ? incoming : randomUUID()
}

/** Echoes the id on every response, errors and 404s included. */
export function registerRequestIdEcho(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(requestIdHeader, request.id)
  })
}
