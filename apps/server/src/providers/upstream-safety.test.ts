import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { maxAnswerChars, maxRetryAfterMs } from './upstream-guard.ts'

// OWASP API10 (unsafe consumption of APIs): what a provider answers is outside input. A misconfigured
// base URL, a hostile proxy or a broken server may redirect, flood, lie about usage, or put terminal
// escapes into its messages; none of it may take the key elsewhere, exhaust memory, stall a run for
// years or reach a person unfiltered.

interface Hostile {
  baseUrl: string
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>
  close(): Promise<void>
}

async function listen(
  handle: (request: http.IncomingMessage, response: http.ServerResponse) => void,
): Promise<Hostile> {
  const requests: Hostile['requests'] = []
  const server = http.createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers })
    request.resume()
    request.on('end', () => handle(request, response))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

const hasControlCharacters = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f')
const modelList = (ids: string[]) =>
  JSON.stringify({ object: 'list', data: ids.map((id) => ({ id, object: 'model' })) })
const chunk = (delta: object, extra: object = {}) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, finish_reason: null }],
    ...extra,
  })}\n\n`

/** An OpenAI-shaped server: a normal model list, and `chat` for completions. */
function openAiLike(chat: (response: http.ServerResponse) => void) {
  return listen((request, response) => {
    if (request.url?.startsWith('/v1/models')) {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(modelList(['gpt-4o-mini']))
    } else chat(response)
  })
}

describe('provider answers are outside input (API10): key checks', () => {
  let t: TestApp
  const servers: Hostile[] = []
  beforeEach(async () => {
    t = await createTestApp('sqlite')
  })
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
    await t.close()
  })
  const check = (name: string, baseUrl: string, apiKey = 'sk-api10-key-0123456789') =>
    t.app.inject({
      method: 'PUT',
      url: `/api/v1/providers/${name}`,
      headers: bearer(t.keys.admin),
      payload: { apiKey, baseUrl },
    })

  it('never follows a redirect: the key stays with the configured address', async () => {
    const elsewhere = await listen((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ data: [] }))
    })
    const redirecting = await listen((request, response) => {
      response.writeHead(307, { location: `${elsewhere.baseUrl.replace('/v1', '')}${request.url}` })
      response.end()
    })
    servers.push(elsewhere, redirecting)
    for (const name of ['openai', 'anthropic', 'google']) {
      const response = await check(name, redirecting.baseUrl)
      expect(response.statusCode, name).toBe(422)
      expect(response.json()).toMatchObject({ code: 'provider_bad_answer' })
      expect(response.json().detail).toContain('redirect')
    }
    expect(redirecting.requests).toHaveLength(3)
    expect(elsewhere.requests).toEqual([])
  })

  it('refuses a flood instead of reading it into memory', async () => {
    const flood = await listen((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      const block = Buffer.alloc(1024 * 1024, 0x20)
      let sent = 0
      const pump = () => {
        while (sent < 64 && response.write(block)) sent++
        if (sent < 64) response.once('drain', pump)
        else response.end()
      }
      pump()
    })
    servers.push(flood)
    const response = await check('openai', flood.baseUrl)
    expect(response.statusCode).toBe(422)
    expect(response.json()).toMatchObject({ code: 'provider_bad_answer' })
    expect(response.json().detail).toMatch(/more than 16 MB/)
  })

  it('keeps only sane model ids from a model list, and at most 2,000', async () => {
    const ids = [
      ...Array.from({ length: 5_000 }, (_, i) => `model-${String(i).padStart(5, '0')}`),
      `x${'y'.repeat(10_000)}`,
      'evil\u001b[31mred',
      '',
    ]
    const lister = await listen((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(modelList(ids))
    })
    servers.push(lister)
    const response = await check('openai', lister.baseUrl)
    expect(response.statusCode, response.body).toBe(200)
    const models = response.json().models as string[]
    expect(models).toHaveLength(2_000)
    expect(models.every((id) => /^model-\d{5}$/.test(id))).toBe(true)
  })

  it('filters terminal escapes and caps the provider’s own words in an error', async () => {
    const shouting = await listen((_, response) => {
      response.writeHead(401, { 'content-type': 'application/json' })
      response.end(
        JSON.stringify({
          error: {
            message: `\u001b]0;pwned\u0007\u001b[2J${'bad key! '.repeat(5_000)}`,
            code: 'invalid_api_key',
          },
        }),
      )
    })
    servers.push(shouting)
    const response = await check('openai', shouting.baseUrl)
    expect(response.statusCode).toBe(422)
    const detail = response.json().detail as string
    expect(hasControlCharacters(detail)).toBe(false)
    expect(detail.length).toBeLessThan(800)
  })
})

describe.each(dialects)('provider answers are outside input (API10): runs on %s', (dialect) => {
  let t: TestApp
  let server: Hostile | undefined
  let chat: (response: http.ServerResponse) => void
  beforeEach(async () => {
    t = await createTestApp(dialect)
    server = await openAiLike((response) => chat(response))
    const saved = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/providers/openai',
      headers: bearer(t.keys.admin),
      payload: { apiKey: 'sk-api10-key-0123456789', baseUrl: server.baseUrl, defaultModel: 'gpt-4o-mini' },
    })
    expect(saved.statusCode, saved.body).toBe(200)
    t.startKernel()
  })
  afterEach(async () => {
    await server?.close()
    await t.close()
  })

  const runOnce = async (maxRetries = 0) => {
    const bot = await t.bots.service.create('default', {
      name: 'API10',
      prompt: 'p',
      provider: 'openai',
      maxRetries,
    })
    const queued = await t.bots.service.runNow('default', bot.id, { trigger: 'manual' })
    if (queued.status === 'dropped') throw new Error('dropped')
    return queued.run.id
  }
  const settled = (id: string) =>
    waitFor(
      async () => {
        const run = await t.kernel.runs.get('default', id)
        return ['completed', 'failed'].includes(run.status) ? run : undefined
      },
      { what: 'the run to end', timeoutMs: 30_000 },
    )

  it('stores sane numbers and a clean model name when the answer lies about usage', async () => {
    chat = (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.write(chunk({ role: 'assistant', content: 'Fine.' }, { model: 'gpt\u001b[31m-evil\u0007' }))
      response.write(chunk({}, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }))
      response.write(
        `data: ${JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          created: 1,
          model: 'gpt-4o-mini',
          choices: [],
          usage: { prompt_tokens: -5, completion_tokens: 1e300, total_tokens: 3 },
        })}\n\n`,
      )
      response.end('data: [DONE]\n\n')
    }
    const run = await settled(await runOnce())
    expect(run.status).toBe('completed')
    const row = await t.database.db
      .selectFrom('runs')
      .select(['result'])
      .where('id', '=', run.id)
      .executeTakeFirstOrThrow()
    const result = JSON.parse(row.result!)
    expect(result).toMatchObject({ tokensIn: 0, tokensOut: 0 })
    expect(Number(result.costUsd ?? 0)).toBeGreaterThanOrEqual(0)
    const usage = await t.database.db
      .selectFrom('usage_records')
      .select(['model', 'tokens_in', 'tokens_out'])
      .where('run_id', '=', run.id)
      .executeTakeFirstOrThrow()
    expect(usage).toMatchObject({ tokens_in: 0, tokens_out: 0 })
    expect(hasControlCharacters(usage.model)).toBe(false)
    expect(usage.model).toContain('gpt')
  })

  it('cuts off an answer that never ends, without retrying it', async () => {
    chat = (response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      const text = 'z'.repeat(8_192)
      const pump = () => {
        while (!response.destroyed && response.write(chunk({ content: text }))) {}
        if (!response.destroyed) response.once('drain', pump)
      }
      pump()
    }
    const run = await settled(await runOnce(2))
    expect(run.status).toBe('failed')
    expect(run.error).toMatchObject({ code: 'provider_bad_answer' })
    expect(run.attempt).toBe(1)
    expect(run.error?.message).toContain(maxAnswerChars.toLocaleString('en'))
  })

  it('waits at most an hour when a provider asks for years', async () => {
    chat = (response) => {
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '999999999' })
      response.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_error' } }))
    }
    const id = await runOnce(3)
    const waiting = await waitFor(
      async () => {
        const run = await t.kernel.runs.get('default', id)
        return run.status === 'pending' && run.attempt >= 1 ? run : undefined
      },
      { what: 'the run to wait for its retry' },
    )
    const wait = Number(waiting.runAt) - t.kernel.clock.now()
    expect(wait).toBeLessThanOrEqual(maxRetryAfterMs + 5_000)
    expect(wait).toBeGreaterThan(maxRetryAfterMs - 60_000)
  })
})
