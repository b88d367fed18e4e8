import { parseJson } from '../runs/run.mapper.ts'
import type { RunKindView } from '../runs/run-view.ts'

// A bot run's part of the Run JSON: its subject is the bot (`botId`), its result the model's usage
// and the "new results" decision. The kernel stores the result as JSON and never reads it.

/** What a completed bot run leaves in `runs.result`. */
export interface BotRunResult {
  /** SHA-256 of the output text: equal hashes mean nothing new was found. */
  outputHash: string
  /** Whether the output differs from the bot's previous completed run. */
  isNew: boolean
  tokensIn: number
  tokensOut: number
  /** Null for a model without a known price. */
  costUsd: number | null
}

export const botRunView: RunKindView = {
  kind: 'bot',
  subjectField: 'botId',
  resultFields: ['outputHash', 'isNew', 'tokensIn', 'tokensOut', 'costUsd'],
}

/** A bot run's result from its stored JSON (runs.result); empty while the run has none. */
export function botResultOf(text: string | null): Partial<BotRunResult> {
  const value = parseJson(text)
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as BotRunResult) : {}
}
