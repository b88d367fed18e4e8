import type { FetchFunction } from './language-model.ts'
import { baseUrlOf } from './provider.catalog.ts'
import { classifyHttpAnswer, classifyNetworkError, wrongBaseUrl } from './provider.classify.ts'
import { durationText, ProviderError } from './provider.error.ts'
import type { ProviderCredentials, ProviderName } from './provider.types.ts'
import { cleanModelIds, guardedFetch } from './upstream-guard.ts'

// Key validation: the smallest real call each provider has, listing its models. Plain fetch (the
// AI SDK has no model listing); the answer's ids become the provider's `models`.

interface ListCall {
  path: string
  headers(apiKey: string | null): Record<string, string>
  /** The model ids of a 200 answer; undefined when the answer is not that provider's format. */
  idsOf(json: unknown): string[] | undefined
}

const bearer = (apiKey: string | null): Record<string, string> =>
  apiKey ? { authorization: `Bearer ${apiKey}` } : {}

type Json = Record<string, unknown>
const arrayAt = (json: unknown, key: string): Json[] | undefined => {
  const value = typeof json === 'object' && json !== null ? (json as Json)[key] : undefined
  return Array.isArray(value) ? (value as Json[]) : undefined
}
const strings = (values: unknown[]): string[] => values.filter((v): v is string => typeof v === 'string')

const listCalls: Record<ProviderName, ListCall> = {
  openai: {
    path: '/models',
    headers: bearer,
    idsOf: (json) => {
      const data = arrayAt(json, 'data')
      return data && strings(data.map((model) => model.id))
    },
  },
  anthropic: {
    path: '/models?limit=1000',
    headers: (apiKey) => ({ 'x-api-key': apiKey ?? '', 'anthropic-version': '2023-06-01' }),
    idsOf: (json) => {
      const data = arrayAt(json, 'data')
      return data && strings(data.map((model) => model.id))
    },
  },
  google: {
    path: '/models?pageSize=1000',
    headers: (apiKey) => ({ 'x-goog-api-key': apiKey ?? '' }),
    idsOf: (json) => {
      const models = arrayAt(json, 'models')
      if (!models) return undefined
      // Only models that generate text; embedding and other models are listed too.
      const generating = models.filter((model) => {
        const methods = model.supportedGenerationMethods
        return !Array.isArray(methods) || methods.includes('generateContent')
      })
      return strings(generating.map((model) => model.name)).map((name) => name.replace(/^models\//, ''))
    },
  },
  mistral: {
    path: '/models',
    headers: bearer,
    idsOf: (json) => {
      const data = arrayAt(json, 'data')
      if (!data) return undefined
      const chat = data.filter((model) => (model.capabilities as Json | undefined)?.completion_chat !== false)
      return strings(chat.map((model) => model.id))
    },
  },
  ollama: {
    path: '/api/tags',
    headers: bearer,
    idsOf: (json) => {
      const models = arrayAt(json, 'models')
      return models && strings(models.map((model) => model.name ?? model.model))
    },
  },
}

export interface ListModelsOptions {
  fetch?: FetchFunction | undefined
  /** Give up after this long (→ provider_unreachable). */
  timeoutMs: number
}

/** Lists the models the key may use; throws ProviderError (validation wording) when it may not. */
export async function listModels(
  credentials: ProviderCredentials,
  options: ListModelsOptions,
): Promise<string[]> {
  const provider = credentials.name
  const call = listCalls[provider]
  const url = `${baseUrlOf(provider, credentials.baseUrl)}${call.path}`
  const shownUrl = url.split('?')[0]!
  const fetch = guardedFetch(provider, options.fetch)
  let response: Response
  let body: string
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json', ...call.headers(credentials.apiKey) },
      signal: AbortSignal.timeout(options.timeoutMs),
    })
    body = await response.text()
  } catch (error) {
    if (error instanceof ProviderError) throw error
    if (error instanceof Error && error.name === 'TimeoutError') {
      const what = `no answer within ${durationText(options.timeoutMs)}`
      throw new ProviderError('provider_unreachable', wrongBaseUrl(provider, shownUrl, what), { provider })
    }
    throw classifyNetworkError(provider, error, shownUrl, 'validate')
  }
  if (!response.ok) {
    const answer = { status: response.status, headers: response.headers, body, url: shownUrl }
    throw classifyHttpAnswer(provider, answer, 'validate')
  }
  let ids: string[] | undefined
  try {
    ids = call.idsOf(JSON.parse(body))
  } catch {
    ids = undefined
  }
  if (!ids) {
    throw new ProviderError(
      'provider_unreachable',
      wrongBaseUrl(provider, shownUrl, `it answered ${response.status}, but not in the format of that API`),
      { provider, status: response.status },
    )
  }
  return cleanModelIds(ids)
}
