import type { Selectable } from 'kysely'

// Kysely row type of a bot (snake_case, as stored).
export interface BotsTable {
  id: string
  tenant_id: string
  name: string
  description: string
  emoji: string | null
  prompt: string
  provider: string
  model: string
  schedule: string | null
  timezone: string
  enabled: number
  max_runtime_seconds: number
  max_retries: number
  retry_delay_seconds: number
  missed_run_policy: string
  overlap_policy: string
  pause_after_failures: number | null
  jitter_seconds: number
  max_cost_per_run_usd: number | null
  daily_budget_usd: number | null
  max_output_tokens: number | null
  /** The tool sets the bot may use: a JSON array of names (tools/). */
  tools: string
  /** JSON array of `{ provider, model }` tried in order while the bot's provider's circuit is open. */
  fallbacks: string
  /** Claim order, and the `degraded` mode's gate (migration 0037). */
  priority: number
  /** JSON array of `{ start: { botId } | { pipelineId }, when, passOutput }` (migration 0035). */
  on_complete: string
  max_tool_iterations: number
  /** The JSON Schema answers must match (JSON text); null: free text. */
  output_schema: string | null
  consecutive_failures: number
  paused_reason: string | null
  budget_warned_day: string | null
  created_at: number
  updated_at: number
}

export type BotRow = Selectable<BotsTable>
