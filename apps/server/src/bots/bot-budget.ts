import { RunFailure } from '../runs/run.failure.ts'

// Budgets: a run that would cost more than its bot's per-run limit, or more than is left of its daily
// budget, does not start (`budget_exceeded`). A run that starts gets an output-token cap that keeps
// it within both, so the estimate before the call bounds the real cost after it.

/** A run must be able to write at least this much to be worth starting. */
export const minOutputTokens = 16

export interface BudgetInput {
  maxCostPerRunUsd: number | null
  dailyBudgetUsd: number | null
  spentTodayUsd: number
  estimatedInputTokens: number
  /** USD per token; null when the model has no known price. */
  price: { input: number; output: number } | null
  maxOutputTokens: number | null
  /** The workspace's daily budget over all its bots (UTC day), and what it spent today; null: none. */
  workspace?: { dailyBudgetUsd: number | null; spentTodayUsd: number }
}

export type BudgetDecision =
  | { enforced: false; maxOutputTokens: number | undefined; reason?: string }
  | { enforced: true; maxOutputTokens: number | undefined; remainingUsd: number; inputCostUsd: number }

export function decideBudget(input: BudgetInput): BudgetDecision {
  const limits: number[] = []
  if (input.maxCostPerRunUsd !== null) limits.push(input.maxCostPerRunUsd)
  if (input.dailyBudgetUsd !== null) limits.push(input.dailyBudgetUsd - input.spentTodayUsd)
  const workspace = input.workspace?.dailyBudgetUsd != null ? input.workspace : undefined
  if (workspace) {
    if (workspace.spentTodayUsd >= workspace.dailyBudgetUsd!)
      throw new RunFailure(
        'budget_exceeded',
        `The workspace has spent $${workspace.spentTodayUsd.toFixed(4)} today (UTC), its daily budget is $${workspace.dailyBudgetUsd}: the run did not start. An operator can raise OPENORCH_DEFAULT_DAILY_BUDGET_USD, or wait until tomorrow.`,
      )
    limits.push(workspace.dailyBudgetUsd! - workspace.spentTodayUsd)
  }
  const configured = input.maxOutputTokens ?? undefined
  if (limits.length === 0) return { enforced: false, maxOutputTokens: configured }
  if (input.dailyBudgetUsd !== null && input.spentTodayUsd >= input.dailyBudgetUsd)
    throw new RunFailure(
      'budget_exceeded',
      `The bot has spent $${input.spentTodayUsd.toFixed(4)} today, its daily budget is $${input.dailyBudgetUsd}: the run did not start. Raise dailyBudgetUsd or wait until tomorrow.`,
    )
  if (input.price === null)
    return {
      enforced: false,
      maxOutputTokens: configured,
      reason: 'the model has no known price, so the budget cannot be checked before the call',
    }
  const remaining = Math.min(...limits)
  const inputCost = input.estimatedInputTokens * input.price.input
  const outputRoom =
    input.price.output > 0
      ? Math.floor((remaining - inputCost) / input.price.output)
      : Number.POSITIVE_INFINITY
  if (inputCost > remaining || outputRoom < minOutputTokens)
    throw new RunFailure(
      'budget_exceeded',
      `This run would cost about $${(inputCost + minOutputTokens * input.price.output).toFixed(4)} or more, ` +
        `but only $${Math.max(0, remaining).toFixed(4)} is left of the bot's ${
          input.maxCostPerRunUsd !== null && remaining === input.maxCostPerRunUsd
            ? 'per-run limit'
            : 'daily budget'
        }: the run did not start. Shorten the prompt or notes, or raise the limit.`,
    )
  const cap = Number.isFinite(outputRoom) ? Math.min(outputRoom, configured ?? outputRoom) : configured
  return { enforced: true, maxOutputTokens: cap, remainingUsd: remaining, inputCostUsd: inputCost }
}
