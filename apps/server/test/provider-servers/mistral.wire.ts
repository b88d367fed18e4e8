import { chatRoute } from './openai.wire.ts'
import {
  type AnswerInput,
  bearerOf,
  type ErrorInput,
  type ErrorReply,
  retryAfterHeaders,
  sse,
  type ToolCallAnswer,
  type Wire,
} from './wire.ts'

// Mistral's chat API (https://docs.mistral.ai/api/): OpenAI-like, but the usage rides on the last
// streamed chunk without being asked for, the model list carries capabilities, and errors use
// { object: 'error', message, type, param, code } (a bare { message, request_id } for a bad key).
// Tool calls: message.tool_calls [{ id, type: 'function', function: { name, arguments }, index }] with
// finish_reason 'tool_calls'; streamed whole in the last chunk, with the usage.

const created = 1_767_225_600

const usageOf = (usage: AnswerInput['usage']) =>
  usage
    ? {
        usage: {
          prompt_tokens: usage.inputTokens,
          completion_tokens: usage.outputTokens,
          total_tokens: usage.inputTokens + usage.outputTokens,
        },
      }
    : {}

const mistralToolCall = (call: ToolCallAnswer, index: number) => ({
  id: call.id,
  type: 'function',
  function: { name: call.name, arguments: call.json },
  index,
})

const mistralError = (message: string, type: string, code: string | null) => ({
  object: 'error',
  message,
  type,
  param: null,
  code,
})

function errorReply(input: ErrorInput): ErrorReply {
  switch (input.kind) {
    case 'unauthorized':
      return {
        status: 401,
        body: { message: 'Unauthorized', request_id: 'f0e1d2c3b4a5968778695a4b3c2d1e0f' },
      }
    case 'quota':
      // Mistral answers 402 when the workspace has no active plan or has used up its credit.
      return {
        status: 402,
        body: mistralError(
          'Payment required: your workspace has no active subscription or has run out of credit.',
          'payment_required',
          null,
        ),
      }
    case 'rate_limited':
      return {
        status: 429,
        headers: retryAfterHeaders(input.retryAfter),
        body: mistralError('Requests rate limit exceeded', 'rate_limit_error', null),
      }
    case 'server_error':
      return {
        status: input.status ?? 500,
        body: mistralError('Internal server error', 'server_error', null),
      }
    case 'bad_request':
      return {
        status: 400,
        body: mistralError(`Invalid model: ${input.model}`, 'invalid_request_error', 'unknown_model'),
      }
  }
}

export const mistralWire: Wire = {
  basePath: '/v1',
  defaultModels: ['mistral-small-latest', 'mistral-large-latest', 'mistral-embed'],
  keyOf: bearerOf,
  route: (request) => chatRoute(request, '/v1/chat/completions', '/v1/models'),
  models: (ids) => ({
    object: 'list',
    data: ids.map((id) => ({
      id,
      object: 'model',
      created,
      owned_by: 'mistralai',
      capabilities: {
        completion_chat: !id.includes('embed'),
        completion_fim: false,
        function_calling: !id.includes('embed'),
        fine_tuning: false,
        vision: false,
      },
      name: id,
      description: `${id} (test)`,
      max_context_length: 131_072,
      aliases: [],
      deprecation: null,
      default_model_temperature: 0.3,
      type: 'base',
    })),
  }),
  completion: ({ model, pieces, usage, toolCalls = [] }) => ({
    id: 'cmpl-test',
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: pieces.join(''),
          tool_calls: toolCalls.length > 0 ? toolCalls.map(mistralToolCall) : null,
          prefix: false,
        },
        finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
      },
    ],
    ...usageOf(usage),
  }),
  stream: ({ model, pieces, usage, toolCalls = [] }) => {
    const chunk = (delta: Record<string, unknown>, finishReason: string | null, extra = {}) =>
      sse({
        id: 'cmpl-test',
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finishReason }],
        ...extra,
      })
    // The calls arrive whole, in the last chunk, with finish_reason 'tool_calls' and the usage.
    const last =
      toolCalls.length > 0
        ? chunk({ content: '', tool_calls: toolCalls.map(mistralToolCall) }, 'tool_calls', usageOf(usage))
        : chunk({ content: '' }, 'stop', usageOf(usage))
    return {
      head: [chunk({ role: 'assistant', content: '' }, null)],
      deltas: pieces.map((piece) => chunk({ content: piece }, null)),
      tail: [last, 'data: [DONE]\n\n'],
    }
  },
  error: errorReply,
  // Mistral's ids are 9 letters and digits (and it refuses tool results whose id is not).
  toolCallId: (n) => `call${String(n).padStart(5, '0')}`,
}
