import type { BotCreate, ProviderName } from '@openorch/contracts'
import type { MessageKey } from './i18n.tsx'

// What the onboarding shows per provider, and the ready-made bots. Texts are dictionary keys.

export interface ProviderInfo {
  name: ProviderName
  label: string
  emoji: string
  cost: MessageKey
  steps: MessageKey[]
  keyUrl: string
  pricingUrl: string
  needsKey: boolean
  /** The model new bots use unless the person picks another. */
  recommendedModel: string
  keyPlaceholder: string
}

export const providerCatalog: ProviderInfo[] = [
  {
    name: 'openai',
    label: 'OpenAI',
    emoji: '🟢',
    cost: 'provider.openai.cost',
    steps: ['provider.openai.step1', 'provider.openai.step2', 'provider.openai.step3'],
    keyUrl: 'https://platform.openai.com/api-keys',
    pricingUrl: 'https://openai.com/api/pricing/',
    needsKey: true,
    recommendedModel: 'gpt-4o-mini',
    keyPlaceholder: 'sk-…',
  },
  {
    name: 'anthropic',
    label: 'Anthropic',
    emoji: '🟠',
    cost: 'provider.anthropic.cost',
    steps: ['provider.anthropic.step1', 'provider.anthropic.step2', 'provider.anthropic.step3'],
    keyUrl: 'https://console.anthropic.com/settings/keys',
    pricingUrl: 'https://www.anthropic.com/pricing',
    needsKey: true,
    recommendedModel: 'claude-3-5-haiku-latest',
    keyPlaceholder: 'sk-ant-…',
  },
  {
    name: 'google',
    label: 'Google Gemini',
    emoji: '🔵',
    cost: 'provider.google.cost',
    steps: ['provider.google.step1', 'provider.google.step2'],
    keyUrl: 'https://aistudio.google.com/app/apikey',
    pricingUrl: 'https://ai.google.dev/gemini-api/docs/pricing',
    needsKey: true,
    recommendedModel: 'gemini-2.0-flash',
    keyPlaceholder: 'AIza…',
  },
  {
    name: 'mistral',
    label: 'Mistral',
    emoji: '🟣',
    cost: 'provider.mistral.cost',
    steps: ['provider.mistral.step1', 'provider.mistral.step2', 'provider.mistral.step3'],
    keyUrl: 'https://console.mistral.ai/api-keys',
    pricingUrl: 'https://mistral.ai/pricing',
    needsKey: true,
    recommendedModel: 'mistral-small-latest',
    keyPlaceholder: '',
  },
  {
    name: 'ollama',
    label: 'Ollama',
    emoji: '🦙',
    cost: 'provider.ollama.cost',
    steps: ['provider.ollama.step1', 'provider.ollama.step2', 'provider.ollama.step3'],
    keyUrl: 'https://ollama.com/download',
    pricingUrl: 'https://ollama.com/library',
    needsKey: false,
    recommendedModel: 'llama3.2',
    keyPlaceholder: '',
  },
]

export type TemplateId = 'scout' | 'summariser' | 'translator' | 'mail' | 'research'

export interface BotTemplate {
  id: TemplateId
  emoji: string
  name: MessageKey
  description: MessageKey
  prompt: MessageKey
  schedule: string | null
  settings: Partial<BotCreate>
}

export const botTemplates: BotTemplate[] = [
  {
    id: 'scout',
    emoji: '🔭',
    name: 'template.scout.name',
    description: 'template.scout.description',
    prompt: 'template.scout.prompt',
    schedule: '@hourly',
    // The scout reads the shop's pages and keeps what it saw in a file.
    settings: { maxRuntimeSeconds: 120, maxRetries: 2, pauseAfterFailures: 5, tools: ['web', 'files'] },
  },
  {
    id: 'summariser',
    emoji: '📰',
    name: 'template.summariser.name',
    description: 'template.summariser.description',
    prompt: 'template.summariser.prompt',
    schedule: '0 7 * * *',
    settings: { maxRuntimeSeconds: 180, maxRetries: 2 },
  },
  {
    id: 'translator',
    emoji: '🌍',
    name: 'template.translator.name',
    description: 'template.translator.description',
    prompt: 'template.translator.prompt',
    schedule: null,
    settings: { maxRuntimeSeconds: 120, maxRetries: 1 },
  },
  {
    id: 'mail',
    emoji: '✉️',
    name: 'template.mail.name',
    description: 'template.mail.description',
    prompt: 'template.mail.prompt',
    schedule: null,
    settings: { maxRuntimeSeconds: 120, maxRetries: 1 },
  },
  {
    id: 'research',
    emoji: '🔬',
    name: 'template.research.name',
    description: 'template.research.description',
    prompt: 'template.research.prompt',
    schedule: '0 8 * * 1',
    settings: { maxRuntimeSeconds: 600, maxRetries: 1, maxOutputTokens: 4000 },
  },
]
