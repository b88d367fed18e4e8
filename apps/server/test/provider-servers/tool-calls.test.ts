import { generateText, jsonSchema, type LanguageModel, type ModelMessage, streamText, tool } from 'ai'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { languageModelOf } from '../../src/providers/language-model.ts'
import {
  type ProviderServer,
  type ProviderServerKind,
  type RecordedRequest,
  startProviderServer,
} from './provider-server.ts'

// The stand-ins' tool calls, read by the production client (languageModelOf + the AI SDK): two calls
// in one step, streamed and not, then the tool results sent back and a text answer.

const kinds: ProviderServerKind[] = ['openai', 'anthropic', 'google', 'mistral', 'ollama']
const key = 'sk-test-key-0123456789'
const models: Record<ProviderServerKind, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-20250514',
  google: 'gemini-2.5-flash',
  mistral: 'mistral-small-latest',
  ollama: 'llama3.2:latest',
}
/** The ids each stand-in gives when the behaviour names none (Gemini sends none: the SDK makes them). */
const defaultIds: Record<ProviderServerKind, string[] | null> = {
  openai: ['call_1', 'call_2'],
  anthropic: ['toolu_1', 'toolu_2'],
  google: null,
  mistral: ['call00001', 'call00002'],
  ollama: ['call_1', 'call_2'],
}

const tools = {
  get_weather: tool({
    description: 'The current weather in a city.',
    inputSchema: jsonSchema<{ city: string; unit?: 'C' | 'F' }>({
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['C', 'F'] } },
      required: ['city'],
      additionalProperties: false,
    }),
  }),
  search_web: tool({
    description: 'Searches the web.',
    inputSchema: jsonSchema<{ query: string; limit: number }>({
      type: 'object',
      properties: { query: { type: 'string' }, limit: { type: 'integer' } },
      required: ['query', 'limit'],
      additionalProperties: false,
    }),
  }),
}

const calls = [
  { name: 'get_weather', arguments: { city: 'Köln', unit: 'C' } },
  { name: 'search_web', arguments: { query: 'Wetter "Köln" heute, {stündlich}', limit: 3 } },
]
const expectedCalls = calls.map((call) => ({ toolName: call.name, input: call.arguments }))
const results: Record<string, unknown> = {
  get_weather: { temperature: 21, unit: 'C', sky: 'clear' },
  search_web: { hits: ['https://example.org/wetter'] },
}
const prompt = 'What is the weather in Köln? Also search the web for it.'

// biome-ignore lint/suspicious/noExplicitAny: request bodies and frames of five wire formats, read by shape
type Json = Record<string, any>

/** The names of the tools a request declared, in the provider's format. */
function toolNamesOf(kind: ProviderServerKind, request: RecordedRequest): string[] {
  const body = request.body as Json
  switch (kind) {
    case 'anthropic':
      return body.tools.map((t: Json) => t.name)
    case 'google':
      return body.tools.flatMap((t: Json) => t.functionDeclarations.map((f: Json) => f.name))
    default:
      return body.tools.map((t: Json) => {
        expect(t.type).toBe('function')
        return t.function.name
      })
  }
}

/** The tool results a request sent back, in the provider's format, with their JSON parsed. */
function toolResultsOf(kind: ProviderServerKind, request: RecordedRequest) {
  const body = request.body as Json
  switch (kind) {
    case 'anthropic':
      // A user message of tool_result blocks, the JSON as text.
      return body.messages
        .filter((m: Json) => m.role === 'user' && Array.isArray(m.content))
        .flatMap((m: Json) => m.content.filter((c: Json) => c.type === 'tool_result'))
        .map((c: Json) => ({ id: c.tool_use_id, value: JSON.parse(c.content) }))
    case 'google':
      // A user turn of functionResponse parts, the value under response.content.
      return body.contents
        .filter((c: Json) => c.role === 'user')
        .flatMap((c: Json) => c.parts.filter((p: Json) => p.functionResponse))
        .map((p: Json) => ({
          id: p.functionResponse.id,
          name: p.functionResponse.name,
          value: p.functionResponse.response.content,
        }))
    default:
      // One `tool` message per result, the JSON as text (Mistral adds the name).
      return body.messages
        .filter((m: Json) => m.role === 'tool')
        .map((m: Json) => ({
          id: m.tool_call_id,
          ...(kind === 'mistral' ? { name: m.name } : {}),
          value: JSON.parse(m.content),
        }))
  }
}

describe.each(kinds)('tool calls with %s', (kind) => {
  let server: ProviderServer
  let model: LanguageModel

  beforeEach(async () => {
    server = await startProviderServer(kind, { apiKey: key, chunkDelayMs: 1 })
    model = languageModelOf(
      { name: kind, apiKey: key, baseUrl: server.baseUrl, defaultModel: null },
      models[kind],
    )
  })
  afterEach(async () => {
    await server.close()
  })

  const chatRequests = () => server.requests.filter((r) => r.method === 'POST')

  it('streams two calls in one step: names, parsed inputs, finish reason tool-calls, usage', async () => {
    server.setBehaviour({ type: 'tool_calls', calls, usage: { inputTokens: 30, outputTokens: 9 } })
    const result = streamText({ model, tools, prompt, maxRetries: 0 })
    const toolCalls = await result.toolCalls
    expect(toolCalls.map(({ toolName, input }) => ({ toolName, input }))).toEqual(expectedCalls)
    expect(toolCalls.every((call) => !('invalid' in call && call.invalid))).toBe(true)
    const ids = defaultIds[kind]
    if (ids) expect(toolCalls.map((call) => call.toolCallId)).toEqual(ids)
    expect(await result.finishReason).toBe('tool-calls')
    expect(await result.text).toBe('')
    const usage = await result.usage
    expect(usage.inputTokens).toBe(30)
    expect(usage.outputTokens).toBe(9)

    expect(chatRequests()).toHaveLength(1)
    expect(toolNamesOf(kind, chatRequests()[0]!)).toEqual(['get_weather', 'search_web'])
    expect(JSON.stringify(chatRequests()[0]!.body)).toContain('The current weather in a city.')
  })

  it('streams leading text before the calls', async () => {
    server.setBehaviour({ type: 'tool_calls', calls, text: 'Let me look that up for you.' })
    const result = streamText({ model, tools, prompt, maxRetries: 0 })
    expect(await result.text).toBe('Let me look that up for you.')
    expect((await result.toolCalls).map(({ toolName, input }) => ({ toolName, input }))).toEqual(
      expectedCalls,
    )
    expect(await result.finishReason).toBe('tool-calls')
  })

  it('answers the calls unstreamed too (generateText), with the given ids', async () => {
    const ids = kind === 'mistral' ? ['abcDEF123', 'xyz789ABC'] : ['id-weather', 'id-search']
    server.setBehaviour({
      type: 'tool_calls',
      calls: calls.map((call, index) => ({ ...call, id: ids[index] })),
      text: 'Checking.',
      usage: { inputTokens: 40, outputTokens: 11 },
    })
    const result = await generateText({ model, tools, prompt, maxRetries: 0 })
    expect(
      result.toolCalls.map(({ toolCallId, toolName, input }) => ({ toolCallId, toolName, input })),
    ).toEqual(expectedCalls.map((call, index) => ({ toolCallId: ids[index], ...call })))
    expect(result.text).toBe('Checking.')
    expect(result.finishReason).toBe('tool-calls')
    expect(result.usage.inputTokens).toBe(40)
    expect(result.usage.outputTokens).toBe(11)
    const body = chatRequests()[0]!.body as Json
    if (kind !== 'google') expect(body.stream).not.toBe(true)
    else expect(chatRequests()[0]!.path).toMatch(/:generateContent$/)
  })

  it('takes the tool results back and answers with text (script: calls, then text)', async () => {
    server.setBehaviour({
      type: 'script',
      steps: [
        { type: 'tool_calls', calls },
        {
          type: 'success',
          text: 'It is 21 °C and clear in Köln.',
          usage: { inputTokens: 50, outputTokens: 8 },
        },
      ],
    })
    const first = streamText({ model, tools, prompt, maxRetries: 0 })
    const toolCalls = await first.toolCalls
    expect(toolCalls).toHaveLength(2)
    const messages: ModelMessage[] = [
      { role: 'user', content: prompt },
      ...(await first.response).messages,
      {
        role: 'tool',
        content: toolCalls.map((call) => ({
          type: 'tool-result' as const,
          toolCallId: call.toolCallId,
          toolName: call.toolName,
          output: { type: 'json' as const, value: results[call.toolName] as never },
        })),
      },
    ]

    const second = streamText({ model, tools, messages, maxRetries: 0 })
    expect(await second.text).toBe('It is 21 °C and clear in Köln.')
    expect(await second.finishReason).toBe('stop')
    expect((await second.usage).inputTokens).toBe(50)

    expect(chatRequests()).toHaveLength(2)
    const request = chatRequests()[1]!
    expect(toolNamesOf(kind, request)).toEqual(['get_weather', 'search_web'])
    expect(toolResultsOf(kind, request)).toEqual(
      toolCalls.map((call) => ({
        id: call.toolCallId,
        ...(kind === 'google' || kind === 'mistral' ? { name: call.toolName } : {}),
        value: results[call.toolName],
      })),
    )
    // The assistant's calls go back too, ahead of their results.
    const body = JSON.stringify(request.body)
    for (const call of toolCalls) expect(body).toContain(call.toolCallId)
  })
})

/** The JSON of every `data:` line of an SSE body. */
const sseData = (text: string): Json[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map((line) => JSON.parse(line.slice('data: '.length)))

describe('the streamed tool-call frames', () => {
  let server: ProviderServer
  afterEach(async () => {
    await server.close()
  })

  async function post(path: string, body: unknown, headers: Record<string, string>) {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(200)
    return sseData(await response.text())
  }

  it('OpenAI: each call opens with index, id, type and name, then only index + argument fragments', async () => {
    server = await startProviderServer('openai', {
      behaviour: { type: 'tool_calls', calls },
      chunkDelayMs: 0,
    })
    const chunks = await post(
      '/chat/completions',
      { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [] },
      {},
    )
    const deltas = chunks.flatMap((c) => c.choices.flatMap((choice: Json) => choice.delta.tool_calls ?? []))
    for (const [index, call] of calls.entries()) {
      const [open, ...fragments] = deltas.filter((d) => d.index === index)
      expect(open).toEqual({
        index,
        id: `call_${index + 1}`,
        type: 'function',
        function: { name: call.name, arguments: '' },
      })
      expect(fragments.length).toBeGreaterThan(1)
      for (const fragment of fragments) expect(Object.keys(fragment).sort()).toEqual(['function', 'index'])
      expect(JSON.parse(fragments.map((f) => f.function.arguments).join(''))).toEqual(call.arguments)
    }
    expect(chunks[0]!.choices[0].delta).toMatchObject({ role: 'assistant', content: null })
    const finish = chunks.flatMap((c) => c.choices).find((choice: Json) => choice.finish_reason)
    expect(finish.finish_reason).toBe('tool_calls')
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 5 })
  })

  it('Anthropic: tool_use blocks with input_json_delta pieces, stop_reason tool_use', async () => {
    server = await startProviderServer('anthropic', {
      behaviour: { type: 'tool_calls', calls, text: 'One moment.' },
      chunkDelayMs: 0,
    })
    const events = await post(
      '/messages',
      { model: 'claude-sonnet-4-20250514', stream: true, max_tokens: 100, messages: [] },
      {},
    )
    expect(events.map((e) => e.type)).toContain('ping')
    const starts = events.filter((e) => e.type === 'content_block_start')
    expect(starts.map((e) => [e.index, e.content_block.type])).toEqual([
      [0, 'text'],
      [1, 'tool_use'],
      [2, 'tool_use'],
    ])
    expect(starts[1]!.content_block).toEqual({
      type: 'tool_use',
      id: 'toolu_1',
      name: 'get_weather',
      input: {},
    })
    for (const [n, call] of calls.entries()) {
      const pieces = events.filter((e) => e.type === 'content_block_delta' && e.index === n + 1)
      expect(pieces.length).toBeGreaterThan(1)
      expect(pieces.every((e) => e.delta.type === 'input_json_delta')).toBe(true)
      expect(JSON.parse(pieces.map((e) => e.delta.partial_json).join(''))).toEqual(call.arguments)
    }
    expect(events.filter((e) => e.type === 'content_block_stop').map((e) => e.index)).toEqual([0, 1, 2])
    expect(events.find((e) => e.type === 'message_delta')!.delta.stop_reason).toBe('tool_use')
    expect(events.at(-1)!.type).toBe('message_stop')
  })

  it('Gemini: functionCall parts in the last chunk, finishReason STOP', async () => {
    server = await startProviderServer('google', {
      behaviour: { type: 'tool_calls', calls },
      chunkDelayMs: 0,
    })
    const chunks = await post('/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: [] }, {})
    expect(chunks).toHaveLength(1)
    const candidate = chunks[0]!.candidates[0]
    expect(candidate.finishReason).toBe('STOP')
    expect(candidate.content.parts).toEqual(
      calls.map((call) => ({ functionCall: { name: call.name, args: call.arguments } })),
    )
  })
})
