import type { Bot, BotExportDocument, botProviderNames, RunStatus } from '@openorch/contracts'

type BotProviderName = (typeof botProviderNames)[number]

import { parseJson } from '../runs/run.mapper.ts'
import { botResultOf } from './bot.run-view.ts'
import type { BotRow } from './bot.table.ts'

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

export interface LastRunRow {
  id: string
  status: string
  /** The run's result (JSON, bot.run-view.ts). */
  result: string | null
  output: string | null
  error_message: string | null
  created_at: number
  finished_at: number | null
}

/** The text of a bot run's output (`{ text }`), or the JSON of anything else. */
export function outputText(output: unknown): string {
  if (output === null || output === undefined) return ''
  if (typeof output === 'string') return output
  if (typeof output === 'object' && typeof (output as { text?: unknown }).text === 'string')
    return (output as { text: string }).text
  return JSON.stringify(output)
}

/** One line for a card: the first non-empty line of the output, or the error. */
export function summaryOf(run: LastRunRow): string | null {
  const text = run.status === 'completed' ? outputText(parseJson(run.output)) : (run.error_message ?? '')
  const line = text
    .split('\n')
    .map((l) => l.replace(/^[#>*\-\s]+/, '').trim())
    .find((l) => l.length > 0)
  if (!line) return null
  return line.length > 200 ? `${line.slice(0, 199)}…` : line
}

export function toBotJson(
  row: BotRow,
  /** When its schedule fires next (schedules/); null: not scheduled or not firing. */
  nextFireAt: number | null,
  lastRun: LastRunRow | undefined,
  recent: Array<{ id: string; status: string; result: string | null }> = [],
): Bot {
  return {
    id: row.id,
    ...settingsOf(row),
    nextRunAt: iso(nextFireAt),
    pausedReason: row.paused_reason,
    consecutiveFailures: row.consecutive_failures,
    lastRun: lastRun
      ? {
          id: lastRun.id,
          status: lastRun.status as RunStatus,
          isNew: botResultOf(lastRun.result).isNew ?? null,
          summary: summaryOf(lastRun),
          costUsd: botResultOf(lastRun.result).costUsd ?? null,
          createdAt: iso(lastRun.created_at)!,
          finishedAt: iso(lastRun.finished_at),
        }
      : null,
    recentRuns: recent.map((r) => ({
      id: r.id,
      status: r.status as RunStatus,
      isNew: botResultOf(r.result).isNew ?? null,
    })),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  }
}

/** What a person set: the fields of an export, and the first half of the API's bot. */
function settingsOf(row: BotRow): Required<BotExportDocument['bot']> {
  return {
    name: row.name,
    description: row.description,
    emoji: row.emoji,
    prompt: row.prompt,
    provider: row.provider as Bot['provider'],
    model: row.model,
    schedule: row.schedule,
    timezone: row.timezone,
    enabled: row.enabled === 1,
    maxRuntimeSeconds: row.max_runtime_seconds,
    maxRetries: row.max_retries,
    retryDelaySeconds: row.retry_delay_seconds,
    missedRunPolicy: row.missed_run_policy as Bot['missedRunPolicy'],
    overlapPolicy: row.overlap_policy as Bot['overlapPolicy'],
    pauseAfterFailures: row.pause_after_failures,
    jitterSeconds: row.jitter_seconds,
    maxCostPerRunUsd: row.max_cost_per_run_usd,
    dailyBudgetUsd: row.daily_budget_usd,
    maxOutputTokens: row.max_output_tokens,
    tools: toolsOf(row),
    maxToolIterations: row.max_tool_iterations,
    outputSchema: outputSchemaOf(row),
    fallbacks: fallbacksOf(row),
    priority: row.priority,
    onComplete: onCompleteOf(row),
  }
}

/** The bot's output schema (stored as JSON text), or null. */
export function outputSchemaOf(row: Pick<BotRow, 'output_schema'>): Record<string, unknown> | null {
  const value = parseJson(row.output_schema)
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null
}

/** The bot's tool sets (stored as a JSON array). */
/** The models a bot falls back to while its provider's circuit is open, in order. */
export function fallbacksOf(
  row: Pick<BotRow, 'fallbacks'>,
): Array<{ provider: BotProviderName; model: string }> {
  const value = parseJson(row.fallbacks ?? '[]')
  return Array.isArray(value) ? (value as Array<{ provider: BotProviderName; model: string }>) : []
}

export interface OnCompleteRule {
  start: { botId: string } | { pipelineId: string }
  when: 'always' | 'on_new' | 'on_results'
  passOutput: boolean
}

/** What a bot starts when one of its runs completes. */
export function onCompleteOf(row: Pick<BotRow, 'on_complete'>): OnCompleteRule[] {
  const value = parseJson(row.on_complete ?? '[]')
  return Array.isArray(value) ? (value as OnCompleteRule[]) : []
}

export function toolsOf(row: Pick<BotRow, 'tools'>): string[] {
  const value = parseJson(row.tools)
  return Array.isArray(value) ? value.filter((name): name is string => typeof name === 'string') : []
}

/** A bot as a portable document: settings only; no id, state or secrets. */
export function toBotExport(row: BotRow): BotExportDocument {
  return {
    format: 'openorch.bot',
    version: 1,
    bot: settingsOf(row),
  }
}
