import { randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as incubating from '@opentelemetry/semantic-conventions/incubating'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createCapturingLog, createTestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { ConfigError, loadConfig } from './config.ts'
import {
  attr,
  injectTraceHeaders,
  isTracing,
  startRunTrace,
  startTracing,
  type Tracing,
  tracingConfigOf,
  withNotificationSpan,
} from './tracing.ts'

// Decision 0038. The end-to-end export (a real server process, a local OTLP receiver) is
// test/traces.test.ts; here: the switch, the convention names, and log lines inside spans.

describe('when tracing is on', () => {
  it('only with an OTLP endpoint, and not when the SDK or the trace exporter is disabled', () => {
    expect(tracingConfigOf({}).enabled).toBe(false)
    expect(tracingConfigOf({ OTEL_SERVICE_NAME: 'x' }).enabled).toBe(false)
    expect(tracingConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).enabled).toBe(true)
    expect(
      tracingConfigOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).enabled,
    ).toBe(true)
    expect(
      tracingConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })
        .enabled,
    ).toBe(false)
    expect(
      tracingConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })
        .enabled,
    ).toBe(false)
    // The start-up line names the endpoint without credentials or query.
    expect(
      tracingConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://u:p@otel.example/x?token=t' }).endpoint,
    ).toBe('https://otel.example/x')
    expect(tracingConfigOf({ OTEL_RESOURCE_ATTRIBUTES: 'a=b, service.name=mine' }).serviceNamed).toBe(true)
    expect(tracingConfigOf({ OTEL_RESOURCE_ATTRIBUTES: 'a=b' }).serviceNamed).toBe(false)
    expect(loadConfig({}).tracing.enabled).toBe(false)
  })

  it('refuses an endpoint that is no http(s) URL at start, saying what it should be', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(ConfigError)
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT.*http:\/\/ or https:\/\/ URL/,
    )
  })

  it('does nothing, and stores no trace on a run, while it is off', () => {
    expect(isTracing()).toBe(false)
    expect(startRunTrace({ id: 'r', kind: 'bot', trigger: 'api', tenantId: 't' })).toEqual({
      traceId: null,
      traceParent: null,
    })
    const headers = { 'content-type': 'application/json' }
    expect(injectTraceHeaders(headers)).toEqual({ 'content-type': 'application/json' })
  })
})

describe('semantic conventions', () => {
  it('names the attributes as @opentelemetry/semantic-conventions does in this version', () => {
    const expected: Record<keyof typeof attr, string> = {
      genAiOperationName: incubating.ATTR_GEN_AI_OPERATION_NAME,
      genAiProviderName: incubating.ATTR_GEN_AI_PROVIDER_NAME,
      genAiRequestModel: incubating.ATTR_GEN_AI_REQUEST_MODEL,
      genAiRequestMaxTokens: incubating.ATTR_GEN_AI_REQUEST_MAX_TOKENS,
      genAiResponseModel: incubating.ATTR_GEN_AI_RESPONSE_MODEL,
      genAiResponseFinishReasons: incubating.ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
      genAiUsageInputTokens: incubating.ATTR_GEN_AI_USAGE_INPUT_TOKENS,
      genAiUsageOutputTokens: incubating.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
      genAiToolName: incubating.ATTR_GEN_AI_TOOL_NAME,
      genAiToolCallId: incubating.ATTR_GEN_AI_TOOL_CALL_ID,
      genAiToolType: incubating.ATTR_GEN_AI_TOOL_TYPE,
      httpRequestMethod: incubating.ATTR_HTTP_REQUEST_METHOD,
      httpRoute: incubating.ATTR_HTTP_ROUTE,
      httpResponseStatusCode: incubating.ATTR_HTTP_RESPONSE_STATUS_CODE,
      urlPath: incubating.ATTR_URL_PATH,
      urlScheme: incubating.ATTR_URL_SCHEME,
      serverAddress: incubating.ATTR_SERVER_ADDRESS,
      errorType: incubating.ATTR_ERROR_TYPE,
    }
    expect(attr).toEqual(expected)
    expect(incubating.GEN_AI_OPERATION_NAME_VALUE_CHAT).toBe('chat')
    expect(incubating.GEN_AI_OPERATION_NAME_VALUE_EXECUTE_TOOL).toBe('execute_tool')
    expect(incubating.GEN_AI_PROVIDER_NAME_VALUE_GCP_GEMINI).toBe('gcp.gemini')
    expect(incubating.GEN_AI_PROVIDER_NAME_VALUE_MISTRAL_AI).toBe('mistral_ai')
  })
})

describe.each(dialects)('log lines inside spans on %s', (dialect) => {
  // The SDK started in this test process (each test file runs in a process of its own).
  let tracing: Tracing | undefined
  let receiver: http.Server | undefined
  const received: string[] = []
  beforeAll(async () => {
    receiver = http.createServer((request, response) => {
      let body = ''
      request.on('data', (chunk) => {
        body += chunk
      })
      request.on('end', () => {
        received.push(body)
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve))
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    }
    // The SDK reads its variables from the environment, as in a real process.
    Object.assign(process.env, env)
    const log = createCapturingLog()
    tracing = await startTracing({ config: tracingConfigOf(env), version: 'test', log: log.log })
  })
  afterAll(async () => {
    await tracing?.shutdown()
    receiver?.closeAllConnections()
    receiver?.close()
  })

  it('carry the request id, the tenant, the trace and the span; outbound headers carry the trace', async () => {
    expect(isTracing()).toBe(true)
    const captured = createCapturingLog()
    const t = await createTestApp(dialect, { log: captured.log })
    try {
      const callerTrace = randomBytes(16).toString('hex')
      const answer = await t.app.inject({
        url: `/api/v1/runs/${randomUUID()}`,
        headers: {
          ...bearer(t.keys.viewer),
          traceparent: `00-${callerTrace}-${randomBytes(8).toString('hex')}-01`,
        },
      })
      expect(answer.statusCode).toBe(404)
      const refused = captured.lines().find((line) => line.msg === 'request refused')
      expect(refused).toMatchObject({
        reqId: answer.headers['x-request-id'],
        tenantId: expect.any(String),
        traceId: callerTrace,
        spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
        code: 'run_not_found',
      })
    } finally {
      await t.close()
    }
    // A delivery inside a span sends its context; a line logged there names it.
    const lines = createCapturingLog()
    const headers = await withNotificationSpan(
      { channelType: 'webhook', channelId: 'c1', event: 'run.completed' },
      async () => {
        lines.log.info('sending')
        return injectTraceHeaders({})
      },
    )
    const [line] = lines.lines()
    expect(headers.traceparent).toBe(`00-${line!.traceId}-${line!.spanId}-01`)
  })
})
