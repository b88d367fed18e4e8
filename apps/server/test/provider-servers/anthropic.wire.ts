import {
  type AnswerInput,
  type ErrorInput,
  type ErrorReply,
  retryAfterHeaders,
  sseEvent,
  type Wire,
} from './wire.ts'

// Anthropic's Messages API (https://docs.anthropic.com/en/api/messages-streaming): POST /v1/messages
// (JSON, or named SSE events message_start → content_block_* → message_delta with usage →
// message_stop), GET /v1/models, key in `x-api-key`, errors as { type: 'error', error: { type, message } }.
// An account without credit gets 400 invalid_request_error "Your credit balance is too low…".
// Tool calls: `tool_use` content blocks { id, name, input } after the text, stop_reason 'tool_use';
// streamed as content_block_start (input {}) → input_json_delta partial_json pieces → content_block_stop.

const anthropicError = (type: string, message: string) => ({
  type: 'error',
  error: { type, message },
  request_id: 'req_011CTestTestTestTestTest',
})

function errorReply(input: ErrorInput): ErrorReply {
  switch (input.kind) {
    case 'unauthorized':
      return {
        status: 401,
        body: anthropicError(
          'authentication_error',
          input.hasKey ? 'invalid x-api-key' : 'x-api-key header is required',
        ),
      }
    case 'quota':
      return {
        status: 400,
        body: anthropicError(
          'invalid_request_error',
          'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
        ),
      }
    case 'rate_limited':
      return {
        status: 429,
        headers: {
          ...retryAfterHeaders(input.retryAfter),
          'anthropic-ratelimit-requests-limit': '50',
          'anthropic-ratelimit-requests-remaining': '0',
        },
        body: anthropicError(
          'rate_limit_error',
          'This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
        ),
      }
    case 'server_error': {
      const status = input.status ?? 500
      return status === 529
        ? { status, body: anthropicError('overloaded_error', 'Overloaded') }
        : { status, body: anthropicError('api_error', 'Internal server error') }
    }
    case 'bad_request':
      return { status: 404, body: anthropicError('not_found_error', `model: ${input.model}`) }
  }
}

const usageOf = (usage: AnswerInput['usage'], outputTokens: number) => ({
  input_tokens: usage?.inputTokens ?? 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: outputTokens,
})

export const anthropicWire: Wire = {
  basePath: '/v1',
  defaultModels: ['claude-sonnet-4-20250514', 'claude-3-5-haiku-20241022'],
  keyOf: (request) => {
    const key = request.headers['x-api-key']
    return typeof key === 'string' ? key : null
  },
  route(request) {
    if (request.method === 'GET' && request.path === '/v1/models')
      return { endpoint: 'models', stream: false, model: '' }
    if (request.method === 'POST' && request.path === '/v1/messages') {
      const body = (request.body ?? {}) as { model?: string; stream?: boolean }
      return { endpoint: 'chat', stream: body.stream === true, model: body.model ?? '' }
    }
    return null
  },
  models: (ids) => ({
    data: ids.map((id) => ({
      type: 'model',
      id,
      display_name: id.replace(/-\d{8}$/, ''),
      created_at: '2025-05-22T00:00:00Z',
    })),
    has_more: false,
    first_id: ids[0] ?? null,
    last_id: ids.at(-1) ?? null,
  }),
  completion: ({ model, pieces, usage, toolCalls = [] }) => ({
    id: 'msg_01TestTestTestTestTestTest',
    type: 'message',
    role: 'assistant',
    model,
    content: [
      ...(pieces.length > 0 || toolCalls.length === 0 ? [{ type: 'text', text: pieces.join('') }] : []),
      ...toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: call.input })),
    ],
    stop_reason: toolCalls.length > 0 ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: usageOf(usage, usage?.outputTokens ?? 0),
  }),
  stream: ({ model, pieces, usage, toolCalls = [] }) => {
    const hasText = pieces.length > 0 || toolCalls.length === 0
    const delta = (index: number, delta: unknown) =>
      sseEvent('content_block_delta', { type: 'content_block_delta', index, delta })
    const blockStop = (index: number) => sseEvent('content_block_stop', { type: 'content_block_stop', index })
    // Each tool_use block: opened with an empty input, then its JSON in input_json_delta pieces
    // (the first one empty, as the API sends it), then closed.
    const toolBlocks = toolCalls.flatMap((call, n) => {
      const index = n + (hasText ? 1 : 0)
      return [
        sseEvent('content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} },
        }),
        ...['', ...call.jsonPieces].map((partial_json) =>
          delta(index, { type: 'input_json_delta', partial_json }),
        ),
        blockStop(index),
      ]
    })
    const messageStart = sseEvent('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_01TestTestTestTestTestTest',
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usageOf(usage, usage ? 1 : 0),
      },
    })
    const messageEnd = [
      sseEvent('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: toolCalls.length > 0 ? 'tool_use' : 'end_turn', stop_sequence: null },
        usage: { output_tokens: usage?.outputTokens ?? 0 },
      }),
      sseEvent('message_stop', { type: 'message_stop' }),
    ]
    if (!hasText)
      return {
        head: [messageStart, sseEvent('ping', { type: 'ping' })],
        deltas: toolBlocks,
        tail: messageEnd,
      }
    const textDeltas = pieces.map((text) => delta(0, { type: 'text_delta', text }))
    const textStart = sseEvent('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    })
    const head = [messageStart, textStart, sseEvent('ping', { type: 'ping' })]
    return toolCalls.length > 0
      ? { head, deltas: [...textDeltas, blockStop(0), ...toolBlocks], tail: messageEnd }
      : { head, deltas: textDeltas, tail: [blockStop(0), ...messageEnd] }
  },
  error: errorReply,
  toolCallId: (n) => `toolu_${n}`,
}
