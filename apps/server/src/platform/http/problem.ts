import { STATUS_CODES } from 'node:http'
import { type FieldError, type Problem, problemContentType, problemTypeOf } from '@openorch/contracts'
import type { FastifyReply } from 'fastify'

// Builds and sends RFC 9457 problem details. Every error response of the server goes through here.

/** Titles of the codes the HTTP layer itself produces; any other code is titled by its status. */
const titles: Record<string, string> = {
  route_not_found: 'Route not found',
  api_not_served: 'API not served by this process',
  validation_failed: 'Request validation failed',
  malformed_json: 'Malformed JSON body',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'Request body too large',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_ready: 'Not ready',
  internal_error: 'Internal server error',
}

export function problemOf(status: number, code: string, detail: string, errors?: FieldError[]): Problem {
  return {
    type: problemTypeOf(code),
    title: titles[code] ?? STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors } : {}),
  }
}

/**
 * Sends a problem as ready bytes: no route's response schema or serializer gets in the way, and the
 * content type stays exactly `application/problem+json` (Fastify appends a charset to strings).
 */
export function sendProblem(
  reply: FastifyReply,
  problem: Problem,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(problem.status)
    .headers(headers)
    .type(problemContentType)
    .send(Buffer.from(JSON.stringify(problem)))
}
