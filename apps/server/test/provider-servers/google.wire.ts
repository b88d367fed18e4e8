import {
  type AnswerInput,
  type ErrorInput,
  type ErrorReply,
  retryAfterSeconds,
  sse,
  type ToolCallAnswer,
  type Wire,
} from './wire.ts'

// The Gemini API (https://ai.google.dev/api): POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent?alt=sse (each chunk a GenerateContentResponse with usageMetadata),
// GET /v1beta/models, key in `x-goog-api-key` (or `?key=`), errors as google.rpc.Status
// { error: { code, message, status, details } }.
// Real quirks kept on purpose: a wrong key is answered 400 INVALID_ARGUMENT with reason
// API_KEY_INVALID (not 401), a missing key 403 PERMISSION_DENIED; rate limits and quotas are both
// 429 RESOURCE_EXHAUSTED, told apart by the QuotaFailure's quotaId (…PerMinute… vs …PerDay…), and
// the wait comes as RetryInfo.retryDelay, not as a Retry-After header.
// Tool calls: `functionCall` parts { name, args } after the text, finishReason STOP (the client tells
// them apart by the parts); streamed whole in the last chunk. No id unless the behaviour gives one.

const googleError = (code: number, status: string, message: string, details: unknown[] = []) => ({
  error: { code, message, status, ...(details.length > 0 ? { details } : {}) },
})

function quotaExhausted(quotaId: string, retryDelaySeconds: number | undefined) {
  return googleError(
    429,
    'RESOURCE_EXHAUSTED',
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
    [
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [
          {
            quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
            quotaId,
            quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' },
            quotaValue: '10',
          },
        ],
      },
      {
        '@type': 'type.googleapis.com/google.rpc.Help',
        links: [{ description: 'Learn more', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
      },
      ...(retryDelaySeconds === undefined
        ? []
        : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryDelaySeconds}s` }]),
    ],
  )
}

function errorReply(input: ErrorInput): ErrorReply {
  switch (input.kind) {
    case 'unauthorized':
      if (!input.hasKey)
        return {
          status: 403,
          body: googleError(
            403,
            'PERMISSION_DENIED',
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
          ),
        }
      return {
        status: 400,
        body: googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ]),
      }
    case 'quota':
      return { status: 429, body: quotaExhausted('GenerateRequestsPerDayPerProjectPerModel-FreeTier', 3600) }
    case 'rate_limited':
      return {
        status: 429,
        body: quotaExhausted(
          'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
          input.retryAfter === undefined ? undefined : retryAfterSeconds(input.retryAfter),
        ),
      }
    case 'server_error': {
      const status = input.status ?? 500
      return status === 503
        ? {
            status,
            body: googleError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'),
          }
        : {
            status,
            body: googleError(
              status,
              'INTERNAL',
              'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
            ),
          }
    }
    case 'bad_request':
      return {
        status: 404,
        body: googleError(
          404,
          'NOT_FOUND',
          `models/${input.model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
        ),
      }
  }
}

function usageMetadata(usage: AnswerInput['usage'], final: boolean) {
  if (!usage) return {}
  return {
    usageMetadata: {
      promptTokenCount: usage.inputTokens,
      ...(final ? { candidatesTokenCount: usage.outputTokens } : {}),
      totalTokenCount: usage.inputTokens + (final ? usage.outputTokens : 0),
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: usage.inputTokens }],
    },
  }
}

/** A `functionCall` part: name and args, the id only when the behaviour gave one. */
const functionCallPart = (call: ToolCallAnswer) => ({
  functionCall: { ...(call.id === undefined ? {} : { id: call.id }), name: call.name, args: call.input },
})

const generatePath = /^\/v1beta\/models\/([^:/]+):(generateContent|streamGenerateContent)$/

export const googleWire: Wire = {
  basePath: '/v1beta',
  defaultModels: ['gemini-2.5-flash', 'gemini-2.0-flash', 'text-embedding-004'],
  keyOf: (request) => {
    const key = request.headers['x-goog-api-key']
    if (typeof key === 'string') return key
    return request.query.key ?? null
  },
  route(request) {
    if (request.method === 'GET' && request.path === '/v1beta/models')
      return { endpoint: 'models', stream: false, model: '' }
    const match = request.method === 'POST' ? generatePath.exec(request.path) : null
    if (!match) return null
    return { endpoint: 'chat', stream: match[2] === 'streamGenerateContent', model: match[1]! }
  },
  models: (ids) => ({
    models: ids.map((id) => ({
      name: `models/${id}`,
      version: '001',
      displayName: id,
      description: `${id} (test)`,
      inputTokenLimit: 1_048_576,
      outputTokenLimit: 65_536,
      supportedGenerationMethods: id.includes('embedding')
        ? ['embedContent']
        : ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    })),
  }),
  completion: ({ model, pieces, usage, toolCalls = [] }) => ({
    candidates: [
      {
        content: {
          parts: [
            ...(pieces.length > 0 || toolCalls.length === 0 ? [{ text: pieces.join('') }] : []),
            ...toolCalls.map(functionCallPart),
          ],
          role: 'model',
        },
        finishReason: 'STOP',
        index: 0,
      },
    ],
    ...usageMetadata(usage, true),
    modelVersion: model,
    responseId: 'test-response-id',
  }),
  stream: ({ model, pieces, usage, toolCalls = [] }) => {
    // One chunk per text piece; the function calls arrive whole, in the last chunk.
    const parts: unknown[][] = pieces.map((text) => [{ text }])
    if (toolCalls.length > 0) parts.push(toolCalls.map(functionCallPart))
    return {
      head: [],
      deltas: parts.map((chunkParts, index) =>
        sse({
          candidates: [
            {
              content: { parts: chunkParts, role: 'model' },
              ...(index === parts.length - 1 ? { finishReason: 'STOP' } : {}),
              index: 0,
            },
          ],
          ...usageMetadata(usage, index === parts.length - 1),
          modelVersion: model,
          responseId: 'test-response-id',
        }),
      ),
      tail: [],
    }
  },
  error: errorReply,
  toolCallId: () => undefined,
}
