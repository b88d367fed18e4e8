import { describe, expect, it } from 'vitest'
import { costUsd, pricedModelOf } from './prices.ts'

describe('costUsd', () => {
  it('prices input and output tokens per million', () => {
    expect(costUsd('openai', 'gpt-4o-mini', 1_000_000, 1_000_000)).toBeCloseTo(0.75, 10)
    expect(costUsd('anthropic', 'claude-sonnet-4-5', 2_000, 500)).toBeCloseTo(
      (2_000 * 3 + 500 * 15) / 1e6,
      12,
    )
    expect(costUsd('google', 'gemini-2.5-flash', 1_000, 0)).toBeCloseTo(0.0003, 12)
    expect(costUsd('mistral', 'mistral-large-latest', 0, 1_000_000)).toBe(6)
  })

  it('maps dated snapshots and aliases to their base model', () => {
    expect(costUsd('openai', 'gpt-4o-2024-08-06', 1e6, 0)).toBe(costUsd('openai', 'gpt-4o', 1e6, 0))
    expect(costUsd('anthropic', 'claude-sonnet-4-20250514', 1e6, 0)).toBe(3)
    expect(costUsd('anthropic', 'claude-3-5-haiku-latest', 1e6, 0)).toBe(0.8)
    expect(costUsd('google', 'models/gemini-2.0-flash-001', 1e6, 0)).toBe(0.1)
    expect(costUsd('mistral', 'mistral-small-2503', 1e6, 0)).toBe(0.1)
  })

  it('answers null for a model it does not know, never a guess', () => {
    expect(costUsd('openai', 'gpt-9-ultra', 1000, 1000)).toBeNull()
    expect(costUsd('openai', 'llama-3.1-70b', 1000, 1000)).toBeNull()
    expect(costUsd('google', 'gemini-2.5-flash-preview-05-20', 1000, 1000)).toBeNull()
    expect(costUsd('anthropic', 'gpt-4o', 1000, 1000)).toBeNull()
    expect(costUsd('openai', 'constructor', 1, 1)).toBeNull()
  })

  it('costs nothing for local Ollama models', () => {
    expect(costUsd('ollama', 'llama3.2:latest', 50_000, 50_000)).toBe(0)
  })

  it('costs zero tokens at zero', () => {
    expect(costUsd('openai', 'gpt-4o', 0, 0)).toBe(0)
  })
})

describe('pricedModelOf', () => {
  it('names the table entry a model resolves to, and null for every model the table does not list', () => {
    expect(pricedModelOf('openai', 'gpt-4o')).toBe('gpt-4o')
    expect(pricedModelOf('openai', ' GPT-4o-2024-08-06 ')).toBe('gpt-4o')
    expect(pricedModelOf('google', 'models/gemini-2.0-flash-001')).toBe('gemini-2.0-flash')
    expect(pricedModelOf('anthropic', 'claude-3-5-haiku-latest')).toBe('claude-3-5-haiku')
    expect(pricedModelOf('openai', 'attacker-model-123')).toBeNull()
    expect(pricedModelOf('anthropic', 'gpt-4o')).toBeNull()
    expect(pricedModelOf('ollama', 'llama3.2:latest')).toBeNull()
    expect(pricedModelOf('constructor', 'gpt-4o')).toBeNull()
    expect(pricedModelOf('openai', 'constructor')).toBeNull()
  })
})
