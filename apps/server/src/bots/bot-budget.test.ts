import { describe, expect, it } from 'vitest'
import { RunFailure } from '../runs/run.failure.ts'
import { decideBudget, minOutputTokens } from './bot-budget.ts'

// gpt-4o-mini-like prices: $0.15 / $0.60 per million tokens.
const price = { input: 0.15 / 1e6, output: 0.6 / 1e6 }
const base = {
  maxCostPerRunUsd: null,
  dailyBudgetUsd: null,
  spentTodayUsd: 0,
  estimatedInputTokens: 1000,
  price,
  maxOutputTokens: null,
}

function failure(fn: () => unknown): RunFailure {
  try {
    fn()
  } catch (error) {
    if (error instanceof RunFailure) return error
    throw error
  }
  throw new Error('expected a RunFailure')
}

describe('budgets', () => {
  it('does nothing without limits', () => {
    expect(decideBudget(base)).toEqual({ enforced: false, maxOutputTokens: undefined })
    expect(decideBudget({ ...base, maxOutputTokens: 500 }).maxOutputTokens).toBe(500)
  })

  it('caps the output so the run stays within its per-run limit', () => {
    const decision = decideBudget({ ...base, maxCostPerRunUsd: 0.001 })
    expect(decision.enforced).toBe(true)
    // (0.001 - 1000 × 0.15e-6) / 0.6e-6 = 1416 tokens
    expect(decision.maxOutputTokens).toBe(1416)
    expect(decideBudget({ ...base, maxCostPerRunUsd: 0.001, maxOutputTokens: 300 }).maxOutputTokens).toBe(300)
  })

  it('refuses to start a run whose input alone would exceed the per-run limit (budget_exceeded, not retried)', () => {
    const error = failure(() =>
      decideBudget({ ...base, maxCostPerRunUsd: 0.0001, estimatedInputTokens: 1000 }),
    )
    expect(error.code).toBe('budget_exceeded')
    expect(error.retryable).toBe(false)
    expect(error.message).toContain('per-run limit')
    // Room for fewer than the minimum output tokens is no room.
    const tight = 1000 * price.input + (minOutputTokens - 1) * price.output
    expect(failure(() => decideBudget({ ...base, maxCostPerRunUsd: tight })).code).toBe('budget_exceeded')
  })

  it('refuses once the daily budget is spent, and caps by what is left of it', () => {
    const spent = failure(() => decideBudget({ ...base, dailyBudgetUsd: 1, spentTodayUsd: 1 }))
    expect(spent.code).toBe('budget_exceeded')
    expect(spent.message).toContain('daily budget')
    const left = decideBudget({ ...base, dailyBudgetUsd: 1, spentTodayUsd: 0.9995 })
    expect(left.maxOutputTokens).toBe(583)
    // Even without a price, a day already over budget does not start.
    expect(
      failure(() => decideBudget({ ...base, price: null, dailyBudgetUsd: 1, spentTodayUsd: 2 })).code,
    ).toBe('budget_exceeded')
  })

  it('says when a budget cannot be checked because the model has no known price', () => {
    expect(decideBudget({ ...base, price: null, maxCostPerRunUsd: 0.01 })).toMatchObject({
      enforced: false,
      reason: expect.stringContaining('no known price'),
    })
  })
})
