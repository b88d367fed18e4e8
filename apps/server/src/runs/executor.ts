import type { Logger } from '../platform/logger.ts'
import type { CompletionResult } from './queue.ts'
import type { ClaimedRun } from './run.types.ts'

/** What an executor sees: its run, an abort signal (timeout, cancel, lost lease, shutdown) and its lease. */
export interface RunContext {
  run: ClaimedRun
  signal: AbortSignal
  log: Logger
  /**
   * Presents the fencing token before a side effect: resolves if this worker still holds the lease,
   * throws LeaseLostError otherwise (another worker owns the run now).
   */
  assertLease(): Promise<void>
}

export type ExecutorResult =
  | { output?: unknown; result?: CompletionResult }
  /**
   * Park the run in `waiting` (holds no worker slot) until it is resumed: by id, by `correlationKey`
   * (the current parking's name, so a stale resume cannot wake a later parking), or, with
   * `wait: waitForChildren`, when every run whose parentRunId is this run has finished. Past `until`
   * (epoch ms) it times out (`wait_timeout`).
   */
  | { wait: string; until?: number | null; correlationKey?: string | null }

/** The wait reason of a parent that waits until all its children have finished. */
export const waitForChildren = 'children'

export type Executor = (context: RunContext) => Promise<ExecutorResult>

/** Executors register per run kind; the kernel knows nothing of bots, pipelines or agents. */
export class ExecutorRegistry {
  private readonly executors = new Map<string, Executor>()
  private sortedKinds: readonly string[] | undefined

  register(kind: string, executor: Executor): this {
    if (this.executors.has(kind)) throw new Error(`An executor for run kind "${kind}" is already registered`)
    this.executors.set(kind, executor)
    this.sortedKinds = undefined
    return this
  }

  get(kind: string): Executor | undefined {
    return this.executors.get(kind)
  }

  /** The kinds this process can run: a worker claims only these. */
  kinds(): readonly string[] {
    this.sortedKinds ??= [...this.executors.keys()].sort()
    return this.sortedKinds
  }
}

export class LeaseLostError extends Error {
  constructor(runId: string) {
    super(`Run ${runId}: this worker's lease was taken over (fencing token refused).`)
    this.name = 'LeaseLostError'
  }
}

/** Why a run's signal was aborted. */
export type AbortCause = 'timeout' | 'cancelled' | 'lease_lost' | 'shutdown'

export class RunAbort extends Error {
  readonly reason: AbortCause
  constructor(reason: AbortCause) {
    super(`Run aborted: ${reason}`)
    this.name = 'RunAbort'
    this.reason = reason
  }
}
