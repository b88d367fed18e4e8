import { STATUS_CODES } from 'node:http'
import type { FieldError, Problem } from '@openorch/contracts'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { databaseUnavailability } from '../db/unavailable.ts'
import { AppError, toError } from '../errors.ts'
import { problemOf, sendProblem } from './problem.ts'

// One error handler and one not-found handler: every error leaves as application/problem+json with
// a stable code. Fastify's own errors (body parsing, limits) are mapped to our codes here, once.

const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
  FST_ERR_VALIDATION: 'validation_failed',
}

const fastifyDetails: Record<string, (request: FastifyRequest) => string> = {
  malformed_json: () => 'The request body is not valid JSON.',
  unsupported_media_type: (request) =>
    `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not supported; send application/json.`,
}

/** 'Unsupported Media Type' → 'unsupported_media_type', for 4xx errors we have no code of our own for. */
function codeOfStatus(status: number): string {
  return (STATUS_CODES[status] ?? 'error')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
}

function fieldErrorsOf(error: FastifyError): FieldError[] {
  const part = error.validationContext ?? 'request'
  return (error.validation ?? []).map((issue) => {
    const path = issue.instancePath.split('/').filter(Boolean).join('.')
    return { field: path || part, message: issue.message ?? 'is invalid' }
  })
}

/** What a client is asked to wait when the database cannot answer. */
const databaseRetryAfterSeconds = 5

interface Rendered {
  problem: Problem
  headers: Record<string, string>
  unexpected: boolean
}

export function renderError(raw: unknown, request: FastifyRequest): Rendered {
  if (raw instanceof AppError) {
    const headers = { ...raw.extra.headers }
    if (raw.extra.retryAfterMs !== undefined)
      headers['retry-after'] = String(Math.ceil(raw.extra.retryAfterMs / 1000))
    return {
      problem: { ...problemOf(raw.status, raw.code, raw.message, raw.extra.errors), ...raw.extra.members },
      headers,
      unexpected: raw.status >= 500,
    }
  }
  const error = toError(raw) as FastifyError
  if (hasZodFastifySchemaValidationErrors(error) || (error.validation && error.validation.length > 0)) {
    const errors = fieldErrorsOf(error)
    const part = error.validationContext ?? 'request'
    const detail = `The ${part} has ${errors.length} invalid field${errors.length === 1 ? '' : 's'}: ${errors
      .map((e) => e.field)
      .join(', ')}.`
    return { problem: problemOf(400, 'validation_failed', detail, errors), headers: {}, unexpected: false }
  }
  const status = typeof error.statusCode === 'number' ? error.statusCode : 500
  if (status >= 400 && status < 500) {
    const code = (error.code && fastifyCodes[error.code]) || codeOfStatus(status)
    const detail = fastifyDetails[code]?.(request) ?? error.message
    return { problem: problemOf(status, code, detail), headers: {}, unexpected: false }
  }
  const unavailable = databaseUnavailability(error)
  if (unavailable) {
    const detail = {
      database_busy: 'The database is busy with another process; send the request again in a few seconds.',
      database_unavailable:
        'The database does not answer right now; send the request again in a few seconds.',
      database_full:
        'The disk of the database is full: nothing can be written until the operator frees space. Reading still works.',
    }[unavailable]
    return {
      problem: problemOf(503, unavailable, detail),
      headers: { 'retry-after': String(unavailable === 'database_full' ? 60 : databaseRetryAfterSeconds) },
      unexpected: false,
    }
  }
  // Anything else is our bug: no message or stack leaves the process, the log has both.
  return {
    problem: problemOf(
      500,
      'internal_error',
      `An unexpected error occurred. It was logged with request id ${request.id}; quote it when reporting the problem.`,
    ),
    headers: {},
    unexpected: true,
  }
}

export interface ErrorHandlingOptions {
  /** Tried before the 404 problem (the dashboard's SPA fallback); returns false to pass. */
  notFound?: (request: FastifyRequest, reply: FastifyReply) => FastifyReply | false
}

export function registerErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions = {}): void {
  app.setErrorHandler((raw, request, reply) => {
    const { problem, headers, unexpected } = renderError(raw, request)
    if (unexpected) request.log.error({ err: toError(raw) }, 'request failed')
    else if (problem.status === 503)
      request.log.warn({ err: toError(raw), code: problem.code }, 'request refused')
    else request.log.info({ code: problem.code, status: problem.status }, 'request refused')
    return sendProblem(reply, problem, headers)
  })

  app.setNotFoundHandler((request, reply) => {
    const answered = options.notFound?.(request, reply)
    if (answered) return answered
    const path = request.url.split('?')[0]
    return sendProblem(
      reply,
      problemOf(
        404,
        'route_not_found',
        `No route ${request.method} ${path}. The API lives under /api/v1; see /docs.`,
      ),
    )
  })
}
