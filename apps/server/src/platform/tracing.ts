import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'

// OpenTelemetry traces (issue 16, decision 0038). Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then the official Node SDK is imported — only then, so a
// process without tracing never loads it — and configured by the standard OTEL_* variables (service
// name, resource attributes, sampler, exporter protocol, endpoint and headers, batch delays).
// The spans are written here by hand with @opentelemetry/api: no instrumentation package patches
// modules. Every helper below does nothing (and allocates nothing) while tracing is off.

/** The GenAI and HTTP semantic-convention names we set (semantic-conventions 1.45; tracing.test.ts compares). */
export const attr = {
  genAiOperationName: 'gen_ai.operation.name',
  genAiProviderName: 'gen_ai.provider.name',
  genAiRequestModel: 'gen_ai.request.model',
  genAiRequestMaxTokens: 'gen_ai.request.max_tokens',
  genAiResponseModel: 'gen_ai.response.model',
  genAiResponseFinishReasons: 'gen_ai.response.finish_reasons',
  genAiUsageInputTokens: 'gen_ai.usage.input_tokens',
  genAiUsageOutputTokens: 'gen_ai.usage.output_tokens',
  genAiToolName: 'gen_ai.tool.name',
  genAiToolCallId: 'gen_ai.tool.call.id',
  genAiToolType: 'gen_ai.tool.type',
  httpRequestMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpResponseStatusCode: 'http.response.status_code',
  urlPath: 'url.path',
  urlScheme: 'url.scheme',
  serverAddress: 'server.address',
  errorType: 'error.type',
} as const

/** Our own attributes (no convention names them). */
export const ownAttr = {
  runId: 'openorch.run.id',
  runKind: 'openorch.run.kind',
  runTrigger: 'openorch.run.trigger',
  runAttempt: 'openorch.run.attempt',
  runOutcome: 'openorch.run.outcome',
  tenantId: 'openorch.tenant.id',
  channelType: 'openorch.channel.type',
  channelId: 'openorch.channel.id',
  event: 'openorch.event',
} as const

/** What tracing logs through (the pino logger; not imported: logger.ts reads the active span from here). */
interface TracingLog {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

let tracer: Tracer | undefined

/** Whether spans are made in this process (the SDK started). */
export function isTracing(): boolean {
  return tracer !== undefined
}

/** What the process needs to know of the OTEL_* variables (the SDK reads them all again itself). */
export interface TracingConfig {
  /** An OTLP endpoint is set and the SDK is not disabled. */
  enabled: boolean
  /** Where spans go, without credentials or query (for the start-up line). */
  endpoint: string
  protocol: string
  /** OTEL_SERVICE_NAME or a service.name resource attribute is set (else the name is `openorch`). */
  serviceNamed: boolean
  /** OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER set: only then does the SDK export metrics / logs. */
  metricsExporter: boolean
  logsExporter: boolean
}

export function tracingConfigOf(env: Record<string, string | undefined>): TracingConfig {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || ''
  const disabled =
    (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true' ||
    (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase() === 'none'
  return {
    enabled: endpoint !== '' && !disabled,
    endpoint: redactEndpoint(endpoint),
    protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf',
    serviceNamed:
      Boolean(env.OTEL_SERVICE_NAME) || /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? ''),
    metricsExporter: Boolean(env.OTEL_METRICS_EXPORTER),
    logsExporter: Boolean(env.OTEL_LOGS_EXPORTER),
  }
}

export interface Tracing {
  /** Sends what is buffered and stops (at shutdown). */
  shutdown(): Promise<void>
}

const off: Tracing = { shutdown: async () => {} }

/**
 * Starts the Node SDK when the environment asks for traces; otherwise returns at once without loading
 * it. The SDK reads the OTEL_* variables itself (the standard way, so every documented one works:
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_EXPORTER_OTLP_*,
 * OTEL_BSP_*). Metrics and logs stay with Prometheus and pino: the SDK's OTLP metrics and logs are
 * off unless OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER name an exporter.
 */
export async function startTracing(options: {
  config: TracingConfig
  version: string
  log: TracingLog
}): Promise<Tracing> {
  const { config } = options
  if (!config.enabled || tracer) return off
  const [{ NodeSDK }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/resources'),
  ])
  const sdk = new NodeSDK({
    // The environment's resource attributes are merged over these.
    resource: resourceFromAttributes({ 'service.version': options.version }),
    ...(config.serviceNamed ? {} : { serviceName: 'openorch' }),
    instrumentations: [],
    ...(config.metricsExporter ? {} : { metricReaders: [] }),
    ...(config.logsExporter ? {} : { logRecordProcessors: [] }),
  })
  sdk.start()
  tracer = trace.getTracer('openorch', options.version)
  options.log.info(
    { endpoint: config.endpoint, protocol: config.protocol },
    'tracing on: spans are exported over OTLP',
  )
  return {
    async shutdown() {
      tracer = undefined
      await sdk
        .shutdown()
        .catch((error: unknown) =>
          options.log.warn({ err: error }, 'the last spans could not be exported at shutdown'),
        )
    },
  }
}

/** An endpoint as logged: no credentials or query (a token put into the URL). */
function redactEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint)
    return `${url.protocol}//${url.host}${url.pathname}`
  } catch {
    return '(not a URL)'
  }
}

/** The active span's ids for a log line (`traceId`, `spanId`), or nothing. */
export function activeTraceFields(): { traceId: string; spanId: string } | undefined {
  if (!tracer) return undefined
  const span = trace.getSpan(context.active())
  if (!span) return undefined
  const { traceId, spanId } = span.spanContext()
  return { traceId, spanId }
}

// W3C trace context as stored on a run (`trace_parent`): version 00, trace id, span id, flags.
const traceParentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

function contextOfTraceParent(traceParent: string | null | undefined): Context | undefined {
  const match = traceParent ? traceParentPattern.exec(traceParent) : null
  if (!match) return undefined
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
  })
}

function traceParentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext()
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`
}

/** What a run keeps of its trace: the trace id (when sampled) and the run span's context. */
export interface RunTrace {
  traceId: string | null
  traceParent: string | null
}

const noTrace: RunTrace = { traceId: null, traceParent: null }

/** Whether a run enqueued now without a parent's trace would start a trace of its own. */
export function hasActiveSpan(): boolean {
  return tracer !== undefined && trace.getSpan(context.active()) !== undefined
}

/**
 * The run span, made when a run is enqueued: a child of the span active now (the HTTP request that
 * asked for it) or else of the parent run's span (`parentTraceParent`: a pipeline's step, a
 * notification of a run), else the root of a trace of its own (a scheduled run). It ends at once; the
 * attempts — in any process, at any later time — are its children through the stored context.
 */
export function startRunTrace(
  run: { id: string; kind: string; trigger: string; tenantId: string },
  parentTraceParent?: string | null,
): RunTrace {
  if (!tracer) return noTrace
  const active = context.active()
  const parent = trace.getSpan(active) ? active : (contextOfTraceParent(parentTraceParent) ?? ROOT_CONTEXT)
  const span = tracer.startSpan(
    `run ${run.kind}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        [ownAttr.runId]: run.id,
        [ownAttr.runKind]: run.kind,
        [ownAttr.runTrigger]: run.trigger,
        [ownAttr.tenantId]: run.tenantId,
      },
    },
    parent,
  )
  span.end()
  const sampled = (span.spanContext().traceFlags & 1) === 1
  return { traceId: sampled ? span.spanContext().traceId : null, traceParent: traceParentOf(span) }
}

/** One attempt of a run, a child of its run span; undefined while tracing is off. */
export interface AttemptTrace {
  context: Context
  end(outcome: string, error?: { code: string } | undefined): void
}

export function startAttemptTrace(run: {
  id: string
  kind: string
  attempt: number
  tenantId: string
  traceParent: string | null
}): AttemptTrace | undefined {
  if (!tracer) return undefined
  const span = tracer.startSpan(
    `attempt ${run.kind}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ownAttr.runId]: run.id,
        [ownAttr.runKind]: run.kind,
        [ownAttr.runAttempt]: run.attempt,
        [ownAttr.tenantId]: run.tenantId,
      },
    },
    contextOfTraceParent(run.traceParent) ?? ROOT_CONTEXT,
  )
  return {
    context: trace.setSpan(ROOT_CONTEXT, span),
    end(outcome, error) {
      span.setAttribute(ownAttr.runOutcome, outcome)
      if (error) {
        span.setAttribute(attr.errorType, error.code)
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.code })
      }
      span.end()
    },
  }
}

/** Runs `fn` with `trace` active (its spans and log lines belong to it); plainly while tracing is off. */
export function withinTrace<T>(within: { context: Context } | undefined, fn: () => T): T {
  return within ? context.with(within.context, fn) : fn()
}

/**
 * Runs `fn` outside any span: the event consumers, which a settling attempt may set off in its own
 * async context, must not make another run's follow-ups (notifications, pipeline steps) children of it.
 */
export function outsideTrace<T>(fn: () => T): T {
  return tracer ? context.with(ROOT_CONTEXT, fn) : fn()
}

/** GenAI provider names of the conventions (`gen_ai.provider.name`) for our providers. */
const genAiProviderNames: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  google: 'gcp.gemini',
  mistral: 'mistral_ai',
  ollama: 'ollama',
}

/** One LLM call (`chat <model>`, GenAI conventions); undefined while tracing is off. */
export interface LlmSpan {
  finish(result: { model: string; tokensIn: number; tokensOut: number; finishReason: string }): void
  fail(code: string): void
}

export function startLlmSpan(request: {
  provider: string
  model: string
  baseUrl?: string | undefined
  maxOutputTokens?: number | undefined
}): LlmSpan | undefined {
  if (!tracer) return undefined
  const attributes: Attributes = {
    [attr.genAiOperationName]: 'chat',
    [attr.genAiProviderName]: genAiProviderNames[request.provider] ?? request.provider,
    [attr.genAiRequestModel]: request.model,
  }
  if (request.maxOutputTokens !== undefined) attributes[attr.genAiRequestMaxTokens] = request.maxOutputTokens
  const host = hostOf(request.baseUrl)
  if (host) attributes[attr.serverAddress] = host
  const span = tracer.startSpan(`chat ${request.model}`, { kind: SpanKind.CLIENT, attributes })
  return {
    finish(result) {
      span.setAttributes({
        [attr.genAiResponseModel]: result.model,
        [attr.genAiUsageInputTokens]: result.tokensIn,
        [attr.genAiUsageOutputTokens]: result.tokensOut,
        [attr.genAiResponseFinishReasons]: [result.finishReason],
      })
      span.end()
    },
    fail(code) {
      span.setAttribute(attr.errorType, code)
      span.setStatus({ code: SpanStatusCode.ERROR, message: code })
      span.end()
    },
  }
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}

/**
 * Runs `fn` inside a span (active, so calls it makes carry its context) and ends it: with an error
 * status when `fn` throws or `failedWith` names a failure in its result.
 */
async function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  fn: () => Promise<T>,
  failedWith?: (result: T) => string | undefined,
): Promise<T> {
  if (!tracer) return fn()
  const span = tracer.startSpan(name, { kind, attributes })
  try {
    const result = await context.with(trace.setSpan(context.active(), span), fn)
    const failure = failedWith?.(result)
    if (failure) {
      span.setAttribute(attr.errorType, failure)
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure })
    }
    return result
  } catch (error) {
    const code = (error as { code?: unknown })?.code
    const type = typeof code === 'string' ? code : ((error as Error)?.name ?? 'Error')
    span.setAttribute(attr.errorType, type)
    span.setStatus({ code: SpanStatusCode.ERROR, message: type })
    throw error
  } finally {
    span.end()
  }
}

/** One tool call (`execute_tool <name>`, GenAI conventions). */
export function withToolSpan<T>(
  tool: { name: string; callId: string },
  fn: () => Promise<T>,
  failedWith?: (result: T) => string | undefined,
): Promise<T> {
  if (!tracer) return fn()
  return inSpan(
    `execute_tool ${tool.name}`,
    SpanKind.INTERNAL,
    {
      [attr.genAiOperationName]: 'execute_tool',
      [attr.genAiToolName]: tool.name,
      [attr.genAiToolCallId]: tool.callId,
      [attr.genAiToolType]: 'function',
    },
    fn,
    failedWith,
  )
}

/** One notification delivery through a channel (`notify <type>`). */
export function withNotificationSpan<T>(
  delivery: { channelType: string; channelId: string; event: string },
  fn: () => Promise<T>,
): Promise<T> {
  if (!tracer) return fn()
  return inSpan(
    `notify ${delivery.channelType}`,
    SpanKind.CLIENT,
    {
      [ownAttr.channelType]: delivery.channelType,
      [ownAttr.channelId]: delivery.channelId,
      [ownAttr.event]: delivery.event,
    },
    fn,
  )
}

/**
 * Adds the active span's W3C trace context (`traceparent`, `tracestate`) to outbound headers: a
 * webhook, Slack, Discord or an MCP server can join the trace. Nothing while tracing is off.
 */
export function injectTraceHeaders(headers: Record<string, string>): Record<string, string> {
  if (!tracer || !trace.getSpan(context.active())) return headers
  propagation.inject(context.active(), headers)
  return headers
}

/** `injectTraceHeaders` for a fetch's init (headers of any shape). */
export function withTraceHeaders(init: RequestInit | undefined): RequestInit | undefined {
  if (!tracer || !trace.getSpan(context.active())) return init
  const headers = new Headers(init?.headers)
  propagation.inject(context.active(), headers, {
    set: (carrier, key, value) => carrier.set(key, value),
  })
  return { ...init, headers }
}

/** The tracer for the HTTP hooks (platform/http/http-tracing.ts); undefined while tracing is off. */
export function activeTracer(): Tracer | undefined {
  return tracer
}
