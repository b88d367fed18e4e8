import type { Approvals } from '../approvals/approvals.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { EgressPolicy } from '../platform/egress/egress.ts'
import { AppError } from '../platform/errors.ts'
import { sha256Hex } from '../platform/ids.ts'
import { type CircuitBreaker, providerOpenKey, providerOpenReason } from '../providers/circuit-breaker.ts'
import type { GenerateRequest, GenerateResult, ProviderCredentials } from '../providers/provider.types.ts'
import type { QuotasOf } from '../quotas/quotas.ts'
import type { Executor, RunContext } from '../runs/executor.ts'
import { RunFailure, toRunError } from '../runs/run.failure.ts'
import { parseJson } from '../runs/run.mapper.ts'
import type { RunEvent } from '../runs/run.types.ts'
import { appendEventsIn, appendRunLogs, type RunLogEntry, type RunLogLevel } from '../runs/runs.ts'
import { dayOf, startOfDay } from '../schedules/schedule-spec.ts'
import {
  type ApprovalDecisionOutcome,
  runToolLoop,
  type ToolCallReport,
  type ToolLoopState,
  type ToolPolicies,
  type ToolRegistry,
} from '../tools/tools.ts'
import { botSpendSince, recordUsage, tenantSpendSince } from '../usage/usage.ts'
import { fallbacksOf, outputSchemaOf, toolsOf } from './bot.mapper.ts'
import { type BotRunResult, botResultOf } from './bot.run-view.ts'
import { findBot, lastCompletedRun } from './bot.store.ts'
import type { BotRow } from './bot.table.ts'
import { decideBudget } from './bot-budget.ts'
import { buildBotContext, notesTokenBudget, startedByOrchestrator } from './bot-context.ts'
import { botFileSpace } from './bot-files.ts'
import type { BotNotes } from './bot-notes.ts'
import { canonicalJson, parseStructuredAnswer } from './bot-output-schema.ts'

/** What a bot run needs of the provider layer. */
export interface BotProviderAccess {
  credentials(tenantId: string, name: string): Promise<ProviderCredentials>
  generate(credentials: ProviderCredentials, request: GenerateRequest): Promise<GenerateResult>
  costUsd(provider: string, model: string, tokensIn: number, tokensOut: number): number | null
  /** Tells the provider layer how a call with the saved key went (a refused key marks it failing). */
  recordCall?(tenantId: string, name: string, error?: unknown, runId?: string): Promise<void>
  /** The providers' circuit breakers (decision 0034); absent: every call goes out. */
  circuit?: Pick<CircuitBreaker, 'admit'>
}

export interface BotExecutorDeps {
  database: Db
  clock: Clock
  notes: BotNotes
  providers: BotProviderAccess
  /** Live-only events (streamed output) to every process's live feed. */
  publishLive: (event: RunEvent) => void
  /** How often streamed text is sent to the live feed (default 100 ms). */
  streamFlushMs?: number
  /** Each workspace's quotas: its daily budget over all its bots (UTC day); absent: no budget. */
  quotasOf?: QuotasOf
  /** The installation's tool sets and egress rules; absent: bots run without tools. */
  tools?: { registry: ToolRegistry; egress: EgressPolicy }
  /** Approvals and the workspaces' approval policies; absent: calls that need approval are refused. */
  approvals?: { service: Approvals; policies: ToolPolicies }
  /** Told what runs do (metrics); absent: nobody is. */
  observe?: BotObserver
}

/** What a bot run tells the metrics (decision 0035): no ids but the tenant's, which is a key there, never a label. */
export interface BotObserver {
  /** A tool call ended; `toolSet` undefined: the model named a tool it does not have. */
  toolCalled(call: {
    tool: string
    toolSet: string | undefined
    outcome: 'completed' | 'failed' | 'rejected' | 'invalid'
    durationMs: number | undefined
  }): void
  /** A workspace with a daily budget has used `share` of it today (UTC), as this run saw it. */
  budgetUsed(tenantId: string, share: number, at: number): void
}

/** What a bot run parked for an approval resumes from (the approval's `state`). */
interface ParkedBotRun {
  loop: ToolLoopState
  system: string
  costUsd: number | null
  costKnown: boolean
}

/** Share of the daily budget at which a `bot.budget_warning` event is emitted (once per day). */
export const budgetWarningShare = 0.8
const maxDeltaChars = 4000

/** Runs a bot: builds its context, checks its budget, calls its model, stores output, usage and log. */
export function createBotExecutor(deps: BotExecutorDeps): Executor {
  const db = deps.database.db

  return async function executeBot(context: RunContext) {
    const { run } = context
    // Lines are gathered and written at the run's milestones (before the model call, at the end, on
    // failure): one statement instead of one per line, which was most of a run's round trips.
    const pending: RunLogEntry[] = []
    const log = async (level: RunLogLevel, message: string, data?: Record<string, unknown>) => {
      pending.push({
        tenantId: run.tenantId,
        runId: run.id,
        attempt: run.attempt,
        level,
        message,
        data: data ?? null,
        at: deps.clock.now(),
      })
    }
    const flush = () => appendRunLogs(db, pending.splice(0))

    const bot = run.subjectId ? await findBot(db, run.tenantId, run.subjectId) : undefined
    if (!bot) throw new RunFailure('bot_not_found', `Bot ${run.subjectId} does not exist any more.`)
    await log('info', `attempt ${run.attempt} of ${run.maxAttempts} started`, {
      trigger: run.trigger,
      provider: bot.provider,
      model: bot.model,
    })

    const cleanups: Array<() => Promise<void>> = []
    // Usage records written in the background (one round trip less a tool round); all of them are
    // in before the run settles, whichever way.
    const writes: Array<Promise<void>> = []
    try {
      const result = await execute(context, bot, log, flush, cleanups, writes)
      await Promise.all(writes)
      await flush()
      return result
    } catch (error) {
      await Promise.allSettled(writes)
      const reason = context.signal.aborted
        ? (context.signal.reason as { reason?: string })?.reason
        : undefined
      const failure = toRunError(error, run.tenantId)
      await log(
        'error',
        reason ? `aborted: ${reason}` : `${failure.code}: ${failure.message}`,
        reason
          ? { reason }
          : {
              code: failure.code,
              retryable: failure.retryable,
              ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
              willRetry: failure.retryable && run.attempt < run.maxAttempts,
            },
      )
      await flush().catch(() => {})
      throw error
    } finally {
      // What tools opened for this attempt (stdio MCP servers) ends with it.
      await Promise.allSettled(cleanups.map((cleanup) => cleanup()))
    }
  }

  async function execute(
    context: RunContext,
    bot: BotRow,
    log: (level: RunLogLevel, message: string, data?: Record<string, unknown>) => Promise<void>,
    flush: () => Promise<void>,
    cleanups: Array<() => Promise<void>>,
    writes: Array<Promise<void>>,
  ) {
    const { run } = context
    let credentials: ProviderCredentials
    try {
      credentials = await deps.providers.credentials(run.tenantId, bot.provider)
    } catch (error) {
      if (error instanceof AppError) throw new RunFailure(error.code, error.message, false)
      throw error
    }

    // The provider's circuit breaker (decision 0034): while it is open the bot's fallbacks answer in
    // order, or the run parks without a worker slot until the provider answers again.
    let target: { provider: string; model: string; credentials: ProviderCredentials } = {
      provider: bot.provider,
      model: bot.model,
      credentials,
    }
    const circuit = deps.providers.circuit
    if (circuit) {
      const admitted = await circuit.admit(run.tenantId, bot.provider)
      if (!admitted.call) {
        let chosen: typeof target | undefined
        for (const fallback of fallbacksOf(bot)) {
          if (!(await circuit.admit(run.tenantId, fallback.provider)).call) continue
          try {
            const fallbackCredentials = await deps.providers.credentials(run.tenantId, fallback.provider)
            chosen = { provider: fallback.provider, model: fallback.model, credentials: fallbackCredentials }
            break
          } catch (error) {
            if (!(error instanceof AppError)) throw error
            await log(
              'warn',
              `fallback ${fallback.provider} ${fallback.model} is not usable: ${error.message}`,
            )
          }
        }
        if (!chosen) {
          await log(
            'warn',
            `${bot.provider} failed again and again (its circuit is open): waiting until it answers`,
            {
              provider: bot.provider,
              retryAt: new Date(admitted.retryAt).toISOString(),
            },
          )
          await flush()
          return { wait: providerOpenReason, correlationKey: `${providerOpenKey(bot.provider)}${run.id}` }
        }
        await log(
          'info',
          `${bot.provider}'s circuit is open: falling back to ${chosen.provider} ${chosen.model}`,
          {
            provider: chosen.provider,
            model: chosen.model,
          },
        )
        target = chosen
      } else if (admitted.probe)
        await log('info', `probing ${bot.provider} after its cool-down (its circuit is half-open)`)
    }

    // A run parked for an approval goes on from its conversation once the approval is decided. Only a
    // bot with tools parks, and a resumed run is past its first attempt (the resume's claim counts
    // one): a bot run's first attempt asks nothing more of the database.
    const mayHaveParked = deps.approvals !== undefined && run.attempt > 1 && toolsOf(bot).length > 0
    const decided = mayHaveParked ? await deps.approvals!.service.decidedOf(run.tenantId, run.id) : undefined
    const parked = decided?.state as ParkedBotRun | undefined
    if (decided)
      await log('info', `approval ${decided.row.status}: going on from the conversation`, {
        approvalId: decided.row.id,
        tool: decided.row.tool,
        decision: decided.row.status,
        ...(decided.row.comment ? { comment: decided.row.comment } : {}),
      })

    const previous = await lastCompletedRun(db, run.tenantId, bot.id, run.id)
    const built = buildBotContext({
      bot,
      lastRun:
        previous && previous.finished_at !== null
          ? { output: parseJson(previous.output), finishedAt: Number(previous.finished_at) }
          : undefined,
      // Metadata first, and only the bytes the notes' token budget can use (four characters a token).
      notes: await deps.notes.readWithin(bot.id, notesTokenBudget * 4),
      input: run.input,
      fromOrchestrator: startedByOrchestrator(run.trigger),
    })
    await log('info', 'context built', {
      systemChars: built.system.length,
      promptChars: built.prompt.length,
      estimatedTokens: built.estimatedTokens,
      notes: built.notesIncluded,
      hasLastOutput: previous !== undefined,
    })
    for (const cut of built.truncations)
      await log('warn', `${cut.what} shortened to fit the context`, { ...cut })

    const now = deps.clock.now()
    const dayStart = startOfDay(now, bot.timezone)
    const spentToday =
      bot.daily_budget_usd !== null ? await botSpendSince(db, run.tenantId, bot.id, dayStart) : 0
    const perMillionIn = deps.providers.costUsd(target.provider, target.model, 1_000_000, 0)
    const perMillionOut = deps.providers.costUsd(target.provider, target.model, 0, 1_000_000)
    const workspaceBudget = deps.quotasOf ? (await deps.quotasOf(run.tenantId)).dailyBudgetUsd : null
    const workspaceSpent =
      workspaceBudget === null ? 0 : await tenantSpendSince(db, run.tenantId, startOfDay(now, 'UTC'))
    const reportBudgetUse = (runCostUsd: number) => {
      if (workspaceBudget !== null && workspaceBudget > 0)
        deps.observe?.budgetUsed(
          run.tenantId,
          (workspaceSpent + runCostUsd) / workspaceBudget,
          deps.clock.now(),
        )
    }
    reportBudgetUse(0)
    const budget = decideBudget({
      workspace: {
        dailyBudgetUsd: workspaceBudget,
        spentTodayUsd: workspaceSpent,
      },
      maxCostPerRunUsd: bot.max_cost_per_run_usd,
      dailyBudgetUsd: bot.daily_budget_usd,
      spentTodayUsd: spentToday,
      estimatedInputTokens: built.estimatedTokens,
      price:
        perMillionIn === null || perMillionOut === null
          ? null
          : { input: perMillionIn / 1_000_000, output: perMillionOut / 1_000_000 },
      maxOutputTokens: bot.max_output_tokens,
    })
    if (!budget.enforced && budget.reason) await log('warn', `budget not enforced: ${budget.reason}`)
    if (budget.enforced)
      await log('info', 'budget checked', {
        remainingUsd: budget.remainingUsd,
        estimatedInputCostUsd: budget.inputCostUsd,
        maxOutputTokens: budget.maxOutputTokens,
      })

    // The call spends money: present the fencing token first, so a worker that lost its lease stops here.
    await context.assertLease()
    await log('info', `calling ${target.provider} ${target.model}`, {
      provider: target.provider,
      model: target.model,
      baseUrl: target.credentials.baseUrl,
      ...(budget.maxOutputTokens !== undefined ? { maxOutputTokens: budget.maxOutputTokens } : {}),
    })
    // What happened so far is on the run page while the model answers.
    await flush()

    // One model call: usage recorded (one record per call), the provider's status updated. With
    // tools the model is called once per round, each call within what is left of the budget.
    let costUsd: number | null = parked ? parked.costUsd : 0
    let costKnown = parked ? parked.costKnown : true
    const system = parked?.system ?? built.system
    // One stream for the run: the text of every call continues the same output (offsets go on).
    const stream = createStreamForwarder(deps, run, deps.streamFlushMs ?? 100)
    const callModel = async (
      request: Pick<GenerateRequest, 'prompt' | 'messages' | 'tools' | 'outputSchema'>,
      call: number,
    ): Promise<GenerateResult> => {
      if (call > 0) {
        // The lease again before spending more (the last call's usage record lands meanwhile), and
        // the budget: what this run spent counts.
        await Promise.all([...writes, context.assertLease()])
        if (budget.enforced && costUsd !== null && costUsd >= budget.remainingUsd)
          throw new RunFailure(
            'budget_exceeded',
            `The run spent $${costUsd.toFixed(4)} in ${call} model call${call === 1 ? '' : 's'}, all that was left of the bot's budget ($${budget.remainingUsd.toFixed(4)}): it stopped before the next call. Raise the limit or give the bot fewer tools rounds.`,
          )
      }
      const started = deps.clock.now()
      let result: GenerateResult
      try {
        result = await deps.providers.generate(target.credentials, {
          model: target.model,
          system,
          ...request,
          signal: context.signal,
          ...(budget.maxOutputTokens !== undefined ? { maxOutputTokens: budget.maxOutputTokens } : {}),
          onDelta: stream.push,
        })
      } catch (error) {
        await deps.providers.recordCall?.(run.tenantId, target.provider, error, run.id).catch(() => {})
        throw error
      } finally {
        stream.close()
      }
      await deps.providers.recordCall?.(run.tenantId, target.provider, undefined, run.id).catch(() => {})
      const callCost = deps.providers.costUsd(
        target.provider,
        result.model || target.model,
        result.tokensIn,
        result.tokensOut,
      )
      if (callCost === null) costKnown = false
      costUsd = costKnown && costUsd !== null && callCost !== null ? costUsd + callCost : null
      if (costUsd !== null) reportBudgetUse(costUsd)
      // Written while the tools of this round run; awaited before the next call and at the end.
      const usageWrite = recordUsage(db, {
        tenantId: run.tenantId,
        runId: run.id,
        attempt: run.attempt,
        call,
        botId: bot.id,
        provider: target.provider,
        model: result.model || target.model,
        tokensIn: result.tokensIn,
        tokensOut: result.tokensOut,
        costUsd: callCost,
        at: deps.clock.now(),
      })
      usageWrite.catch(() => {})
      writes.push(usageWrite)
      await log('info', result.toolCalls.length > 0 ? 'tool calls requested' : 'answer received', {
        model: result.model,
        finishReason: result.finishReason,
        tokensIn: result.tokensIn,
        tokensOut: result.tokensOut,
        costUsd: callCost,
        callMs: deps.clock.now() - started,
        ...(result.toolCalls.length > 0 ? { calls: result.toolCalls.map((c) => c.toolName) } : {}),
      })
      return result
    }

    const outputSchema = outputSchemaOf(bot)
    const functions = deps.tools ? await deps.tools.registry.functionsFor(run.tenantId, toolsOf(bot)) : []
    let result: GenerateResult
    let tokensIn: number
    let tokensOut: number
    /** The index of the last model call (usage records count calls from 0). */
    let lastCall = 0
    if (functions.length === 0) {
      result = await callModel({ prompt: built.prompt, ...(outputSchema ? { outputSchema } : {}) }, 0)
      tokensIn = result.tokensIn
      tokensOut = result.tokensOut
    } else {
      const policy = deps.approvals ? await deps.approvals.policies.get(run.tenantId) : undefined
      const policyNames = new Set(policy?.requireApproval ?? [])
      const toolSetOf = new Map(functions.map((fn) => [fn.name, fn.toolSet]))
      const decision: ApprovalDecisionOutcome | undefined =
        decided && decided.row.status !== 'pending' && decided.row.status !== 'parking'
          ? { toolCallId: decided.row.tool_call_id, status: decided.row.status, comment: decided.row.comment }
          : undefined
      const loop = await runToolLoop({
        prompt: built.prompt,
        functions,
        context: {
          tenantId: run.tenantId,
          runId: run.id,
          signal: context.signal,
          egress: deps.tools!.egress,
          files: botFileSpace(deps, run.tenantId, bot.id),
          atEnd: (cleanup) => cleanups.push(cleanup),
        },
        maxIterations: bot.max_tool_iterations,
        call: ({ messages, tools, round }) =>
          callModel({ messages, tools, ...(outputSchema ? { outputSchema } : {}) }, round),
        assertLease: () => context.assertLease(),
        onToolCall: (report) => {
          if (report.status !== 'started')
            deps.observe?.toolCalled({
              tool: report.tool,
              toolSet: toolSetOf.get(report.tool),
              outcome:
                report.status === 'completed'
                  ? 'completed'
                  : report.error?.code === 'approval_rejected' || report.error?.code === 'approval_expired'
                    ? 'rejected'
                    : report.error?.code === 'tool_unknown' || report.error?.code === 'tool_arguments_invalid'
                      ? 'invalid'
                      : 'failed',
              durationMs: report.durationMs,
            })
          return reportToolCall(report)
        },
        needsApproval: (fn) => fn.requiresApproval === true || policyNames.has(fn.name),
        ...(parked && decision ? { resume: { state: parked.loop, decision } } : {}),
        runApproved: async (toolCallId, execute) => {
          if (!decided || !deps.approvals) return execute()
          // The lease first: a zombie of this run must not make the call a person allowed.
          await context.assertLease()
          const once = await deps.approvals.service.executeOnce(run.tenantId, decided.row.id, execute)
          if ('unknown' in once) {
            await log(
              'warn',
              'the approved call was started by an earlier attempt that stopped: not made again',
              {
                approvalId: decided.row.id,
                tool: decided.row.tool,
              },
            )
            return {
              type: 'tool-result',
              toolCallId,
              toolName: decided.row.tool,
              output: {
                type: 'error-text',
                value:
                  'outcome_unknown: the approved call was started before, and the process running it stopped before its result was kept. It was not made a second time; check its effect before trying again.',
              },
            }
          }
          return once.result
        },
      })
      if (loop.parked) {
        if (!deps.approvals)
          throw new RunFailure(
            'approval_unavailable',
            `The call of ${loop.parked.tool} needs a person's approval, and approvals are not available in this process.`,
            false,
          )
        const expiresAfter = policy?.expiresAfterSeconds ?? null
        const state: ParkedBotRun = { loop: loop.state, system, costUsd, costKnown }
        const approval = await deps.approvals.service.request({
          tenantId: run.tenantId,
          runId: run.id,
          subjectKind: run.kind,
          subjectId: bot.id,
          subjectName: bot.name,
          toolSet: toolSetOf.get(loop.parked.tool) ?? 'unknown',
          tool: loop.parked.tool,
          toolCallId: loop.parked.toolCallId,
          arguments: loop.parked.arguments,
          reason: loop.parked.reason,
          state,
          expiresAt: expiresAfter === null ? null : deps.clock.now() + expiresAfter * 1000,
        })
        await log('info', `waiting for approval of ${loop.parked.tool}`, {
          approvalId: approval.id,
          tool: loop.parked.tool,
          toolCallId: loop.parked.toolCallId,
          arguments: loop.parked.arguments,
          ...(expiresAfter !== null ? { expiresAfterSeconds: expiresAfter } : {}),
        })
        return { wait: 'approval', correlationKey: approval.correlationKey } as const
      }
      result = loop.final
      tokensIn = loop.tokensIn
      lastCall = loop.rounds
      tokensOut = loop.tokensOut
      await log('info', 'tools done', { toolCalls: loop.toolCalls, rounds: loop.rounds })
    }

    /** A tool call: a run-log line when it ends, and live events as it starts and ends. */
    async function reportToolCall(report: ToolCallReport): Promise<void> {
      deps.publishLive({
        id: 0,
        tenantId: run.tenantId,
        runId: run.id,
        type: 'run.tool_call',
        payload: {
          runId: run.id,
          tenantId: run.tenantId,
          kind: run.kind,
          subjectId: run.subjectId,
          status: 'running',
          attempt: run.attempt,
          error: null,
          toolCallId: report.toolCallId,
          tool: report.tool,
          toolStatus: report.status,
          arguments: report.arguments,
          ...(report.durationMs !== undefined ? { durationMs: report.durationMs } : {}),
          ...(report.file !== undefined ? { file: report.file } : {}),
        },
        createdAt: deps.clock.now(),
      })
      if (report.status === 'started') return
      await log(report.status === 'failed' ? 'warn' : 'info', `tool ${report.tool} ${report.status}`, {
        tool: report.tool,
        toolCallId: report.toolCallId,
        arguments: report.arguments,
        durationMs: report.durationMs,
        ...(report.resultChars !== undefined ? { resultChars: report.resultChars } : {}),
        ...(report.result !== undefined ? { result: report.result } : {}),
        ...(report.file !== undefined ? { file: report.file } : {}),
        ...(report.error ? { error: report.error } : {}),
      })
    }

    // Structured output: the answer must match the bot's schema. A mismatch is told to the model once
    // (one more call, counted like the others); a second mismatch fails the run for good.
    let data: unknown
    if (outputSchema) {
      let parsed = parseStructuredAnswer(outputSchema, result.text)
      if (!parsed.ok) {
        await log('warn', 'answer does not match the output schema; asking once more', {
          problem: parsed.problem,
        })
        const retry = await callModel(
          {
            messages: [
              { role: 'user', content: built.prompt },
              { role: 'assistant', content: result.text },
              {
                role: 'user',
                content: `Your answer does not match the required JSON Schema: ${parsed.problem}. Answer again with only the JSON object, matching the schema.`,
              },
            ],
            outputSchema,
          },
          lastCall + 1,
        )
        tokensIn += retry.tokensIn
        tokensOut += retry.tokensOut
        result = retry
        parsed = parseStructuredAnswer(outputSchema, result.text)
        if (!parsed.ok)
          throw new RunFailure(
            'output_invalid',
            `The model's answer did not match the bot's output schema, twice: ${parsed.problem}. Make the prompt say what to answer, or loosen the schema.`,
            false,
          )
      }
      data = parsed.data
    }

    // "New" means new data when there is a schema, not new wording.
    const outputHash = sha256Hex(outputSchema ? canonicalJson(data) : result.text)
    const isNew = botResultOf(previous?.result ?? null).outputHash !== outputHash
    if (!costKnown)
      await log(
        'warn',
        `no price known for ${target.provider} ${result.model || target.model}: cost not counted`,
      )
    if (bot.daily_budget_usd !== null && costUsd !== null)
      await warnNearBudget(bot, run.id, dayOf(now, bot.timezone), spentToday + costUsd)

    const botResult: BotRunResult = { outputHash, isNew, tokensIn, tokensOut, costUsd }
    return {
      output: outputSchema ? { text: result.text, data } : { text: result.text },
      result: { ...botResult },
    }
  }

  /** At 80 % of the daily budget: one `bot.budget_warning` event per bot and day (the channels deliver it). */
  async function warnNearBudget(bot: BotRow, runId: string, day: string, spent: number): Promise<void> {
    const budget = bot.daily_budget_usd!
    if (spent < budget * budgetWarningShare) return
    await writeTransaction(deps.database, async (trx) => {
      const claimed = await trx
        .updateTable('bots')
        .set({ budget_warned_day: day })
        .where('tenant_id', '=', bot.tenant_id)
        .where('id', '=', bot.id)
        .where((eb) => eb.or([eb('budget_warned_day', 'is', null), eb('budget_warned_day', '!=', day)]))
        .executeTakeFirst()
      if (Number(claimed.numUpdatedRows) === 0) return
      await appendEventsIn(trx, [
        {
          tenantId: bot.tenant_id,
          runId,
          type: 'bot.budget_warning',
          payload: {
            runId,
            tenantId: bot.tenant_id,
            kind: 'bot',
            subjectId: bot.id,
            botId: bot.id,
            botName: bot.name,
            day,
            spentUsd: Math.round(spent * 1e6) / 1e6,
            dailyBudgetUsd: budget,
            share: Math.round((spent / budget) * 100) / 100,
          },
          createdAt: deps.clock.now(),
        },
      ])
    })
  }
}

/** Gathers streamed text and sends it to the live feed every `flushMs`, in events of bounded size. */
function createStreamForwarder(deps: BotExecutorDeps, run: RunContext['run'], flushMs: number) {
  let pending = ''
  let sent = 0
  let timer: NodeJS.Timeout | undefined
  const flush = () => {
    timer = undefined
    while (pending.length > 0) {
      const delta = pending.slice(0, maxDeltaChars)
      pending = pending.slice(delta.length)
      deps.publishLive({
        id: 0,
        tenantId: run.tenantId,
        runId: run.id,
        type: 'run.output',
        payload: {
          runId: run.id,
          tenantId: run.tenantId,
          kind: run.kind,
          subjectId: run.subjectId,
          status: 'running',
          attempt: run.attempt,
          error: null,
          offset: sent,
          delta,
        },
        createdAt: deps.clock.now(),
      })
      sent += delta.length
    }
  }
  return {
    push(text: string) {
      pending += text
      timer ??= setTimeout(flush, flushMs)
    },
    close() {
      clearTimeout(timer)
      flush()
    },
  }
}
