import { Counter, Gauge, Histogram } from 'prom-client'
import type { Metrics } from '../platform/metrics.ts'
import { pricedModelOf } from '../providers/prices.ts'
import { providerNames } from '../providers/provider.types.ts'

// What a process counts where things happen (decision 0035): runs claimed and settled, how long they
// waited, schedule lag, model calls, tool calls, egress refusals, notifications, budget use. Every label
// set is bounded: run kinds, outcomes, providers, the price table's models (any other is `other`),
// built-in tool names, channel types, address ranges. Never an id, never a tenant, never a value a
// workspace chose (a bot's model name, an MCP tool): that would let one workspace grow /metrics
// without limit and show its strings to everyone who can scrape. Counters are per process;
// Prometheus sums them.
// What the database knows better (queue depth, approvals waiting) is read on scrape, in app.ts.

/** A claimed run as the metrics see it (a `runs` row's columns). */
export interface ClaimedRunFacts {
  kind: string
  trigger: string
  attempt: number
  /** When the run became due (epoch ms). */
  runAt: number
  /** The schedule slot a scheduled run fired for (epoch ms), when it is one. */
  slot: number | undefined
}

/** How a run settled, as the metrics see it. */
export interface SettledRunFacts {
  kind: string
  outcome: string
  durationMs: number | undefined
  deadLetter: boolean
  errorCode: string | undefined
}

/** A run a worker of this process took back after its lease expired (its process died or froze). */
export interface RescuedRunFacts {
  kind: string
  /** No attempts were left: it failed `lease_expired` and is listed as a dead letter. */
  deadLettered: boolean
}

/** One call of a language model. `model` is the bot's model, any string: labelled through `modelLabelOf`. */
export interface ModelCallFacts {
  provider: string
  model: string
  /** `ok`, a provider error code (`provider_rate_limited`, …), `aborted` or `error`. */
  outcome: string
  durationMs: number
  tokensIn: number
  tokensOut: number
  /** USD; null when the model has no known price. */
  costUsd: number | null
}

/** One tool call that ended. */
export interface ToolCallFacts {
  tool: string
  /** The tool set the function came from (`web`, `mcp:<server>`); undefined: the model named no such tool. */
  toolSet: string | undefined
  outcome: 'completed' | 'failed' | 'rejected' | 'invalid'
  durationMs: number | undefined
}

/** One notification delivery attempt. */
export interface NotificationFacts {
  channelType: string
  /** `error`: an unexpected failure, not the channel's (the run log says what). */
  outcome: 'delivered' | 'skipped' | 'transient_error' | 'permanent_error' | 'error'
}

export type OperationsMetrics = ReturnType<typeof createOperationsMetrics>

/**
 * The `model` label of a call: the price table's name for it (a dated snapshot or `-latest` alias is
 * its base model), else `other`. A model name is a workspace's free text, so only names this code
 * lists become label values (decision 0035). Ollama's models are local, unlisted names: all `other`.
 */
export function modelLabelOf(provider: string, model: string): string {
  return pricedModelOf(provider, model) ?? 'other'
}

const knownProviders: ReadonlySet<string> = new Set(providerNames)

export function createOperationsMetrics(metrics: Metrics, options: { now?: () => number } = {}) {
  const registers = [metrics.registry]
  const now = options.now ?? Date.now

  const claimed = new Counter({
    name: 'openorch_runs_claimed_total',
    help: 'Runs a worker of this process claimed (started an attempt of), by kind.',
    labelNames: ['kind'] as const,
    registers,
  })
  const claimLatency = new Histogram({
    name: 'openorch_run_claim_latency_seconds',
    help: 'Time from a run being due to a worker of this process claiming it, by kind.',
    labelNames: ['kind'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  })
  const scheduleLag = new Histogram({
    name: 'openorch_schedule_lag_seconds',
    help: "Time from a schedule's slot to its run's first start, by kind (includes the schedule's jitter).",
    labelNames: ['kind'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers,
  })
  // Names and labels of these four predate this module (main.ts, decision 0024): kept as they were.
  const settled = new Counter({
    name: 'openorch_runs_settled_total',
    help: 'Runs a worker of this process finished, by kind and outcome (completed, failed, retry, timeout, waiting, released).',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  })
  const runDuration = new Histogram({
    name: 'openorch_run_duration_seconds',
    help: 'Execution time of runs finished by this process, by kind.',
    labelNames: ['kind'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300],
    registers,
  })
  const dropped = new Counter({
    name: 'openorch_runs_dropped_total',
    help: 'Scheduled runs dropped by backpressure, by kind.',
    labelNames: ['kind'] as const,
    registers,
  })
  const parked = new Counter({
    name: 'openorch_events_parked_total',
    help: 'Events a durable consumer failed on again and again and parked (dead letters), by consumer.',
    labelNames: ['consumer'] as const,
    registers,
  })
  const deadLettered = new Counter({
    name: 'openorch_runs_dead_lettered_total',
    help: 'Runs this process failed for good (retries exhausted, not retryable, or a lease expired on the last attempt) and listed as dead letters, by kind.',
    labelNames: ['kind'] as const,
    registers,
  })
  const budgetRefusals = new Counter({
    name: 'openorch_budget_refusals_total',
    help: 'Runs this process stopped because a bot or workspace budget was spent (budget_exceeded), by kind.',
    labelNames: ['kind'] as const,
    registers,
  })
  const llmCalls = new Counter({
    name: 'openorch_llm_calls_total',
    help: 'Language model calls, by provider, model (as the price table names it; "other" for a model it does not list) and outcome (ok or the provider error code).',
    labelNames: ['provider', 'model', 'outcome'] as const,
    registers,
  })
  const llmDuration = new Histogram({
    name: 'openorch_llm_call_duration_seconds',
    help: 'Duration of language model calls (whole answer, streamed), by provider and model (as in openorch_llm_calls_total).',
    labelNames: ['provider', 'model'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
    registers,
  })
  const llmTokens = new Counter({
    name: 'openorch_llm_tokens_total',
    help: 'Tokens the providers reported, by provider, model (as in openorch_llm_calls_total) and type (input, output).',
    labelNames: ['provider', 'model', 'type'] as const,
    registers,
  })
  const llmCost = new Counter({
    name: 'openorch_llm_cost_usd_total',
    help: 'Estimated cost of language model calls in US dollars (price table), by provider and model (as in openorch_llm_calls_total); calls of models without a price add nothing.',
    labelNames: ['provider', 'model'] as const,
    registers,
  })
  const toolCalls = new Counter({
    name: 'openorch_tool_calls_total',
    help: 'Tool calls that ended, by tool (built-in name; "mcp" for any MCP server tool; "unknown" for a name the model made up) and outcome.',
    labelNames: ['tool', 'outcome'] as const,
    registers,
  })
  const toolDuration = new Histogram({
    name: 'openorch_tool_call_duration_seconds',
    help: 'Duration of tool calls that ran, by tool (as in openorch_tool_calls_total).',
    labelNames: ['tool'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  })
  const egressRefusals = new Counter({
    name: 'openorch_egress_refusals_total',
    help: 'Connections the egress guard refused, by guard (providers, tools) and address range (loopback, private, …).',
    labelNames: ['guard', 'range'] as const,
    registers,
  })
  const notifications = new Counter({
    name: 'openorch_notifications_total',
    help: 'Notification delivery attempts, by channel type and outcome (delivered, skipped, transient_error, permanent_error, error).',
    labelNames: ['channel_type', 'outcome'] as const,
    registers,
  })

  // The highest share of its daily budget any workspace has used today (UTC), as this process's runs
  // saw it when they checked the budget and after each model call. Workspaces are keys here, never labels.
  const budgetShares = new Map<string, { day: number; share: number }>()
  const dayOf = (at: number) => Math.floor(at / 86_400_000)
  new Gauge({
    name: 'openorch_budget_used_ratio',
    help: 'Highest share (0..1+) of its daily budget any workspace with one has used today (UTC), as last seen by runs of this process; 0 when none was seen today.',
    registers,
    collect() {
      const today = dayOf(now())
      let highest = 0
      for (const [tenant, seen] of budgetShares) {
        if (seen.day !== today) budgetShares.delete(tenant)
        else highest = Math.max(highest, seen.share)
      }
      this.set(highest)
    },
  })

  return {
    runClaimed(run: ClaimedRunFacts, at: number): void {
      claimed.inc({ kind: run.kind })
      claimLatency.observe({ kind: run.kind }, Math.max(0, at - run.runAt) / 1000)
      // A retry or a resumed run starts again later by design: only the first start measures the lag.
      if (run.trigger === 'schedule' && run.attempt === 1 && run.slot !== undefined)
        scheduleLag.observe({ kind: run.kind }, Math.max(0, at - run.slot) / 1000)
    },
    runSettled(run: SettledRunFacts): void {
      settled.inc({ kind: run.kind, outcome: run.outcome })
      if (run.durationMs !== undefined) runDuration.observe({ kind: run.kind }, run.durationMs / 1000)
      if (run.deadLetter) deadLettered.inc({ kind: run.kind })
      if (run.errorCode === 'budget_exceeded') budgetRefusals.inc({ kind: run.kind })
    },
    /** A lease-expiry rescue that dead-letters a run is counted by the process whose worker rescued it. */
    runRescued(run: RescuedRunFacts): void {
      if (run.deadLettered) deadLettered.inc({ kind: run.kind })
    },
    runDropped(kind: string): void {
      dropped.inc({ kind })
    },
    eventParked(consumer: string): void {
      parked.inc({ consumer })
    },
    modelCalled(call: ModelCallFacts): void {
      const labels = {
        provider: knownProviders.has(call.provider) ? call.provider : 'other',
        model: modelLabelOf(call.provider, call.model),
      }
      llmCalls.inc({ ...labels, outcome: call.outcome })
      llmDuration.observe(labels, call.durationMs / 1000)
      if (call.tokensIn > 0) llmTokens.inc({ ...labels, type: 'input' }, call.tokensIn)
      if (call.tokensOut > 0) llmTokens.inc({ ...labels, type: 'output' }, call.tokensOut)
      if (call.costUsd !== null && call.costUsd > 0) llmCost.inc(labels, call.costUsd)
    },
    toolCalled(call: ToolCallFacts): void {
      // MCP servers are a workspace's own, their tools too: one label for all of them.
      const tool =
        call.toolSet === undefined ? 'unknown' : call.toolSet.startsWith('mcp:') ? 'mcp' : call.tool
      toolCalls.inc({ tool, outcome: call.outcome })
      if (call.durationMs !== undefined && call.outcome !== 'rejected' && call.outcome !== 'invalid')
        toolDuration.observe({ tool }, call.durationMs / 1000)
    },
    egressRefused(guard: 'providers' | 'tools', range: string): void {
      egressRefusals.inc({ guard, range })
    },
    notified(facts: NotificationFacts): void {
      notifications.inc({ channel_type: facts.channelType, outcome: facts.outcome })
    },
    /** A workspace has used `share` of its daily budget (UTC day of `at`). */
    budgetUsed(tenantId: string, share: number, at: number): void {
      const day = dayOf(at)
      const seen = budgetShares.get(tenantId)
      if (!seen || seen.day !== day || share > seen.share) budgetShares.set(tenantId, { day, share })
    },
  }
}
