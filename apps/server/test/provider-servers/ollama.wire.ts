import { chatRoute, openAiCompletion, openAiErrorReply, openAiStream } from './openai.wire.ts'
import { bearerOf, type ErrorReply, type Wire } from './wire.ts'

// Ollama (https://github.com/ollama/ollama/blob/main/docs/api.md): GET /api/tags lists the pulled
// models; POST /v1/chat/completions is its OpenAI-compatible endpoint (streaming with include_usage).
// Ollama itself takes no key; a key check only applies when the server is started with one (a proxy).
// Tool calls come as OpenAI's, but streamed whole: one delta with every call and its complete
// arguments, then the finishing chunk with finish_reason 'tool_calls'.

export const ollamaWire: Wire = {
  basePath: '',
  defaultModels: ['llama3.2:latest', 'qwen2.5:7b'],
  keyOf: bearerOf,
  route(request) {
    if (request.method === 'GET' && request.path === '/api/tags')
      return { endpoint: 'models', stream: false, model: '' }
    return chatRoute(request, '/v1/chat/completions', '/v1/models')
  },
  models: (ids) => ({
    models: ids.map((name) => ({
      name,
      model: name,
      modified_at: '2026-01-01T00:00:00.000000000Z',
      size: 2_019_393_189,
      digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
      details: {
        parent_model: '',
        format: 'gguf',
        family: 'llama',
        families: ['llama'],
        parameter_size: '3.2B',
        quantization_level: 'Q4_K_M',
      },
    })),
  }),
  completion: (input) => openAiCompletion(input, 'fp_ollama'),
  stream: (input) => openAiStream(input, 'fp_ollama', { wholeToolCalls: true }),
  toolCallId: (n) => `call_${n}`,
  error(input): ErrorReply {
    if (input.kind === 'bad_request') {
      return {
        status: 404,
        body: {
          error: {
            message: `model "${input.model}" not found, try pulling it first`,
            type: 'api_error',
            param: null,
            code: null,
          },
        },
      }
    }
    if (input.kind === 'unauthorized') return { status: 401, body: { error: 'unauthorized' } }
    return openAiErrorReply(input)
  },
}
