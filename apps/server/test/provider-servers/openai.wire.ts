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
  type ToolCallAnswer,
  type Wire,
} from './wire.ts'

// OpenAI's Chat Completions wire format (https://platform.openai.com/docs/api-reference/chat):
// POST /v1/chat/completions (JSON or SSE with a final usage chunk when stream_options.include_usage),
// GET /v1/models, errors as { error: { message, type, param, code } }.
// Tool calls: message.tool_calls [{ id, type: 'function', function: { name, arguments } }] with
// finish_reason 'tool_calls'; streamed, each call opens with a delta carrying index, id, type and the
// name (arguments ''), then deltas of only index + pieces of the arguments text.

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

const hasToolCalls = (input: AnswerInput) => (input.toolCalls?.length ?? 0) > 0

/** A whole tool call as the message (or Ollama's one streamed delta) carries it. */
export const openAiToolCall = (call: ToolCallAnswer, index?: number) => ({
  ...(index === undefined ? {} : { index }),
  id: call.id,
  type: 'function',
  function: { name: call.name, arguments: call.json },
})

export function openAiCompletion(input: AnswerInput, fingerprint: string) {
  const { model, pieces, usage } = input
  const toolCalls = input.toolCalls ?? []
  const message = hasToolCalls(input)
    ? {
        role: 'assistant',
        content: pieces.length > 0 ? pieces.join('') : null,
        tool_calls: toolCalls.map((call) => openAiToolCall(call)),
        refusal: null,
        annotations: [],
      }
    : { role: 'assistant', content: pieces.join(''), refusal: null, annotations: [] }
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: hasToolCalls(input) ? 'tool_calls' : 'stop',
      },
    ],
    ...(usage ? { usage: openAiUsage(usage) } : {}),
    system_fingerprint: fingerprint,
  }
}

/**
 * `wholeToolCalls`: every call in one delta with its complete arguments (Ollama, which parses the
 * calls out of the model's output before it sends them); otherwise OpenAI's fragments.
 */
export function openAiStream(
  input: AnswerInput,
  fingerprint: string,
  { wholeToolCalls = false } = {},
): StreamFrames {
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
  const deltaChunk = (delta: Record<string, unknown>) =>
    chunk([{ index: 0, delta, logprobs: null, finish_reason: null }])
  const toolCalls = input.toolCalls ?? []
  const tail = [
    chunk([
      { index: 0, delta: {}, logprobs: null, finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop' },
    ]),
  ]
  if (includeUsage && input.usage) tail.push(chunk([], { usage: openAiUsage(input.usage) }))
  tail.push('data: [DONE]\n\n')
  const textDeltas = input.pieces.map((piece) => deltaChunk({ content: piece }))
  if (toolCalls.length === 0)
    return {
      head: [deltaChunk({ role: 'assistant', content: '', refusal: null })],
      deltas: textDeltas,
      tail,
    }

  // Per call: a delta that opens it (index, id, type, name), then the arguments in pieces.
  const callDeltas: Record<string, unknown>[] = wholeToolCalls
    ? [{ role: 'assistant', content: '', tool_calls: toolCalls.map(openAiToolCall) }]
    : toolCalls.flatMap((call, index) => [
        {
          tool_calls: [
            { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
          ],
        },
        ...call.jsonPieces.map((piece) => ({ tool_calls: [{ index, function: { arguments: piece } }] })),
      ])
  if (input.pieces.length > 0)
    return {
      head: [deltaChunk({ role: 'assistant', content: '', refusal: null })],
      deltas: [...textDeltas, ...callDeltas.map(deltaChunk)],
      tail,
    }
  // No text: OpenAI opens with the role and the first call in one delta, content null.
  const [first, ...rest] = callDeltas
  return {
    head: [deltaChunk({ role: 'assistant', content: null, ...first, refusal: null })],
    deltas: rest.map(deltaChunk),
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
  toolCallId: (n) => `call_${n}`,
}
