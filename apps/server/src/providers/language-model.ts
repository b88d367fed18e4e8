import { createAnthropic } from '@ai-sdk/anthropic'
import { createGoogleGenerativeAI } from '@ai-sdk/google'
import { createMistral } from '@ai-sdk/mistral'
import { createOpenAI } from '@ai-sdk/openai'
import type { LanguageModel } from 'ai'
import { baseUrlOf } from './provider.catalog.ts'
import type { ProviderCredentials } from './provider.types.ts'
import { type FetchFunction, guardedFetch } from './upstream-guard.ts'

// The AI SDK model for a provider, model id and key. Keys are always passed explicitly, so the
// SDKs never fall back to OPENAI_API_KEY & co. from the environment.

export type { FetchFunction }

export function languageModelOf(
  credentials: ProviderCredentials,
  model: string,
  fetch?: FetchFunction,
): LanguageModel {
  const baseURL = baseUrlOf(credentials.name, credentials.baseUrl)
  const apiKey = credentials.apiKey ?? ''
  const common = { baseURL, apiKey, fetch: guardedFetch(credentials.name, fetch) }
  switch (credentials.name) {
    case 'openai':
      // Chat Completions, not the Responses API: every OpenAI-compatible server speaks it.
      return createOpenAI(common).chat(model)
    case 'anthropic':
      return createAnthropic(common)(model)
    case 'google':
      return createGoogleGenerativeAI(common)(model)
    case 'mistral':
      return createMistral(common)(model)
    case 'ollama':
      // Ollama's OpenAI-compatible endpoint. It ignores the key; a proxy in front of it may not.
      return createOpenAI({
        ...common,
        baseURL: `${baseURL}/v1`,
        apiKey: credentials.apiKey ?? 'ollama',
        name: 'ollama',
      }).chat(model)
  }
}
