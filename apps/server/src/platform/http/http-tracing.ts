import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { redactUrl } from '../logger.ts'
import { activeTracer, attr } from '../tracing.ts'

// A server span per HTTP request (HTTP semantic conventions), a child of the caller's W3C
// `traceparent` when it sends one. Made active for the request's hooks and handler, so a run it
// enqueues, and every log line it writes, belong to it. Registered only when tracing is on.

const spans = new WeakMap<FastifyRequest, { span: Span; context: Context }>()

export function registerHttpTracing(app: FastifyInstance): void {
  const tracer = activeTracer()
  if (!tracer) return
  app.addHook('onRequest', (request, _reply, done) => {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers)
    // The path as logged: an inbound hook's token or a Telegram secret in it is redacted.
    const path = redactUrl(request.url.split('?')[0] ?? '/')
    const span = tracer.startSpan(
      request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [attr.httpRequestMethod]: request.method,
          [attr.urlPath]: path,
          [attr.urlScheme]: request.protocol,
        },
      },
      parent,
    )
    const active = trace.setSpan(parent, span)
    spans.set(request, { span, context: active })
    context.with(active, done)
  })
  // Reading the body happens in the socket's events, outside the request's context: activate it again.
  app.addHook('preHandler', (request, _reply, done) => {
    const held = spans.get(request)
    if (held) context.with(held.context, done)
    else done()
  })
  const end = (request: FastifyRequest, status: number | undefined) => {
    const held = spans.get(request)
    if (!held) return
    spans.delete(request)
    const route = request.routeOptions.url
    if (route) {
      held.span.setAttribute(attr.httpRoute, route)
      held.span.updateName(`${request.method} ${route}`)
    }
    if (status === undefined) {
      held.span.setAttribute(attr.errorType, 'aborted')
      held.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client went away' })
    } else {
      held.span.setAttribute(attr.httpResponseStatusCode, status)
      // Server spans: only 5xx are errors (a 4xx is the caller's).
      if (status >= 500) {
        held.span.setAttribute(attr.errorType, String(status))
        held.span.setStatus({ code: SpanStatusCode.ERROR })
      }
    }
    held.span.end()
  }
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode)
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    end(request, undefined)
    done()
  })
}
