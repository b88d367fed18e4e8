import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { Logger } from '../platform/logger.ts'
import type { RunEvent } from '../runs/run.types.ts'
import type { EnqueueRequest, RunService } from '../runs/runs.ts'
import { onCompleteOf } from './bot.mapper.ts'
import { botResultOf, botRunView } from './bot.run-view.ts'
import { botRunRequest } from './bot.service.ts'
import { startedByOrchestrator } from './bot-context.ts'
import { hasResults } from './bot-results.ts'

// Triggers between bots (issue 15): when a bot's run completes, the bots and pipelines its
// `onComplete` names start, in the event's transaction (so each is started once, with the key
// `chain:<runId>:<index>`). A chain carries its depth in the started run's input; one deeper than
// `maxChainDepth` is refused and logged, so two bots starting each other cannot run forever.

export const maxChainDepth = 10
/**
 * Runs one chain may start in all, however it branches: a bot starting three that each start three
 * is bounded by this, not by 3^10. Each started run gets an equal share of what is left.
 */
export const maxChainRuns = 100

/** Where a run started by a trigger came from, kept in its input (trusted only from triggers `event`/`pipeline`). */
export interface ChainInput {
  depth: number
  fromRunId: string
  /** Runs this run's own triggers may still start, down the whole chain (default maxChainRuns). */
  budget?: number
}

/** Starts a pipeline in the caller's transaction (the pipelines domain answers; bots do not know it). */
export type PipelineStarter = (
  trx: Kysely<Tables>,
  start: { tenantId: string; pipelineId: string; input: unknown; chain: ChainInput; idempotencyKey: string },
) => Promise<EnqueueRequest | undefined>

export function chainOf(input: unknown): ChainInput | undefined {
  const chain = (input as { chain?: ChainInput } | null)?.chain
  return typeof chain?.depth === 'number' ? chain : undefined
}

export function createBotTriggers(deps: { runs: Pick<RunService, 'enqueueManyIn'>; log: Logger }) {
  let startPipeline: PipelineStarter | undefined

  async function onEvents(events: RunEvent[], trx: Kysely<Tables>): Promise<void> {
    const completed = events.filter(
      (event) =>
        event.type === 'run.completed' && event.payload.kind === botRunView.kind && event.payload.subjectId,
    )
    if (completed.length === 0) return
    // One query for the batch: only bots that start something are read further.
    const bots = await trx
      .selectFrom('bots')
      .select(['id', 'tenant_id', 'name', 'on_complete'])
      .where(
        'id',
        'in',
        completed.map((event) => event.payload.subjectId as string),
      )
      .where('on_complete', '!=', '[]')
      .execute()
    if (bots.length === 0) return
    const byId = new Map(bots.map((bot) => [bot.id, bot]))
    const requests: EnqueueRequest[] = []
    for (const event of completed) {
      const bot = byId.get(event.payload.subjectId as string)
      if (!bot || bot.tenant_id !== event.tenantId) continue
      const run = await trx
        .selectFrom('runs')
        .select(['id', 'trigger', 'input', 'output', 'result'])
        .where('id', '=', event.runId)
        .executeTakeFirst()
      if (!run) continue
      const output = run.output === null ? null : (JSON.parse(run.output) as unknown)
      const isNew = botResultOf(run.result).isNew === true
      // A chain is read only from a run the orchestrator started: a caller's input may hold any `chain`.
      const inherited = startedByOrchestrator(run.trigger)
        ? chainOf(run.input === null ? null : JSON.parse(run.input))
        : undefined
      const depth = (inherited?.depth ?? 0) + 1
      const budget = Math.max(0, Math.min(maxChainRuns, inherited?.budget ?? maxChainRuns))
      const matched = onCompleteOf(bot)
        .map((rule, index) => ({ rule, index }))
        .filter(({ rule }) =>
          rule.when === 'on_new' ? isNew : rule.when === 'on_results' ? hasResults(output) : true,
        )
      if (matched.length === 0) continue
      if (depth > maxChainDepth) {
        deps.log.warn(
          { tenantId: bot.tenant_id, botId: bot.id, runId: run.id, depth },
          `onComplete refused: the chain is deeper than ${maxChainDepth} (bots starting each other in a loop?)`,
        )
        continue
      }
      const starting = matched.slice(0, budget)
      if (starting.length < matched.length)
        deps.log.warn(
          {
            tenantId: bot.tenant_id,
            botId: bot.id,
            runId: run.id,
            refused: matched.length - starting.length,
          },
          `onComplete refused: the chain has started its ${maxChainRuns} runs (bots starting several others in a loop?)`,
        )
      const share = starting.length === 0 ? 0 : Math.floor((budget - starting.length) / starting.length)
      for (const { rule, index } of starting) {
        const chain: ChainInput = { depth, fromRunId: run.id, budget: share }
        const text = textOf(output)
        const idempotencyKey = `chain:${run.id}:${index}`
        if ('botId' in rule.start) {
          const target = await trx
            .selectFrom('bots')
            .selectAll()
            .where('tenant_id', '=', bot.tenant_id)
            .where('id', '=', rule.start.botId)
            .executeTakeFirst()
          if (!target) {
            deps.log.warn({ botId: bot.id, target: rule.start }, 'onComplete: the bot to start is gone')
            continue
          }
          const input = rule.passOutput
            ? { pipelineStep: { mode: 'forward', previous: text }, chain }
            : { chain }
          requests.push({ ...botRunRequest(target, 'event', input, idempotencyKey), parentRunId: run.id })
        } else {
          const request = await startPipeline?.(trx, {
            tenantId: bot.tenant_id,
            pipelineId: rule.start.pipelineId,
            input: rule.passOutput ? text : null,
            chain,
            idempotencyKey,
          })
          if (request) requests.push({ ...request, parentRunId: run.id })
          else
            deps.log.warn({ botId: bot.id, target: rule.start }, 'onComplete: the pipeline to start is gone')
        }
      }
    }
    if (requests.length > 0) await deps.runs.enqueueManyIn(trx, requests)
  }

  return {
    onEvents,
    /** The pipelines domain says how a pipeline is started (it is made after the bots). */
    setPipelineStarter(starter: PipelineStarter): void {
      startPipeline = starter
    },
  }
}

function textOf(output: unknown): string {
  if (output === null || output === undefined) return ''
  if (typeof output === 'object' && typeof (output as { text?: unknown }).text === 'string')
    return (output as { text: string }).text
  return typeof output === 'string' ? output : JSON.stringify(output)
}
