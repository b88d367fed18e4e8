import type { Clock } from './clock.ts'
import { toError } from './errors.ts'
import type { Logger } from './logger.ts'

/**
 * The log of something retried in a loop (the outbox relay, claims, heartbeats): during a database
 * outage it fails every few hundred milliseconds, and one warning each time buries everything else.
 * So: the first failure of a streak is logged, then at most one line per interval with the count so
 * far, and one line when it works again.
 */
export class FailureStreak {
  private failures = 0
  private loggedAt = 0

  private readonly log: Logger
  /** What is retried, as the start of a sentence: 'outbox relay', 'claim'. */
  private readonly what: string
  private readonly clock: Clock
  private readonly intervalMs: number

  constructor(log: Logger, what: string, clock: Clock, intervalMs = 30_000) {
    this.log = log
    this.what = what
    this.clock = clock
    this.intervalMs = intervalMs
  }

  failed(error: unknown): void {
    this.failures++
    const now = this.clock.now()
    if (this.failures > 1 && now - this.loggedAt < this.intervalMs) return
    this.loggedAt = now
    this.log.warn(
      { err: toError(error), failures: this.failures },
      this.failures === 1
        ? `${this.what} failed; will try again`
        : `${this.what} still failing (${this.failures} times in a row); will try again`,
    )
  }

  succeeded(): void {
    if (this.failures === 0) return
    this.log.info({ failures: this.failures }, `${this.what} works again after ${this.failures} failures`)
    this.failures = 0
  }
}
