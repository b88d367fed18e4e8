import { pruneAudit } from '../audit/audit.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { toError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { pruneExpired, type RetentionKeeper } from '../runs/retention.ts'

// The system job that keeps the database from growing forever (the scheduler role runs it): finished
// runs with their logs, relayed outbox events and parked ones after OPENORCH_RUN_RETENTION_DAYS, audit entries
// after OPENORCH_AUDIT_RETENTION_DAYS. Every step is idempotent, so every scheduler process may run it.

export interface RetentionResult {
  runs: number
  events: number
  deadLetters: number
  audit: number
}

export class RetentionJob {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined
  private readonly deps: {
    database: Db
    clock: Clock
    log: Logger
    runsMs: number
    auditMs: number
    /** Each domain's runs to keep however old (bots: botRunsToKeep). */
    keepers: readonly RetentionKeeper[]
    intervalMs?: number
  }

  constructor(deps: RetentionJob['deps']) {
    this.deps = deps
  }

  /** First a minute after start, then every `intervalMs` (default one hour). */
  start(): void {
    const schedule = (delay: number) => {
      this.timer = setTimeout(() => {
        this.running = this.runOnce().finally(() => schedule(this.deps.intervalMs ?? 3_600_000))
      }, delay)
      this.timer.unref()
    }
    schedule(60_000)
  }

  async runOnce(): Promise<RetentionResult | undefined> {
    const now = this.deps.clock.now()
    try {
      const { runs, events, deadLetters } = await pruneExpired(
        this.deps.database,
        now - this.deps.runsMs,
        this.deps.keepers,
      )
      let audit = 0
      for (;;) {
        const n = await pruneAudit(this.deps.database, now - this.deps.auditMs, now)
        audit += n
        if (n === 0) break
      }
      if (runs + events + deadLetters + audit > 0)
        this.deps.log.info({ runs, events, deadLetters, audit }, 'old records pruned')
      return { runs, events, deadLetters, audit }
    } catch (error) {
      this.deps.log.warn({ err: toError(error) }, 'pruning old records failed; will try again')
      return undefined
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer)
    await this.running
  }
}
