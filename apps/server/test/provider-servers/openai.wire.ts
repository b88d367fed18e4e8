import {
  type AnswerInput,
  bearerOf,
  type ErrorInput,
  type ErrorReply,
  type RecordedRequest,
  type Route,
  retryAfterHeaders,
  type StreamFrames,
  sse,
  type Wire,
} from './wire.ts'

// OpenAI's Chat Completions wire format (https://platform.openai.com/docs/api-reference/chat):
// POST /v1/chat/completions (JSON or SSE with a final usage chunk when stream_options.include_usage),
// GET /v1/models, errors as { error: { message, type, param, code } }.

const created = 1_767_225_600

export function chatRoute(request: RecordedRequest, chatPath: string, modelsPath: string): Route | null {
  const body = (request.body ?? {}) as { model?: string; stream?: boolean }
  if (request.method === 'GET' && request.path === modelsPath)
    return { endpoint: 'models', stream: false, model: '' }
  if (request.method === 'POST' && request.path === chatPath)
    return { endpoint: 'chat', stream: body.stream === true, model: body.model ?? '' }
  return null
}

function wantsUsage(request: RecordedRequest): boolean {
  const body = (request.body ?? {}) as { stream_options?: { include_usage?: boolean } }
  return body.stream_options?.include_usage === true
}

export const openAiUsage = (usage: { inputTokens: number; outputTokens: number }) => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
})

export function openAiCompletion({ model, pieces, usage }: AnswerInput, fingerprint: string) {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: pieces.join(''), refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    ...(usage ? { usage: openAiUsage(usage) } : {}),
    system_fingerprint: fingerprint,
  }
}

export function openAiStream(input: AnswerInput, fingerprint: string): StreamFrames {
  const includeUsage = wantsUsage(input.request)
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    sse({
      id: 'chatcmpl-test',
      object: 'chat.completion.chunk',
      created,
      model: input.model,
      system_fingerprint: fingerprint,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    })
  const tail = [chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }])]
  if (includeUsage && input.usage) tail.push(chunk([], { usage: openAiUsage(input.usage) }))
  tail.push('data: [DONE]\n\n')
  return {
    head: [
      chunk([
        {
          index: 0,
          delta: { role: 'assistant', content: '', refusal: null },
          logprobs: null,
          finish_reason: null,
        },
      ]),
    ],
    deltas: input.pieces.map((piece) =>
      chunk([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]),
    ),
    tail,
  }
}

const openAiError = (message: string, type: string, code: string | null) => ({
  error: { message, type, param: null, code },
})

export function openAiErrorReply(input: ErrorInput): ErrorReply {
  switch (input.kind) {
    case 'unauthorized':
      return {
        status: 401,
        body: input.hasKey
          ? openAiError(
              'Incorrect API key provided: sk-wr***ey. You can find your API key at https://platform.openai.com/account/api-keys.',
              'invalid_request_error',
              'invalid_api_key',
            )
          : openAiError(
              "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
              'invalid_request_error',
              null,
            ),
      }
    case 'quota':
      return {
        status: 429,
        body: openAiError(
          'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
          'insufficient_quota',
          'insufficient_quota',
        ),
      }
    case 'rate_limited':
      return {
        status: 429,
        headers: {
          ...retryAfterHeaders(input.retryAfter),
          'x-ratelimit-limit-requests': '3',
          'x-ratelimit-remaining-requests': '0',
        },
        body: openAiError(
          `Rate limit reached for ${input.model || 'gpt-4o-mini'} in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
          'requests',
          'rate_limit_exceeded',
        ),
      }
    case 'server_error':
      return {
        status: input.status ?? 500,
        body: openAiError(
          'The server had an error while processing your request. Sorry about that!',
          'server_error',
          null,
        ),
      }
    case 'bad_request':
      return {
        status: 404,
        body: openAiError(
          `The model \`${input.model}\` does not exist or you do not have access to it.`,
          'invalid_request_error',
          'model_not_found',
        ),
      }
  }
}

export const openAiWire: Wire = {
  basePath: '/v1',
  defaultModels: ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1'],
  keyOf: bearerOf,
  route: (request) => chatRoute(request, '/v1/chat/completions', '/v1/models'),
  models: (ids) => ({
    object: 'list',
    data: ids.map((id) => ({ id, object: 'model', created, owned_by: 'system' })),
  }),
  completion: (input) => openAiCompletion(input, 'fp_test'),
  stream: (input) => openAiStream(input, 'fp_test'),
  error: openAiErrorReply,
}
