import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import type { EgressPolicy } from '../platform/egress/egress.ts'
import type { Logger } from '../platform/logger.ts'
import { createQuotasOf } from '../quotas/quota.service.ts'
import { defaultQuotas, type Quotas } from '../quotas/quotas.ts'
import type { RunKernel } from '../runs/kernel.ts'
import type { EnqueueRequest } from '../runs/runs.ts'
import { nextFireTimes, type Schedules } from '../schedules/schedules.ts'
import type { ToolRegistry } from '../tools/tools.ts'
import { createBotEventHandler } from './bot.events.ts'
import {
  type BotExecutorDeps,
  type BotObserver,
  type BotProviderAccess,
  createBotExecutor,
} from './bot.executor.ts'
import { botRunView } from './bot.run-view.ts'
import { botScheduleOwner } from './bot.schedule-owner.ts'
import { botRunKind, botRunRequest, createBotService, type ProviderDirectory } from './bot.service.ts'
import { findBot } from './bot.store.ts'
import type { BotStepInput } from './bot-context.ts'
import { createBotFiles } from './bot-files.ts'
import { createBotHooks } from './bot-hooks.ts'
import { createBotNotes } from './bot-notes.ts'
import { createBotSummarizer } from './bot-summary.ts'
import { createBotTriggers } from './bot-triggers.ts'

/** For other domains (the quotas page counts a workspace's bots). */
export { countBots } from './bot.store.ts'
export type { BotStepInput } from './bot-context.ts'
export type { ChainInput, PipelineStarter } from './bot-triggers.ts'

// The bots domain wired onto a run kernel: service, notes, executor (run kind `bot`), scheduler and
// the run-event handler. The kernel knows nothing of bots: they register with it here.

export interface BotsDeps {
  database: Db
  bus: Bus
  clock: Clock
  log: Logger
  kernel: Pick<RunKernel, 'runs' | 'executors' | 'views' | 'relay'>
  providers: ProviderDirectory & BotProviderAccess
  /** The schedules domain: the bots own the schedules of kind `bot`. */
  schedules: Schedules
  /** The tool sets bots may use and the egress rules their calls obey; absent: no tools. */
  tools?: { registry: ToolRegistry; egress: EgressPolicy }
  /** Approvals and the approval policies: tool calls that need a person park the run. */
  approvals?: BotExecutorDeps['approvals']
  streamFlushMs?: number
  /** The installation's quotas; a workspace may have its own on top (default: defaultQuotas). */
  quotas?: Quotas
  /** Told of tool calls and budget use (metrics). */
  observe?: BotObserver
}

export type Bots = ReturnType<typeof createBots>

export function createBots(deps: BotsDeps) {
  const quotas = deps.quotas ?? defaultQuotas
  const quotasOf = createQuotasOf(deps.database.db, quotas)
  const notes = createBotNotes({ database: deps.database, clock: deps.clock })
  deps.schedules.scheduler.own(botRunKind, botScheduleOwner)
  // The pipelines domain is made after the bots: it says how to look a pipeline up once it exists.
  let pipelineExists: ((tenantId: string, id: string) => Promise<boolean>) | undefined
  const service = createBotService({
    database: deps.database,
    bus: deps.bus,
    clock: deps.clock,
    log: deps.log,
    runs: deps.kernel.runs,
    providers: deps.providers,
    notes,
    quotasOf,
    onSchedulesChanged: () => deps.schedules.changed(),
    ...(deps.tools ? { toolSets: (tenantId: string) => deps.tools!.registry.names(tenantId) } : {}),
    pipelineExists: async (tenantId, id) => (pipelineExists ? pipelineExists(tenantId, id) : true),
  })
  deps.kernel.views.push(botRunView)
  deps.kernel.executors.register(
    botRunKind,
    createBotExecutor({
      database: deps.database,
      clock: deps.clock,
      notes,
      providers: deps.providers,
      quotasOf,
      ...(deps.tools ? { tools: deps.tools } : {}),
      ...(deps.approvals ? { approvals: deps.approvals } : {}),
      ...(deps.observe ? { observe: deps.observe } : {}),
      publishLive: (event) => deps.kernel.relay.publishLive(event),
      ...(deps.streamFlushMs !== undefined ? { streamFlushMs: deps.streamFlushMs } : {}),
    }),
  )
  const triggers = createBotTriggers({ runs: deps.kernel.runs, log: deps.log })
  const onBotEvents = createBotEventHandler({
    clock: deps.clock,
    log: deps.log,
    dialect: deps.database.dialect,
  })
  deps.kernel.relay.consume('bots', async (events, trx) => {
    await onBotEvents(events, trx)
    // A completed run starts what its bot's onComplete names.
    await triggers.onEvents(events, trx)
  })

  return {
    service,
    notes,
    /** The bots' inbound webhooks (POST /hooks/{token}). */
    hooks: createBotHooks({ database: deps.database, clock: deps.clock }),
    /**
     * A bot of the workspace by id, for domains that name it (channels): its name, time zone and when
     * it runs next (epoch ms; null: not scheduled); undefined if none.
     */
    async botOf(
      tenantId: string,
      id: string,
    ): Promise<{ id: string; name: string; timezone: string; nextRunAt: number | null } | undefined> {
      const row = await findBot(deps.database.db, tenantId, id)
      if (!row) return undefined
      const fireTimes = await nextFireTimes(deps.database.db, botRunKind, [row.id])
      return { id: row.id, name: row.name, timezone: row.timezone, nextRunAt: fireTimes.get(row.id) ?? null }
    },
    /** Two sentences about a run's result by the bot's own model (notifications in the `summary` format). */
    summarize: createBotSummarizer({
      database: deps.database,
      clock: deps.clock,
      providers: deps.providers,
      quotasOf,
    }),
    /** Pipelines run bots as their steps (pipelines/): a step's run request, and which bots exist. */
    steps: {
      /**
       * The run of bot `botId` as a pipeline step, read in the caller's transaction (the bot's retries,
       * timeout and concurrency); undefined when the bot is gone.
       */
      async requestIn(
        trx: Kysely<Tables>,
        step: {
          tenantId: string
          botId: string
          input: BotStepInput | null
          parentRunId: string
          idempotencyKey: string
          runAt?: number
        },
      ): Promise<EnqueueRequest | undefined> {
        const bot = await findBot(trx, step.tenantId, step.botId)
        if (!bot) return undefined
        return {
          ...botRunRequest(bot, 'pipeline', step.input, step.idempotencyKey),
          parentRunId: step.parentRunId,
          ...(step.runAt !== undefined ? { runAt: step.runAt } : {}),
        }
      },
      /** The bots of `ids` that exist in the workspace, with their names and retry delays. */
      async existing(
        tenantId: string,
        ids: readonly string[],
        /** Inside a transaction, its handle: SQLite's one connection would wait for itself otherwise. */
        q: Kysely<Tables> = deps.database.db,
      ): Promise<Map<string, { name: string; retryDelaySeconds: number }>> {
        if (ids.length === 0) return new Map()
        const rows = await q
          .selectFrom('bots')
          .select(['id', 'name', 'retry_delay_seconds'])
          .where('tenant_id', '=', tenantId)
          .where('id', 'in', [...new Set(ids)])
          .execute()
        return new Map(
          rows.map((row) => [row.id, { name: row.name, retryDelaySeconds: row.retry_delay_seconds }]),
        )
      },
    },
    /** Triggers between bots: the pipelines domain tells how to start a pipeline and whether one exists. */
    triggers: {
      setPipelineStarter: triggers.setPipelineStarter,
      setPipelineLookup(lookup: (tenantId: string, id: string) => Promise<boolean>): void {
        pipelineExists = lookup
      },
    },
    /** The files the bots' tools keep, read-only, for people (GET /bots/{id}/files). */
    files: createBotFiles({ database: deps.database }),
    /** The installation's quotas, and each workspace's (with its overrides). */
    quotas,
    quotasOf,
    /** The scheduler the bots' schedules fire on (shared with every owning kind). */
    scheduler: deps.schedules.scheduler,
  }
}
