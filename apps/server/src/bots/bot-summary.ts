import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { QuotasOf } from '../quotas/quotas.ts'
import { startOfDay } from '../schedules/schedule-spec.ts'
import { botSpendSince, recordUsage, tenantSpendSince } from '../usage/usage.ts'
import type { BotProviderAccess } from './bot.executor.ts'
import { findBot } from './bot.store.ts'

// A notification in the `summary` format (issue 14) is two sentences about a run's result, written
// by the bot's own provider and model. The call is the bot's spending: it is recorded as usage of the
// notification run against the bot, and it is not made once the bot's daily budget or its
// workspace's daily budget is spent (the two a bot run checks, bot.executor.ts).

/** The most of a result sent to be summarised: a notification needs the gist, not a long context. */
export const summaryInputChars = 12_000
const summaryOutputTokens = 160

const summarySystem =
  'You write notification texts. Summarise the result below in exactly two short sentences for a person ' +
  'reading it on a phone: what was found or done, and the most important detail. Plain text, no Markdown, ' +
  'no greeting, no preamble. Write in the language of the result.'

export interface BotSummary {
  text: string
  tokensIn: number
  tokensOut: number
  /** Null for a model without a known price. */
  costUsd: number | null
  provider: string
  model: string
}

/** Why there is no summary: told in the notification's place of it and recorded on its run. */
export class SummaryUnavailable extends Error {
  readonly code: 'bot_not_found' | 'budget_exceeded' | 'empty_result'
  constructor(code: SummaryUnavailable['code'], message: string) {
    super(message)
    this.name = 'SummaryUnavailable'
    this.code = code
  }
}

export function createBotSummarizer(deps: {
  database: Db
  clock: Clock
  providers: BotProviderAccess
  /** Each workspace's quotas: its daily budget (UTC days, like the bot runs'). */
  quotasOf: QuotasOf
}) {
  const db = deps.database.db
  /**
   * Two sentences about `text`, a run of bot `botId`, for the notification run `by` (whose usage it
   * is). Throws SummaryUnavailable when it may not be written, and the provider's errors as they are.
   */
  return async function summarize(
    tenantId: string,
    botId: string,
    text: string,
    by: { runId: string; attempt: number; signal: AbortSignal },
  ): Promise<BotSummary> {
    if (text.trim() === '') throw new SummaryUnavailable('empty_result', 'The run left no text to summarise.')
    const bot = await findBot(db, tenantId, botId)
    if (!bot) throw new SummaryUnavailable('bot_not_found', `Bot ${botId} does not exist any more.`)
    if (bot.daily_budget_usd !== null) {
      const spent = await botSpendSince(db, tenantId, bot.id, startOfDay(deps.clock.now(), bot.timezone))
      if (spent >= bot.daily_budget_usd)
        throw new SummaryUnavailable(
          'budget_exceeded',
          `${bot.name} has spent its daily budget ($${bot.daily_budget_usd}), so no summary was written.`,
        )
    }
    const workspaceBudget = (await deps.quotasOf(tenantId)).dailyBudgetUsd
    if (workspaceBudget !== null) {
      const spent = await tenantSpendSince(db, tenantId, startOfDay(deps.clock.now(), 'UTC'))
      if (spent >= workspaceBudget)
        throw new SummaryUnavailable(
          'budget_exceeded',
          `This workspace has spent its daily budget ($${workspaceBudget}), so no summary was written.`,
        )
    }
    const credentials = await deps.providers.credentials(tenantId, bot.provider)
    let result: Awaited<ReturnType<BotProviderAccess['generate']>>
    try {
      result = await deps.providers.generate(credentials, {
        model: bot.model,
        system: summarySystem,
        prompt: text.length > summaryInputChars ? `${text.slice(0, summaryInputChars)}\n[…]` : text,
        maxOutputTokens: summaryOutputTokens,
        signal: by.signal,
      })
    } catch (error) {
      await deps.providers.recordCall?.(tenantId, bot.provider, error).catch(() => {})
      throw error
    }
    await deps.providers.recordCall?.(tenantId, bot.provider).catch(() => {})
    const model = result.model || bot.model
    const costUsd = deps.providers.costUsd(bot.provider, model, result.tokensIn, result.tokensOut)
    await recordUsage(db, {
      tenantId,
      runId: by.runId,
      attempt: by.attempt,
      call: 0,
      botId: bot.id,
      provider: bot.provider,
      model,
      tokensIn: result.tokensIn,
      tokensOut: result.tokensOut,
      costUsd,
      at: deps.clock.now(),
    })
    return {
      text: result.text.trim(),
      tokensIn: result.tokensIn,
      tokensOut: result.tokensOut,
      costUsd,
      provider: bot.provider,
      model,
    }
  }
}

export type BotSummarizer = ReturnType<typeof createBotSummarizer>
