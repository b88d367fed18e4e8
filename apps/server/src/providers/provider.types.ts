import type { ModelMessage } from 'ai'
// The provider layer's contract: what bots (and later pipelines and the planner) may call.
// Implemented in providers/ on top of the Vercel AI SDK (ai@6, @ai-sdk/*@3).

export const providerNames = ['openai', 'anthropic', 'google', 'mistral', 'ollama'] as const
export type ProviderName = (typeof providerNames)[number]

/** Stable error codes of provider calls (problem+json `code`, run `error.code`). */
export type ProviderErrorCode =
  | 'provider_auth' // 401/403: key invalid or lacks access — not retried
  | 'provider_quota' // no credit / billing — not retried
  | 'provider_rate_limited' // 429 — retried, honouring Retry-After
  | 'provider_unavailable' // 5xx, network error during a run — retried
  | 'provider_unreachable' // validation could not reach the server (wrong base URL, DNS, refused)
  | 'provider_timeout' // no answer in time — retried
  | 'provider_bad_request' // 400 (unknown model, content rejected) — not retried
  | 'provider_bad_answer' // a redirect, or an answer too large to be real — not retried
  | 'provider_not_configured' // the tenant has not set up this provider
  | 'egress_refused' // the base URL resolves to an address the installation does not call — not retried

/** A provider as a call needs it: decrypted key (null for Ollama), base URL, default model. */
export interface ProviderCredentials {
  name: ProviderName
  apiKey: string | null
  /** API root with its version path (`https://api.openai.com/v1`, `http://localhost:11434`); null: the provider's default. */
  baseUrl: string | null
  defaultModel: string | null
}

export interface GenerateRequest {
  model: string
  system: string
  /** The user's turn; or, for a conversation with tool calls, `messages` instead. */
  prompt?: string
  /** The conversation so far (user turn, the model's tool calls, their results); replaces `prompt`. */
  messages?: ModelMessage[]
  /** Functions the model may call, by name (no execution here: the caller runs them, tools/). */
  tools?: Record<string, ModelTool>
  /** A JSON Schema (an object) the answer must match: asked for as the provider's structured output. */
  outputSchema?: Record<string, unknown>
  /** The run's abort signal: timeout, cancel, lost lease, shutdown. */
  signal: AbortSignal
  maxOutputTokens?: number
  /** Streamed text as it arrives (partial output to the live feed). */
  onDelta?: (text: string) => void
}

export interface GenerateResult {
  text: string
  tokensIn: number
  tokensOut: number
  /** The model that answered (the provider may resolve an alias). */
  model: string
  finishReason: string
  /** The functions the model asked to call in this step (empty when it answered). */
  toolCalls: ModelToolCall[]
  /** The model's turn as messages, to send back with the tools' results in the next call. */
  responseMessages: ModelMessage[]
}

/** A function the model may call: described by a JSON Schema of its arguments. */
export interface ModelTool {
  description: string
  inputSchema: Record<string, unknown>
}

export interface ModelToolCall {
  toolCallId: string
  toolName: string
  input: unknown
  /** Set when the model named no such tool or sent arguments that are not JSON. */
  invalid?: string
}

/** `valid`: the key passed its last check. `failing`: a call with the saved key was refused for good. */
export type ProviderStatus = 'valid' | 'failing'

/** What PUT /providers/{name} accepts. An omitted apiKey keeps the saved one. */
export interface ProviderConfigInput {
  apiKey?: string | null | undefined
  /** null or omitted: the provider's default. */
  baseUrl?: string | null | undefined
  defaultModel?: string | null | undefined
}

/** A configured provider as people may see it: the key only masked. Times are epoch ms. */
export interface ProviderView {
  name: ProviderName
  label: string
  status: ProviderStatus
  /** `sk-…3456`; null when no key is saved (Ollama). */
  keyHint: string | null
  baseUrl: string | null
  defaultModel: string | null
  models: string[]
  lastCheckedAt: number | null
  lastErrorCode: string | null
  createdAt: number
  updatedAt: number
}

export function isProviderName(value: string): value is ProviderName {
  return (providerNames as readonly string[]).includes(value)
}
