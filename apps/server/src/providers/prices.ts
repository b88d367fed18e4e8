import type { ProviderName } from './provider.types.ts'

// USD per million tokens (input, output) of the well-known models, for the cost estimate of a run.
//
// Snapshot of November 2025, from the providers' public price pages:
//   https://openai.com/api/pricing and https://platform.openai.com/docs/pricing
//   https://www.anthropic.com/pricing#api and https://docs.anthropic.com/en/docs/about-claude/pricing
//   https://ai.google.dev/gemini-api/docs/pricing (paid tier)
//   https://mistral.ai/pricing#api-pricing
// Standard (not batch, not cached, not priority) prices. Where a price depends on the prompt size
// (Gemini Pro above 200k tokens, Claude Sonnet's 1M-context tier), the smaller tier is listed: it is
// what scheduled bots use. Ollama runs locally and costs 0.
// A model not listed costs null ("unknown"), never a guess. Prices change: update this table and
// its date together.

interface Price {
  input: number
  output: number
}

const p = (input: number, output: number): Price => ({ input, output })

const prices: Record<Exclude<ProviderName, 'ollama'>, Record<string, Price>> = {
  openai: {
    'gpt-5': p(1.25, 10),
    'gpt-5-mini': p(0.25, 2),
    'gpt-5-nano': p(0.05, 0.4),
    'gpt-5-chat-latest': p(1.25, 10),
    'gpt-4.1': p(2, 8),
    'gpt-4.1-mini': p(0.4, 1.6),
    'gpt-4.1-nano': p(0.1, 0.4),
    'gpt-4o': p(2.5, 10),
    'gpt-4o-mini': p(0.15, 0.6),
    'chatgpt-4o-latest': p(5, 15),
    o1: p(15, 60),
    'o1-mini': p(1.1, 4.4),
    'o1-pro': p(150, 600),
    o3: p(2, 8),
    'o3-mini': p(1.1, 4.4),
    'o3-pro': p(20, 80),
    'o4-mini': p(1.1, 4.4),
    'gpt-4-turbo': p(10, 30),
    'gpt-4': p(30, 60),
    'gpt-3.5-turbo': p(0.5, 1.5),
  },
  anthropic: {
    'claude-opus-4-5': p(5, 25),
    'claude-opus-4-1': p(15, 75),
    'claude-opus-4': p(15, 75),
    'claude-opus-4-0': p(15, 75),
    'claude-sonnet-4-5': p(3, 15),
    'claude-sonnet-4': p(3, 15),
    'claude-sonnet-4-0': p(3, 15),
    'claude-haiku-4-5': p(1, 5),
    'claude-3-7-sonnet': p(3, 15),
    'claude-3-5-sonnet': p(3, 15),
    'claude-3-5-haiku': p(0.8, 4),
    'claude-3-opus': p(15, 75),
    'claude-3-haiku': p(0.25, 1.25),
  },
  google: {
    'gemini-3-pro-preview': p(2, 12),
    'gemini-2.5-pro': p(1.25, 10),
    'gemini-2.5-flash': p(0.3, 2.5),
    'gemini-2.5-flash-lite': p(0.1, 0.4),
    'gemini-2.0-flash': p(0.1, 0.4),
    'gemini-2.0-flash-lite': p(0.075, 0.3),
    'gemini-1.5-pro': p(1.25, 5),
    'gemini-1.5-flash': p(0.075, 0.3),
    'gemini-1.5-flash-8b': p(0.0375, 0.15),
  },
  mistral: {
    'mistral-large': p(2, 6),
    'mistral-medium': p(0.4, 2),
    'mistral-small': p(0.1, 0.3),
    'magistral-medium': p(2, 5),
    'magistral-small': p(0.5, 1.5),
    codestral: p(0.3, 0.9),
    'devstral-medium': p(0.4, 2),
    'devstral-small': p(0.1, 0.3),
    'pixtral-large': p(2, 6),
    'pixtral-12b': p(0.15, 0.15),
    'ministral-8b': p(0.1, 0.1),
    'ministral-3b': p(0.04, 0.04),
    'open-mistral-nemo': p(0.15, 0.15),
  },
}

/**
 * Suffixes that name a dated snapshot or an alias of a listed model, which costs what its base model
 * costs: `gpt-4o-2024-08-06` → `gpt-4o`, `claude-3-5-haiku-20241022` and `claude-3-5-haiku-latest`
 * → `claude-3-5-haiku`, `gemini-2.0-flash-001` → `gemini-2.0-flash`, `mistral-large-2411` and
 * `mistral-large-latest` → `mistral-large`. (Where a snapshot was priced apart from its base, such as
 * the first gpt-4o snapshot, it is costed at the base price.) Previews and other variants are not
 * mapped: they are often priced differently, so they stay unknown.
 */
const aliasSuffixes: Record<Exclude<ProviderName, 'ollama'>, RegExp[]> = {
  openai: [/-\d{4}-\d{2}-\d{2}$/],
  anthropic: [/-\d{8}$/, /-latest$/],
  google: [/-\d{3}$/, /-latest$/],
  mistral: [/-\d{4}$/, /-latest$/],
}

/**
 * The price-table name `model` resolves to — itself, or the base model of a dated snapshot or alias
 * (`gpt-4o-2024-08-06` → `gpt-4o`), case and a `models/` prefix aside — or null when the table does
 * not list it (every Ollama model, a made-up name). A bounded set: the metrics label models with it.
 */
export function pricedModelOf(provider: string, model: string): string | null {
  const table = Object.hasOwn(prices, provider) ? prices[provider as keyof typeof prices] : undefined
  if (!table) return null
  const id = model
    .trim()
    .toLowerCase()
    .replace(/^models\//, '')
  const base = aliasSuffixes[provider as keyof typeof prices].find((suffix) => suffix.test(id))
  for (const candidate of base ? [id, id.replace(base, '')] : [id])
    if (Object.hasOwn(table, candidate)) return candidate
  return null
}

/** What `tokensIn` and `tokensOut` of `model` cost in USD; null for a model without a known price. */
export function costUsd(
  provider: ProviderName,
  model: string,
  tokensIn: number,
  tokensOut: number,
): number | null {
  if (provider === 'ollama') return 0
  const priced = pricedModelOf(provider, model)
  if (priced === null) return null
  const price = prices[provider][priced]!
  return (tokensIn * price.input + tokensOut * price.output) / 1_000_000
}
