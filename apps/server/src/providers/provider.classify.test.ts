import { APICallError } from 'ai'
import { describe, expect, it } from 'vitest'
import { RunFailure, toRunError } from '../runs/run.failure.ts'
import { classifyHttpAnswer, classifyNetworkError, providerErrorOf } from './provider.classify.ts'
import { ProviderError, parseRetryAfter } from './provider.error.ts'
import type { ProviderName } from './provider.types.ts'

const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  headers,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  url: 'https://api.example.com/v1/x',
})
const codeOf = (provider: ProviderName, status: number, body: unknown, headers?: Record<string, string>) =>
  classifyHttpAnswer(provider, answer(status, body, headers), 'call').code

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0)
  it('reads delay-seconds, with fractions', () => {
    expect(parseRetryAfter('7', now)).toBe(7000)
    expect(parseRetryAfter(' 1.5 ', now)).toBe(1500)
    expect(parseRetryAfter('0', now)).toBe(0)
  })
  it('reads an HTTP date relative to now, a past date as 0', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now)).toBe(0)
  })
  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('-5', now)).toBeUndefined()
  })
})

describe('classifyHttpAnswer', () => {
  it('extends RunFailure, so the kernel retries by `retryable` and `retryAfterMs`', () => {
    const error = classifyHttpAnswer('openai', answer(429, {}, { 'retry-after': '3' }), 'call')
    expect(error).toBeInstanceOf(RunFailure)
    expect(error).toBeInstanceOf(ProviderError)
    expect(toRunError(error)).toEqual({
      code: 'provider_rate_limited',
      message: error.message,
      retryable: true,
      retryAfterMs: 3000,
    })
  })

  it('tells OpenAI’s insufficient_quota from its rate limit, both 429', () => {
    expect(codeOf('openai', 429, { error: { type: 'insufficient_quota', code: 'insufficient_quota' } })).toBe(
      'provider_quota',
    )
    expect(codeOf('openai', 429, { error: { type: 'requests', code: 'rate_limit_exceeded' } })).toBe(
      'provider_rate_limited',
    )
  })

  it('counts 402 and credit-balance refusals as provider_quota', () => {
    expect(codeOf('mistral', 402, { message: 'Payment Required' })).toBe('provider_quota')
    expect(codeOf('openai', 402, '')).toBe('provider_quota')
    expect(
      codeOf('anthropic', 400, {
        type: 'error',
        error: {
          type: 'invalid_request_error',
          message: 'Your credit balance is too low to access the Anthropic API.',
        },
      }),
    ).toBe('provider_quota')
  })

  it('tells Gemini’s per-day quota from its per-minute limit, with RetryInfo as the wait', () => {
    const exhausted = (quotaId: string) => ({
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: 'You exceeded your current quota, please check your plan and billing details.',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '26s' },
        ],
      },
    })
    expect(codeOf('google', 429, exhausted('GenerateRequestsPerDayPerProjectPerModel-FreeTier'))).toBe(
      'provider_quota',
    )
    const perMinute = classifyHttpAnswer(
      'google',
      answer(429, exhausted('GenerateRequestsPerMinutePerProjectPerModel-FreeTier')),
      'call',
    )
    expect(perMinute.code).toBe('provider_rate_limited')
    expect(perMinute.retryAfterMs).toBe(26_000)
  })

  it('counts Gemini’s 400 API_KEY_INVALID as provider_auth', () => {
    expect(
      codeOf('google', 400, {
        error: {
          code: 400,
          status: 'INVALID_ARGUMENT',
          message: 'API key not valid. Please pass a valid API key.',
          details: [{ reason: 'API_KEY_INVALID' }],
        },
      }),
    ).toBe('provider_auth')
  })

  it('maps 401/403, 408/504, 5xx and Anthropic’s 529, and other 4xx', () => {
    expect(codeOf('openai', 401, {})).toBe('provider_auth')
    expect(codeOf('openai', 403, {})).toBe('provider_auth')
    expect(codeOf('openai', 408, {})).toBe('provider_timeout')
    expect(codeOf('openai', 504, {})).toBe('provider_timeout')
    expect(codeOf('openai', 502, '<html>Bad gateway</html>')).toBe('provider_unavailable')
    expect(
      codeOf('anthropic', 529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ).toBe('provider_unavailable')
    expect(codeOf('openai', 400, { error: { message: 'Invalid value for temperature' } })).toBe(
      'provider_bad_request',
    )
    expect(codeOf('openai', 413, {})).toBe('provider_bad_request')
  })

  it('honours Retry-After on a 503 and retry-after-ms', () => {
    expect(classifyHttpAnswer('openai', answer(503, {}, { 'Retry-After': '4' }), 'call').retryAfterMs).toBe(
      4000,
    )
    expect(
      classifyHttpAnswer('openai', answer(429, {}, { 'retry-after-ms': '250' }), 'call').retryAfterMs,
    ).toBe(250)
  })

  it('quotes the provider’s words for a bad request, short and on one line', () => {
    const error = classifyHttpAnswer(
      'openai',
      answer(404, { error: { message: `The model \`gpt-9\` does not exist\n${'x'.repeat(500)}` } }),
      'call',
    )
    expect(error.message).toContain('The model `gpt-9` does not exist')
    expect(error.message).not.toContain('\n')
    expect(error.message.length).toBeLessThan(500)
  })

  it('reads a 404 of the model list as a wrong base URL', () => {
    const error = classifyHttpAnswer('mistral', answer(404, 'Not Found'), 'validate')
    expect(error.code).toBe('provider_unreachable')
    expect(error.message).toContain('https://api.mistral.ai/v1')
  })
})

describe('classifyNetworkError and providerErrorOf', () => {
  const refused = Object.assign(new TypeError('fetch failed'), {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
  })

  it('names the network reason', () => {
    expect(classifyNetworkError('openai', refused, 'http://127.0.0.1:9/v1', 'call')).toMatchObject({
      code: 'provider_unavailable',
      retryable: true,
    })
    expect(classifyNetworkError('openai', refused, 'http://127.0.0.1:9/v1', 'validate').code).toBe(
      'provider_unreachable',
    )
    expect(classifyNetworkError('openai', refused, 'http://127.0.0.1:9/v1', 'call').message).toContain(
      'connection refused',
    )
  })

  it('treats a transport timeout as provider_timeout', () => {
    const timeout = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }),
    })
    expect(classifyNetworkError('anthropic', timeout, 'https://api.anthropic.com/v1', 'call').code).toBe(
      'provider_timeout',
    )
  })

  it('maps an APICallError by its status, and one without a status as a network failure', () => {
    const withStatus = new APICallError({
      message: 'Too Many Requests',
      url: 'https://api.openai.com/v1/chat/completions',
      requestBodyValues: {},
      statusCode: 429,
      responseHeaders: { 'retry-after': '2' },
      responseBody: JSON.stringify({ error: { code: 'rate_limit_exceeded' } }),
    })
    expect(providerErrorOf('openai', withStatus, 'https://api.openai.com/v1')).toMatchObject({
      code: 'provider_rate_limited',
      retryAfterMs: 2000,
      status: 429,
    })
    const network = new APICallError({
      message: 'Cannot connect to API: connect ECONNREFUSED',
      url: 'https://api.openai.com/v1/chat/completions',
      requestBodyValues: {},
      cause: refused.cause,
      isRetryable: true,
    })
    expect(providerErrorOf('openai', network, 'https://api.openai.com/v1').code).toBe('provider_unavailable')
  })

  it('maps errors a provider reports inside an open stream', () => {
    expect(providerErrorOf('anthropic', { type: 'overloaded_error', message: 'Overloaded' }, 'x').code).toBe(
      'provider_unavailable',
    )
    expect(providerErrorOf('anthropic', { type: 'rate_limit_error', message: 'slow down' }, 'x').code).toBe(
      'provider_rate_limited',
    )
  })
})
