import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { dialects } from './databases.ts'
import { waitFor } from './kernel-harness.ts'
import { startProviderServer } from './provider-servers/index.ts'
import { serverDatabaseEnv, startServerProcess } from './server-process.ts'

// Issue 16, decision 0038: OpenTelemetry traces, received by an OTLP/HTTP receiver written here. The
// exporter is told to send JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) so the receiver reads the
// spans without a protobuf decoder; the protocol is the SDK's business, the spans are ours.

const ownerKey = 'traces-owner-key-1234567890abcdef'
const providerKey = 'sk-traces-0123456789abcdef'
const cleanups: Array<() => Promise<void>> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

interface OtlpValue {
  stringValue?: string
  intValue?: number | string
  boolValue?: boolean
  doubleValue?: number
  arrayValue?: { values: OtlpValue[] }
}
interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: Record<string, unknown>
  links: Array<{ traceId: string; spanId: string }>
  status: { code?: number }
  resource: Record<string, unknown>
}

function otlpValueOf(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.boolValue !== undefined) return value.boolValue
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.arrayValue) return value.arrayValue.values.map(otlpValueOf)
  return undefined
}

function attributesOf(list: Array<{ key: string; value: OtlpValue }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, otlpValueOf(value)]))
}

/** An OTLP/HTTP receiver (JSON encoding): every span it was sent, flattened. */
async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = []
  const server = http.createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end()
        return
      }
      const payload = JSON.parse(body) as {
        resourceSpans: Array<{
          resource?: { attributes?: Array<{ key: string; value: OtlpValue }> }
          scopeSpans: Array<{ spans: Array<Record<string, unknown>> }>
        }>
      }
      for (const resourceSpans of payload.resourceSpans) {
        const resource = attributesOf(resourceSpans.resource?.attributes)
        for (const scope of resourceSpans.scopeSpans)
          for (const span of scope.spans)
            spans.push({
              traceId: span.traceId as string,
              spanId: span.spanId as string,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId as string } : {}),
              name: span.name as string,
              kind: span.kind as number,
              attributes: attributesOf(span.attributes as Array<{ key: string; value: OtlpValue }>),
              links: (span.links as ReceivedSpan['links']) ?? [],
              status: (span.status as ReceivedSpan['status']) ?? {},
              resource,
            })
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return { spans, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** The server's URL once it printed it: waited for longer than url() does (this machine may be busy). */
async function startedUrl(process: ReturnType<typeof startServerProcess>): Promise<string> {
  let out = ''
  let errors = ''
  process.child.stdout!.on('data', (chunk) => {
    out += chunk
  })
  process.child.stderr!.on('data', (chunk) => {
    errors += chunk
  })
  return waitFor(() => /running at (http:\/\/\S+)/.exec(out)?.[1], {
    what: `the server to start (${errors.slice(-500)})`,
    timeoutMs: 90_000,
  })
}

// OTLP span kinds.
const server = 2
const client = 3
const producer = 4
const consumer = 5

describe.each(dialects)('traces on %s', (dialect) => {
  it('exports the request, run, attempt, LLM, tool and notification spans of one trace, and the webhook receives it', async () => {
    const receiver = await startOtlpReceiver()
    // The webhook channel's receiver: the traceparent of each delivery.
    const deliveries: Array<{ traceparent: string | undefined }> = []
    const hook = http.createServer((request, response) => {
      request.resume()
      request.on('end', () => {
        deliveries.push({ traceparent: request.headers.traceparent as string | undefined })
        response.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve))
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          hook.closeAllConnections()
          hook.close(() => resolve())
        }),
    )
    const model = await startProviderServer('openai', { apiKey: providerKey, models: ['gpt-4o-mini'] })
    cleanups.push(() => model.close())
    const env = {
      ...(await serverDatabaseEnv(dialect, cleanups)),
      OPENORCH_EGRESS_ALLOW: '127.0.0.1',
      OPENORCH_LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'openorch-traces-test',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    }
    const process1 = startServerProcess(env, ownerKey, cleanups)
    const lines: Array<Record<string, unknown>> = []
    let partial = ''
    process1.child.stdout!.on('data', (chunk) => {
      partial += chunk
      const complete = partial.split('\n')
      partial = complete.pop() ?? ''
      for (const line of complete)
        if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>)
    })
    const base = await startedUrl(process1)
    const call = process1.api(base)
    expect(
      (
        await call('PUT', '/providers/openai', {
          apiKey: providerKey,
          baseUrl: model.baseUrl,
          defaultModel: 'gpt-4o-mini',
        })
      ).status,
    ).toBe(200)
    model.setBehaviour({
      type: 'script',
      steps: [
        {
          type: 'tool_calls',
          calls: [{ name: 'files_write', arguments: { name: 'found.txt', content: 'Air Max 90' } }],
          usage: { inputTokens: 31, outputTokens: 9 },
        },
        { type: 'success', text: 'Noted.', usage: { inputTokens: 57, outputTokens: 4 } },
      ],
    })
    const bot = await call('POST', '/bots', {
      name: 'Scout',
      prompt: 'Note what you find.',
      provider: 'openai',
      tools: ['files'],
    })
    expect(bot.status, JSON.stringify(bot.json)).toBe(201)
    const channel = await call('POST', '/channels', {
      type: 'webhook',
      name: 'Hook',
      config: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` },
    })
    expect(channel.status, JSON.stringify(channel.json)).toBe(201)
    await call('PUT', `/bots/${bot.json.id}/channels/${channel.json.id}`, { rule: 'always' })

    // The caller has a trace of its own: the request joins it (W3C traceparent).
    const callerTrace = randomBytes(16).toString('hex')
    const callerSpan = randomBytes(8).toString('hex')
    const started = await fetch(`${base}/api/v1/bots/${bot.json.id}/runs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ownerKey}`,
        'content-type': 'application/json',
        traceparent: `00-${callerTrace}-${callerSpan}-01`,
      },
      body: '{}',
    })
    expect(started.status).toBe(202)
    const runId = ((await started.json()) as { id: string }).id
    const run = await waitFor(
      async () => {
        const answer = (await call('GET', `/runs/${runId}`)).json
        return ['completed', 'failed'].includes(answer.status) ? answer : undefined
      },
      { what: 'the run to finish', timeoutMs: 30_000 },
    )
    expect(run).toMatchObject({ status: 'completed', tokensIn: 31 + 57, tokensOut: 9 + 4 })
    // The Run JSON names the trace.
    expect(run.traceId).toBe(callerTrace)
    await waitFor(() => deliveries.length === 1, { what: 'the webhook delivery', timeoutMs: 30_000 })
    const notify = await waitFor(() => receiver.spans.find((span) => span.name === 'notify webhook'), {
      what: 'the notification span',
      timeoutMs: 30_000,
    })
    const ofTrace = receiver.spans.filter((span) => span.traceId === callerTrace)
    const one = (name: string) => {
      const found = ofTrace.filter((span) => span.name === name)
      expect(found, `${name} in ${ofTrace.map((span) => span.name).join(', ')}`).toHaveLength(1)
      return found[0]!
    }

    // The request: a server span, child of the caller's span.
    const request = one('POST /api/v1/bots/:id/runs')
    expect(request).toMatchObject({ kind: server, parentSpanId: callerSpan })
    expect(request.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/bots/:id/runs',
      'http.response.status_code': 202,
      'url.path': `/api/v1/bots/${bot.json.id}/runs`,
    })
    expect(request.resource).toMatchObject({
      'service.name': 'openorch-traces-test',
      'deployment.environment.name': 'test',
    })
    // The run: made by the request; its attempt, in the worker, a child of it.
    const runSpan = ofTrace.find(
      (span) => span.name === 'run bot' && span.attributes['openorch.run.id'] === runId,
    )!
    expect(runSpan).toMatchObject({ kind: producer, parentSpanId: request.spanId })
    expect(runSpan.attributes).toMatchObject({ 'openorch.run.kind': 'bot', 'openorch.run.trigger': 'api' })
    const attempt = ofTrace.find(
      (span) => span.name === 'attempt bot' && span.attributes['openorch.run.id'] === runId,
    )!
    expect(attempt).toMatchObject({ kind: consumer, parentSpanId: runSpan.spanId })
    expect(attempt.attributes).toMatchObject({
      'openorch.run.attempt': 1,
      'openorch.run.outcome': 'completed',
    })
    // Two model calls (GenAI conventions) with the stand-in's token counts, and the tool between them.
    const llm = ofTrace.filter((span) => span.name === 'chat gpt-4o-mini')
    expect(llm).toHaveLength(2)
    for (const span of llm) {
      expect(span).toMatchObject({ kind: client, parentSpanId: attempt.spanId })
      expect(span.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.response.model': 'gpt-4o-mini',
        'server.address': '127.0.0.1',
      })
    }
    expect(
      llm.map((span) => [
        span.attributes['gen_ai.usage.input_tokens'],
        span.attributes['gen_ai.usage.output_tokens'],
      ]),
    ).toEqual(
      expect.arrayContaining([
        [31, 9],
        [57, 4],
      ]),
    )
    const tool = one('execute_tool files_write')
    expect(tool).toMatchObject({ parentSpanId: attempt.spanId })
    expect(tool.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'files_write',
    })
    expect(tool.status.code ?? 0).not.toBe(2)
    // The notification is a run of its own in the same trace: its span, its attempt, its delivery.
    const notificationRun = one('run notification')
    // Enqueued by an event consumer, outside any span: a child of the bot run's span, from its stored context.
    expect(notificationRun.parentSpanId).toBe(runSpan.spanId)
    const notificationAttempt = one('attempt notification')
    expect(notificationAttempt.parentSpanId).toBe(notificationRun.spanId)
    expect(notify).toMatchObject({
      traceId: callerTrace,
      kind: client,
      parentSpanId: notificationAttempt.spanId,
    })
    expect(notify.attributes).toMatchObject({
      'openorch.channel.type': 'webhook',
      'openorch.channel.id': channel.json.id,
      'openorch.event': 'run.completed',
    })
    // The receiver got the trace context of the delivery's span.
    expect(deliveries[0]!.traceparent).toBe(`00-${callerTrace}-${notify.spanId}-01`)

    // Log lines written inside a span carry its trace and span, the request id and the tenant.
    const inRequest = lines.filter((line) => line.traceId === callerTrace)
    expect(inRequest.length, JSON.stringify(lines.slice(-20))).toBeGreaterThan(0)
    for (const line of inRequest) expect(line.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(JSON.stringify(lines)).not.toContain(providerKey)
    expect(JSON.stringify(receiver.spans)).not.toContain(providerKey)
  }, 240_000)
})

/** RSS (kB) of a process, from /proc. */
function rssKb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
}

describe('tracing off', () => {
  it('loads no SDK module, and what it loads instead stays far within 15 MB of RSS', async () => {
    // A preload that records every OpenTelemetry SDK package the process requires (sdk-node requires them).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-otel-'))
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }))
    const record = path.join(dir, 'loaded.txt')
    const preload = path.join(dir, 'record.cjs')
    fs.writeFileSync(
      preload,
      `const Module = require('node:module'); const fs = require('node:fs');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (/^@opentelemetry\\/(sdk|exporter|resources)/.test(request)) fs.appendFileSync(${JSON.stringify(record)}, request + '\\n');
  return load.call(this, request, ...rest);
};`,
    )
    const measure = async (tracing: boolean) => {
      fs.rmSync(record, { force: true })
      const receiver = tracing ? await startOtlpReceiver() : undefined
      const env = {
        ...(await serverDatabaseEnv('sqlite', cleanups)),
        NODE_OPTIONS: `--require ${preload}`,
        ...(receiver
          ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }
          : {}),
      }
      const child = startServerProcess(env, ownerKey, cleanups)
      const url = await startedUrl(child)
      const call = child.api(url)
      for (let i = 0; i < 20; i++) expect((await call('GET', '/runs')).status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 500))
      const rss = rssKb(child.child.pid!)
      child.child.kill('SIGKILL')
      await child.exited
      return { rss, loaded: fs.existsSync(record) ? fs.readFileSync(record, 'utf8') : '' }
    }
    const off = await measure(false)
    const on = await measure(true)
    // The recorder works: with tracing on it sees the SDK's packages.
    expect(on.loaded).toContain('@opentelemetry/sdk-trace')
    expect(off.loaded).toBe('')
    // Off, the only OpenTelemetry code in the process is @opentelemetry/api: what it costs alone.
    const apiCost = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `await import('node:path'); const before = process.memoryUsage().rss; await import('@opentelemetry/api'); console.log(process.memoryUsage().rss - before)`,
      ],
      { cwd: import.meta.dirname, encoding: 'utf8' },
    )
    const apiKb = Math.round(Number(apiCost.stdout.trim()) / 1024)
    process.stdout.write(
      `RSS: tracing off ${off.rss} kB, on ${on.rss} kB; @opentelemetry/api alone ${apiKb} kB\n`,
    )
    expect(apiKb).toBeLessThan(15 * 1024)
    // Not compared: the two processes' RSS differ by GC timing and the machine's load by ±25 MB (a CI
    // run had off 281 MB, on 257 MB), more than the SDK's ~10 MB. What tracing off costs is what the
    // recorder shows it loads (no SDK module) and @opentelemetry/api's own cost above.
  }, 300_000)
})
