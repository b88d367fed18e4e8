import { jsonSchema, type ModelMessage, Output, streamText, type ToolSet, tool } from 'ai'
import type { Logger } from '../platform/logger.ts'
import { startLlmSpan } from '../platform/tracing.ts'
import { type FetchFunction, languageModelOf } from './language-model.ts'
import { baseUrlOf, providerCatalog } from './provider.catalog.ts'
import { providerErrorOf } from './provider.classify.ts'
import { durationText, ProviderError } from './provider.error.ts'
import type { GenerateRequest, GenerateResult, ProviderCredentials } from './provider.types.ts'
import { answerTooLong, maxAnswerChars, plainText, tokenCount } from './upstream-guard.ts'

// One streamed LLM call through the AI SDK. The SDK does not retry (maxRetries: 0): the run kernel
// does, with backoff, from the ProviderError's `retryable` and `retryAfterMs`.

export interface GenerateOptions {
  fetch?: FetchFunction | undefined
  /** Nothing from the provider for this long (before or between chunks) → provider_timeout. */
  idleTimeoutMs: number
  /** Receives the SDK's warnings (unsupported settings and the like) at debug level. */
  log?: Logger | undefined
}

/** A throw of the caller's onDelta: passed on as it is, not mistaken for a provider failure. */
class DeltaCallbackError {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

export async function generate(
  credentials: ProviderCredentials,
  request: GenerateRequest,
  options: GenerateOptions,
): Promise<GenerateResult> {
  request.signal.throwIfAborted()
  const provider = credentials.name
  const label = providerCatalog[provider].label
  const model = request.model || credentials.defaultModel
  if (!model) {
    throw new ProviderError(
      'provider_bad_request',
      `No model was given for ${label}, and the provider has no default model. Set the bot's model, or a defaultModel with PUT /api/v1/providers/${provider}.`,
      { provider },
    )
  }
  const baseUrl = baseUrlOf(provider, credentials.baseUrl)

  // Our own idle timer, next to the run's signal: a provider that stalls fails the attempt as a
  // retryable timeout instead of holding a worker slot until the run's deadline.
  const idle = new AbortController()
  const signal = AbortSignal.any([request.signal, idle.signal])
  let timer: NodeJS.Timeout | undefined
  const touch = () => {
    clearTimeout(timer)
    timer = setTimeout(() => idle.abort(), options.idleTimeoutMs)
  }
  const timeoutError = () =>
    new ProviderError(
      'provider_timeout',
      `${label} sent nothing for ${durationText(options.idleTimeoutMs)}. The run is retried.`,
      { provider },
    )
  // Rejects the moment the signal fires, whatever the SDK is waiting on.
  let onAbort = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(request.signal.aborted ? request.signal.reason : timeoutError())
  })
  signal.addEventListener('abort', onAbort, { once: true })

  async function consume(): Promise<GenerateResult> {
    touch()
    const tools: ToolSet | undefined = request.tools
      ? Object.fromEntries(
          Object.entries(request.tools).map(([name, spec]) => [
            name,
            tool({ description: spec.description, inputSchema: jsonSchema(spec.inputSchema as never) }),
          ]),
        )
      : undefined
    const result = streamText({
      model: languageModelOf(credentials, model!, options.fetch),
      system: request.system,
      ...(request.messages ? { messages: request.messages } : { prompt: request.prompt ?? '' }),
      ...(tools ? { tools } : {}),
      // Structured output: the SDK asks the provider for JSON of this schema; the caller validates it.
      ...(request.outputSchema
        ? { output: Output.object({ schema: jsonSchema(request.outputSchema as never) }) }
        : {}),
      ...(request.maxOutputTokens !== undefined ? { maxOutputTokens: request.maxOutputTokens } : {}),
      abortSignal: signal,
      maxRetries: 0,
      // Errors arrive as `error` parts below; the SDK's default would print them to the console.
      onError: () => {},
    })
    let text = ''
    let answeredBy = model!
    let finishReason = 'other'
    let tokensIn = 0
    let tokensOut = 0
    const toolCalls: GenerateResult['toolCalls'] = []
    for await (const part of result.fullStream) {
      touch()
      switch (part.type) {
        case 'text-delta':
          text += part.text
          if (text.length > maxAnswerChars) throw answerTooLong(label, provider)
          if (request.onDelta && !signal.aborted) {
            try {
              request.onDelta(part.text)
            } catch (error) {
              throw new DeltaCallbackError(error)
            }
          }
          break
        case 'start-step':
          if (part.warnings.length > 0)
            options.log?.debug({ provider, model, warnings: part.warnings }, 'provider call warnings')
          break
        case 'tool-call':
          toolCalls.push({
            toolCallId: part.toolCallId,
            toolName: part.toolName,
            input: part.input,
            ...('invalid' in part && part.invalid
              ? { invalid: part.error instanceof Error ? part.error.message : 'arguments that are not JSON' }
              : {}),
          })
          break
        case 'finish-step':
          answeredBy = plainText(part.response.modelId ?? '', 200) || answeredBy
          break
        case 'finish':
          finishReason = part.finishReason
          tokensIn = tokenCount(part.totalUsage.inputTokens)
          tokensOut = tokenCount(part.totalUsage.outputTokens)
          break
        case 'error':
          throw part.error
        case 'abort':
          throw request.signal.aborted ? request.signal.reason : timeoutError()
      }
    }
    const responseMessages: ModelMessage[] = toolCalls.length > 0 ? (await result.response).messages : []
    return { text, tokensIn, tokensOut, model: answeredBy, finishReason, toolCalls, responseMessages }
  }

  // The call's span (GenAI conventions), when tracing is on: model, usage, or why it failed.
  const span = startLlmSpan({ provider, model, baseUrl, maxOutputTokens: request.maxOutputTokens })
  const running = consume()
  running.catch(() => {}) // settled by the race below; a late rejection after an abort is expected
  try {
    const result = await Promise.race([running, aborted])
    span?.finish(result)
    return result
  } catch (error) {
    const thrown = request.signal.aborted
      ? request.signal.reason
      : error instanceof DeltaCallbackError
        ? error.error
        : idle.signal.aborted
          ? timeoutError()
          : providerErrorOf(provider, error, baseUrl)
    span?.fail(thrown instanceof ProviderError ? thrown.code : request.signal.aborted ? 'aborted' : 'error')
    throw thrown
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
  }
}
