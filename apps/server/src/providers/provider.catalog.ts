import type { ProviderName } from './provider.types.ts'

// What we know about each provider, for calls and for the sentences people read when one fails.

export interface ProviderInfo {
  /** The provider as people call it: `OpenAI`. */
  label: string
  /** The API root with its version path, as in the provider's SDK. */
  defaultBaseUrl: string
  needsKey: boolean
  /** Where a person creates a key (null: no keys). */
  keysUrl: string | null
  /** Where a person adds credit or raises a spending limit. */
  billingUrl: string | null
  /** Where a person sees whether the provider is down. */
  statusUrl: string | null
}

export const providerCatalog: Record<ProviderName, ProviderInfo> = {
  openai: {
    label: 'OpenAI',
    defaultBaseUrl: 'https://api.openai.com/v1',
    needsKey: true,
    keysUrl: 'https://platform.openai.com/api-keys',
    billingUrl: 'https://platform.openai.com/settings/organization/billing/overview',
    statusUrl: 'https://status.openai.com',
  },
  anthropic: {
    label: 'Anthropic',
    defaultBaseUrl: 'https://api.anthropic.com/v1',
    needsKey: true,
    keysUrl: 'https://console.anthropic.com/settings/keys',
    billingUrl: 'https://console.anthropic.com/settings/billing',
    statusUrl: 'https://status.anthropic.com',
  },
  google: {
    label: 'Google Gemini',
    defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta',
    needsKey: true,
    keysUrl: 'https://aistudio.google.com/app/apikey',
    billingUrl: 'https://aistudio.google.com/usage',
    statusUrl: 'https://aistudio.google.com/status',
  },
  mistral: {
    label: 'Mistral',
    defaultBaseUrl: 'https://api.mistral.ai/v1',
    needsKey: true,
    keysUrl: 'https://console.mistral.ai/api-keys',
    billingUrl: 'https://console.mistral.ai/billing',
    statusUrl: 'https://status.mistral.ai',
  },
  ollama: {
    label: 'Ollama',
    defaultBaseUrl: 'http://localhost:11434',
    needsKey: false,
    keysUrl: null,
    billingUrl: null,
    statusUrl: null,
  },
}

/** The base URL a call uses: the configured one without a trailing slash, else the provider's default. */
export function baseUrlOf(name: ProviderName, configured: string | null): string {
  const base = (configured ?? providerCatalog[name].defaultBaseUrl).replace(/\/+$/, '')
  // Ollama's root is the server itself; people often paste its OpenAI-compatible `/v1` root instead.
  return name === 'ollama' ? base.replace(/\/v1$/, '') : base
}
