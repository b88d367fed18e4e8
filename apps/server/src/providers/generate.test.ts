import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { generate } from './generate.ts'
import { ProviderError } from './provider.error.ts'
import {
  type GenerateRequest,
  type ProviderCredentials,
  type ProviderName,
  providerNames,
} from './provider.types.ts'

// Generation against local servers that speak each provider's real wire format.

const key = 'sk-test-key-0123456789'
const models: Record<ProviderName, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-20250514',
  google: 'gemini-2.5-flash',
  mistral: 'mistral-small-latest',
  ollama: 'llama3.2:latest',
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

async function providerErrorOf(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await rejectionOf(promise)
  if (error instanceof ProviderError) return error
  throw error
}

describe.each(providerNames)('generate with %s', (name) => {
  let server: ProviderServer
  let credentials: ProviderCredentials

  beforeEach(async () => {
    server = await startProviderServer(name, { apiKey: key })
    credentials = { name, apiKey: key, baseUrl: server.baseUrl, defaultModel: null }
  })
  afterEach(async () => {
    await server.close()
  })

  const request = (overrides: Partial<GenerateRequest> = {}): GenerateRequest => ({
    model: models[name],
    system: 'You are terse.',
    prompt: 'Say hello.',
    signal: new AbortController().signal,
    ...overrides,
  })
  const call = (overrides: Partial<GenerateRequest> = {}, idleTimeoutMs = 10_000) =>
    generate(credentials, request(overrides), { idleTimeoutMs })
  const chatRequests = () => server.requests.filter((r) => r.method === 'POST')

  it('answers with the text, the tokens used, the model and the finish reason', async () => {
    server.setBehaviour({
      type: 'success',
      text: 'Hello, world!',
      usage: { inputTokens: 21, outputTokens: 4 },
    })
    const result = await call()
    expect(result).toEqual({
      text: 'Hello, world!',
      tokensIn: 21,
      tokensOut: 4,
      model: models[name],
      finishReason: 'stop',
      // An answer, not tool calls: nothing to run, no turn to send back.
      toolCalls: [],
      responseMessages: [],
    })
    expect(chatRequests()).toHaveLength(1)
    const body = JSON.stringify(chatRequests()[0]!.body)
    expect(body).toContain('Say hello.')
    expect(body).toContain('You are terse.')
  })

  it('streams the text through onDelta as it arrives', async () => {
    server.setBehaviour({ type: 'success', text: 'one two three four', chunks: 4 })
    const deltas: string[] = []
    const result = await call({ onDelta: (text) => deltas.push(text) })
    expect(deltas.length).toBeGreaterThanOrEqual(4)
    expect(deltas.join('')).toBe('one two three four')
    expect(result.text).toBe('one two three four')
  })

  it('uses the default model when the request names none', async () => {
    credentials = { ...credentials, defaultModel: models[name] }
    expect((await call({ model: '' })).model).toBe(models[name])
  })

  if (name !== 'anthropic') {
    // Anthropic always reports usage; the others may not (an OpenAI-compatible server, an old Ollama).
    it('reports 0 tokens when the provider reports no usage', async () => {
      server.setBehaviour({ type: 'success', usage: null })
      const result = await call()
      expect(result.tokensIn).toBe(0)
      expect(result.tokensOut).toBe(0)
    })
  }

  it('fails with provider_auth, not retryable, when the key is refused', async () => {
    credentials = { ...credentials, apiKey: 'sk-wrong-key-0000000000' }
    const error = await providerErrorOf(call())
    expect(error.code).toBe('provider_auth')
    expect(error.retryable).toBe(false)
    expect(error.provider).toBe(name)
    expect(error.status).toBe(name === 'google' ? 400 : 401)
    expect(error.message).not.toContain('sk-wrong')
  })

  it('fails with provider_quota, not retryable, when the account has no credit', async () => {
    server.setBehaviour({ type: 'quota' })
    const error = await providerErrorOf(call())
    expect(error.code).toBe('provider_quota')
    expect(error.retryable).toBe(false)
  })

  it('fails with provider_rate_limited and the wait of Retry-After in seconds', async () => {
    server.setBehaviour({ type: 'rate_limited', retryAfter: '7' })
    const error = await providerErrorOf(call())
    expect(error.code).toBe('provider_rate_limited')
    expect(error.retryable).toBe(true)
    expect(error.retryAfterMs).toBe(7000)
    expect(error.status).toBe(429)
    expect(chatRequests()).toHaveLength(1) // the SDK does not retry by itself
  })

  if (name !== 'google') {
    // Gemini sends its wait as RetryInfo in seconds, never as an HTTP date.
    it('reads a Retry-After HTTP date', async () => {
      server.setBehaviour({ type: 'rate_limited', retryAfter: new Date(Date.now() + 30_000).toUTCString() })
      const error = await providerErrorOf(call())
      expect(error.code).toBe('provider_rate_limited')
      expect(error.retryAfterMs).toBeGreaterThan(25_000)
      expect(error.retryAfterMs).toBeLessThanOrEqual(30_000)
    })
  }

  it('fails with provider_unavailable, retryable, on a 500, and tries once', async () => {
    server.setBehaviour({ type: 'server_error' })
    const error = await providerErrorOf(call())
    expect(error.code).toBe('provider_unavailable')
    expect(error.retryable).toBe(true)
    expect(error.status).toBe(500)
    expect(chatRequests()).toHaveLength(1)
  })

  it('succeeds on the next attempt after a 500 (the retry belongs to the caller)', async () => {
    server.setBehaviour({
      type: 'script',
      steps: [{ type: 'server_error' }, { type: 'success', text: 'ok' }],
    })
    expect((await providerErrorOf(call())).code).toBe('provider_unavailable')
    expect((await call()).text).toBe('ok')
  })

  it('fails with provider_bad_request, not retryable, for an unknown model', async () => {
    server.setBehaviour({ type: 'bad_request' })
    const error = await providerErrorOf(call({ model: 'no-such-model' }))
    expect(error.code).toBe('provider_bad_request')
    expect(error.retryable).toBe(false)
    expect(error.message).toContain('no-such-model')
  })

  it('rejects promptly with the signal’s reason when aborted while waiting for a slow answer', async () => {
    server.setBehaviour({ type: 'slow', delayMs: 30_000 })
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    setTimeout(() => controller.abort(reason), 100)
    const started = Date.now()
    expect(await rejectionOf(call({ signal: controller.signal }))).toBe(reason)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('rejects promptly with the signal’s reason when cancelled mid-stream', async () => {
    server.setBehaviour({ type: 'hang', afterChunks: 1 })
    const controller = new AbortController()
    const reason = new Error('lease lost')
    const deltas: string[] = []
    const started = Date.now()
    const pending = call({
      signal: controller.signal,
      onDelta: (text) => {
        deltas.push(text)
        setTimeout(() => controller.abort(reason), 50)
      },
    })
    expect(await rejectionOf(pending)).toBe(reason)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(deltas).toHaveLength(1)
  })

  it('rejects at once, without calling the provider, when the signal is already aborted', async () => {
    const controller = new AbortController()
    controller.abort(new Error('timeout'))
    expect(await rejectionOf(call({ signal: controller.signal }))).toBe(controller.signal.reason)
    expect(chatRequests()).toHaveLength(0)
  })

  it('fails with provider_timeout, retryable, when a stream stalls longer than the idle timeout', async () => {
    server.setBehaviour({ type: 'hang', afterChunks: 1 })
    const error = await providerErrorOf(call({}, 300))
    expect(error.code).toBe('provider_timeout')
    expect(error.retryable).toBe(true)
  })
})

describe('generate, transport failures', () => {
  it('fails with provider_unavailable, retryable, when nothing listens at the base URL', async () => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const error = await providerErrorOf(
      generate(
        { name: 'openai', apiKey: key, baseUrl: `http://127.0.0.1:${port}/v1`, defaultModel: null },
        { model: 'gpt-4o', system: '', prompt: 'hi', signal: new AbortController().signal },
        { idleTimeoutMs: 5000 },
      ),
    )
    expect(error.code).toBe('provider_unavailable')
    expect(error.retryable).toBe(true)
    expect(error.status).toBeUndefined()
    expect(error.message).toContain('connection refused')
  })

  it('fails with provider_bad_request when neither the request nor the provider names a model', async () => {
    const error = await providerErrorOf(
      generate(
        { name: 'openai', apiKey: key, baseUrl: null, defaultModel: null },
        { model: '', system: '', prompt: 'hi', signal: new AbortController().signal },
        { idleTimeoutMs: 5000 },
      ),
    )
    expect(error.code).toBe('provider_bad_request')
  })

  it('passes a throw of onDelta on as it is', async () => {
    const server = await startProviderServer('openai', { apiKey: key })
    try {
      const boom = new Error('live feed closed')
      const error = await rejectionOf(
        generate(
          { name: 'openai', apiKey: key, baseUrl: server.baseUrl, defaultModel: null },
          {
            model: 'gpt-4o',
            system: '',
            prompt: 'hi',
            signal: new AbortController().signal,
            onDelta: () => {
              throw boom
            },
          },
          { idleTimeoutMs: 5000 },
        ),
      )
      expect(error).toBe(boom)
    } finally {
      await server.close()
    }
  })
})
