// The run: everything that executes is one row of the runs table (docs/decisions/0002-run-kernel.md).

// Status and trigger names are part of the public contract; they live in @openorch/contracts.
import type { RunStatus, RunTrigger } from '@openorch/contracts'

export { type RunStatus, type RunTrigger, runStatuses, runTriggers } from '@openorch/contracts'

/** A failure as data: what went wrong and whether trying again can help. */
export interface RunError {
  code: string
  message: string
  retryable: boolean
  retryAfterMs?: number
}

export interface Run {
  id: string
  tenantId: string
  kind: string
  /** What the run is about in its kind's domain (a bot's id for `bot` runs); the kernel never reads it. */
  subjectId: string | null
  parentRunId: string | null
  status: RunStatus
  trigger: RunTrigger
  input: unknown
  output: unknown
  /** The domain's result of a completed run (JSON); the kernel never reads it. */
  result: unknown
  priority: number
  attempt: number
  maxAttempts: number
  durationMs: number | null
  error: RunError | null
  waitReason: string | null
  /** The key a waiting run can be resumed by (its current parking). */
  correlationKey: string | null
  /** When a waiting run times out (epoch ms), if it has a deadline. */
  waitUntil: number | null
  concurrencyKey: string | null
  deadLettered: boolean
  /** The trace the run belongs to (null while tracing is off or unknown). */
  traceId: string | null
  /** The run span's W3C traceparent: each attempt's span is its child. */
  traceParent: string | null
  runAt: number
  createdAt: number
  startedAt: number | null
  finishedAt: number | null
}

/** A run held by a worker; `leaseToken` is the fencing token every heartbeat and completion presents. */
export interface ClaimedRun extends Run {
  leaseToken: number
  timeoutMs: number | null
  retryBaseMs: number
}

export interface EnqueueRequest {
  tenantId: string
  kind: string
  trigger: RunTrigger
  input?: unknown
  /** What the run is about in its kind's domain (a bot's id for `bot` runs); the kernel never reads it. */
  subjectId?: string | null
  parentRunId?: string | null
  priority?: number
  /** Epoch ms; default now. */
  runAt?: number
  /** Retries allowed after the first attempt (default 0). */
  maxRetries?: number
  /** First retry delay; doubles per attempt, with full jitter (default 1000). */
  retryBaseMs?: number
  timeoutMs?: number | null
  concurrencyKey?: string | null
  /** Parallel running runs allowed per concurrency key (default 1). */
  concurrencyLimit?: number
  idempotencyKey?: string | null
}

export type EnqueueResult =
  | { status: 'created'; run: Run }
  | { status: 'existing'; run: Run }
  | { status: 'dropped'; reason: string; pending: number }

/**
 * The event a run state change writes to the outbox, and the live feed carries.
 * `id` 0 marks a live-only event (a claim's `run.running`), which is not stored and cannot be replayed.
 */
export interface RunEvent {
  id: number
  tenantId: string
  runId: string
  type: string
  payload: RunEventPayload
  createdAt: number
}

export interface RunEventPayload {
  runId: string
  tenantId: string
  kind: string
  subjectId: string | null
  /** On state changes (not on live-only `run.output`). */
  parentRunId?: string | null
  status: RunStatus
  attempt: number
  error: { code: string; message: string } | null
  [extra: string]: unknown
}

/**
 * The priority of runs that orchestrate or deliver rather than think (a pipeline's decider, a
 * notification, a Telegram reply): cheap, they go ahead of bot runs, and the `degraded` operating
 * mode (whose level is at most this) keeps them going. Bots' own priorities range -100..100.
 */
export const orchestrationPriority = 100
