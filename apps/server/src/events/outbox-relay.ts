import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import { type Bus, maxNotifyPayload } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { toError } from '../platform/errors.ts'
import { FailureStreak } from '../platform/failure-streak.ts'
import type { Logger } from '../platform/logger.ts'
import { parseJson } from '../runs/run.mapper.ts'
import type { RunEventRow } from '../runs/run.table.ts'
import type { RunEvent, RunEventPayload } from '../runs/run.types.ts'
import { advanceOutbox, consumeOutbox } from './outbox.store.ts'

/** Runs inside the relay's transaction; use `trx` for any database work (on SQLite it is the only connection). */
/** How long events gather before the relay reads or broadcasts them. */
const coalesceMs = 5

const nonAscii = /[\u0080-\uffff]/

export type EventHandler = (events: RunEvent[], trx: Kysely<Tables>) => Promise<void> | void

/**
 * Moves outbox events to their consumers. One relay in the cluster at a time reads past the cursor,
 * hands the events to the durable handlers, then broadcasts them to every process (live feed).
 */
export class OutboxRelay {
  private readonly handlers: EventHandler[] = []
  private timer: NodeJS.Timeout | undefined
  private busy = false
  private again = false
  private stopped = true
  private live: RunEvent[] = []
  private liveTimer: NodeJS.Timeout | undefined

  private readonly deps: {
    database: Db
    bus: Bus
    clock: Clock
    log: Logger
    intervalMs?: number
    batch?: number
  }

  private readonly failures: FailureStreak

  constructor(deps: OutboxRelay['deps']) {
    this.deps = deps
    this.failures = new FailureStreak(deps.log, 'outbox relay', deps.clock)
  }

  onEvents(handler: EventHandler): void {
    this.handlers.push(handler)
  }

  start(): void {
    this.stopped = false
    this.timer = setInterval(() => this.kick(), this.deps.intervalMs ?? 500)
    this.kick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.flushLive()
    while (this.busy) await new Promise((resolve) => setTimeout(resolve, 5))
    await this.drain()
  }

  /** New events were committed: relay them soon (coalesced). */
  kick(): void {
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    // A short pause gathers the events of many settlements into one read and one broadcast.
    setTimeout(
      () =>
        void this.drain()
          .then(
            () => this.failures.succeeded(),
            (error) => this.failures.failed(error),
          )
          .finally(() => {
            this.busy = false
            if (this.again && !this.stopped) {
              this.again = false
              this.kick()
            }
          }),
      coalesceMs,
    )
  }

  private async drain(): Promise<void> {
    // Live events of this process go out first: a claim's `running` never trails its own completion.
    await this.flushLive()
    const batch = this.deps.batch ?? 500
    for (;;) {
      const rows =
        this.handlers.length === 0
          ? await advanceOutbox(this.deps.database, 'relay', batch)
          : await consumeOutbox(this.deps.database, 'relay', batch, (rows, trx) =>
              this.handle(rows.map(toRunEvent), trx),
            )
      // undefined: another process holds the relay cursor right now; it will deliver these events.
      if (rows === undefined || rows.length === 0) return
      if (this.deps.bus.isHeard('events')) await this.broadcast(rows.map(toRunEvent))
      if (rows.length < batch) return
    }
  }

  /** Durable handlers run inside the cursor transaction: a failure rolls back and replays the batch. */
  private async handle(events: RunEvent[], trx: Kysely<Tables>): Promise<void> {
    for (const handler of this.handlers) await handler(events, trx)
  }

  /**
   * Live-only events (a claim's `running`), not stored: to every process's live feed, gathered for
   * a few milliseconds so a busy worker sends one message per batch, not one per run.
   */
  publishLive(event: RunEvent): void {
    if (!this.hasAudience()) return
    this.live.push(event)
    if (this.liveTimer) return
    this.liveTimer = setTimeout(() => void this.flushLive(), coalesceMs)
  }

  /** False while no one can hear a broadcast (SQLite with no live feed open): events need not be built. */
  hasAudience(): boolean {
    return this.deps.bus.isHeard('events')
  }

  private async flushLive(): Promise<void> {
    clearTimeout(this.liveTimer)
    this.liveTimer = undefined
    const events = this.live.splice(0)
    if (events.length === 0) return
    await this.broadcast(events).catch((error) =>
      this.deps.log.warn({ err: toError(error) }, 'live event broadcast failed'),
    )
  }

  private async broadcast(events: RunEvent[]): Promise<void> {
    // Up to maxNotifyPayload bytes per message; all messages of one broadcast in one publish.
    const messages: string[] = []
    let chunk: string[] = []
    let size = 2
    for (const event of events) {
      const text = JSON.stringify(event)
      // The limit is in bytes: an error message may not be ASCII (counted only then: most events are).
      const bytes = nonAscii.test(text) ? Buffer.byteLength(text) : text.length
      if (bytes + 1 > maxNotifyPayload - 2) continue // an oversized event is still in the table for replay
      if (size + bytes + 1 > maxNotifyPayload && chunk.length > 0) {
        messages.push(`[${chunk.join(',')}]`)
        chunk = []
        size = 2
      }
      chunk.push(text)
      size += bytes + 1
    }
    if (chunk.length > 0) messages.push(`[${chunk.join(',')}]`)
    if (messages.length > 0) await this.deps.bus.publish('events', ...messages)
  }
}

function toRunEvent(row: RunEventRow): RunEvent {
  return {
    id: Number(row.id),
    tenantId: row.tenant_id,
    runId: row.run_id,
    type: row.type,
    payload: parseJson(row.payload) as RunEventPayload,
    createdAt: Number(row.created_at),
  }
}
