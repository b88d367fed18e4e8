import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import { type Bus, maxNotifyPayload } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { withoutTenantScope } from '../platform/db/tenant-scope.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { toError } from '../platform/errors.ts'
import { FailureStreak } from '../platform/failure-streak.ts'
import { parseJson } from '../platform/json.ts'
import type { Logger } from '../platform/logger.ts'
import { outsideTrace } from '../platform/tracing.ts'
import {
  advanceOutbox,
  consumeOutbox,
  ensureCursor,
  parkNextEvent,
  recordConsumerFailure,
  retryFailed,
  retryRequested,
  takeDeadLetterIn,
} from './outbox.store.ts'
import type { RunEventRow } from './run.table.ts'
import type { RunEvent, RunEventPayload } from './run.types.ts'

/** How long events gather before the relay reads or broadcasts them. */
const coalesceMs = 5
/** A handler slower than this is logged as a defect: handlers only write, in their transaction. */
export const slowHandlerMs = 200
/** How often the cursor rows are made again if missing (someone deleted one by hand). */
const ensureEveryMs = 60_000

const nonAscii = /[\u0080-\uffff]/

/**
 * A durable consumer's handler. It runs inside its cursor's transaction and may only write there:
 * enqueue runs (`runs.enqueueManyIn(trx, …)`), append events (`appendEventsIn(trx, …)`), update its
 * own rows. No I/O (no HTTP, no files, no waiting): on SQLite the transaction holds the write lock,
 * so a slow handler stalls every claim and settlement (one slower than `slowHandlerMs` is logged as a
 * defect). Deliveries are at least once: a batch is handled again if the transaction did not commit.
 */
export type EventHandler = (events: RunEvent[], trx: Kysely<Tables>) => Promise<void> | void

export interface ConsumerOptions {
  /** Failed tries of a batch before its poison event is found and parked (default 5). */
  maxAttempts?: number
}

interface Consumer {
  name: string
  handler: EventHandler
  maxAttempts: number
  /** Failed tries in a row (this process); the database keeps the count for everyone to see. */
  failures: number
  /** No try before this (backoff after a failure). */
  retryAt: number
}

/** The cursor of the broadcast to every process's live feed. */
export const liveCursor = 'live'

/**
 * Moves outbox events to their consumers. Each durable consumer has its own cursor, failure count and
 * parking place for events it cannot handle, so one broken consumer stops neither another nor the
 * live feed; the live feed has a cursor of its own. One process in the cluster at a time holds each
 * cursor (the others get `undefined` and leave it to that one).
 */
export class OutboxRelay {
  private readonly consumers: Consumer[] = []
  private timer: NodeJS.Timeout | undefined
  private busy = false
  private again = false
  private stopped = true
  private live: RunEvent[] = []
  private ready: Promise<void> = Promise.resolve()
  private ensuredAt = 0
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

  /**
   * Registers a durable consumer by name. Its cursor row is made at start if it is missing; a
   * brand-new consumer starts at the current end of the outbox (it is not handed old events).
   *
   * The handler gets each batch with the cursor's transaction and may only write in it: enqueue runs
   * (`runs.enqueueManyIn(trx, …)`), append events (`runs.appendEventsIn(trx, …)`), update its own
   * rows. No I/O: work that needs the network is a run of its own kind, enqueued here. A handler
   * slower than `slowHandlerMs` is logged as a defect. Delivery is at least once (a batch that did not
   * commit comes again). A batch that throws is rolled back and tried again with backoff; the event
   * that still fails alone after `maxAttempts` tries is parked (GET /api/v1/events/dead-letters) and
   * the consumer goes on.
   *
   * @example
   * relay.consume('channels', async (events, trx) => {
   *   const failed = events.filter((event) => event.type === 'run.failed')
   *   await runs.enqueueManyIn(trx, failed.map((event) => ({ tenantId: event.tenantId, kind: 'notify',
   *     trigger: 'channel', idempotencyKey: `notify:${event.id}` })))
   * })
   */
  consume(name: string, handler: EventHandler, options: ConsumerOptions = {}): void {
    if (name === liveCursor || this.consumers.some((c) => c.name === name))
      throw new Error(`An event consumer named "${name}" is already registered`)
    this.consumers.push({ name, handler, maxAttempts: options.maxAttempts ?? 5, failures: 0, retryAt: 0 })
    // Registered while running: its cursor is made before the next pass reads it.
    if (!this.stopped) this.ready = this.ready.then(() => this.ensure([name]))
  }

  /** The names of the durable consumers registered (not the live feed's cursor). */
  consumerNames(): string[] {
    return this.consumers.map((consumer) => consumer.name)
  }

  /** Resolves once the cursors of the consumers registered so far exist. */
  whenReady(): Promise<void> {
    return this.ready
  }

  /**
   * A missing cursor row would leave its consumer silently idle (PostgreSQL cannot tell it from a
   * cursor another process holds): make it, at the end of the outbox. `warn` when it should exist.
   */
  private ensure(names: string[], warn = false): Promise<void> {
    this.ensuredAt = this.deps.clock.now()
    return Promise.all(
      names.map(async (name) => {
        const made = await ensureCursor(this.deps.database, name)
        if (made && warn)
          this.deps.log.warn(
            { consumer: name },
            `the cursor of event consumer "${name}" was missing: made again at the end of the outbox`,
          )
      }),
    ).then(
      () => undefined,
      (error) => this.deps.log.error({ err: toError(error) }, 'could not create the event cursors'),
    )
  }

  /** Starts relaying; resolves once every consumer's cursor exists (a new one starts at the end). */
  start(): Promise<void> {
    this.stopped = false
    this.ready = this.ensure([liveCursor, ...this.consumers.map((c) => c.name)])
    this.timer = setInterval(() => this.kick(), this.deps.intervalMs ?? 500)
    this.kick()
    return this.ready
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
    // Requests kick the relay in their workspace's scope; it reads and delivers every workspace's events.
    withoutTenantScope(() => this.kickHere())
  }

  private kickHere(): void {
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
    await this.ready
    if (this.deps.clock.now() - this.ensuredAt > ensureEveryMs)
      await this.ensure([liveCursor, ...this.consumers.map((c) => c.name)], true)
    // Live events of this process go out first: a claim's `running` never trails its own completion.
    await this.flushLive()
    const batch = this.deps.batch ?? 500
    // The live feed first and on its own: a failing consumer cannot hold it up.
    for (;;) {
      const rows = await advanceOutbox(this.deps.database, liveCursor, batch)
      // undefined: another process holds this cursor right now; it broadcasts these events.
      if (rows === undefined || rows.length === 0) break
      if (this.deps.bus.isHeard('events')) await this.broadcast(rows.map(toRunEvent))
      if (rows.length < batch) break
    }
    for (const consumer of this.consumers) {
      if (this.deps.clock.now() < consumer.retryAt) continue
      try {
        await this.retryParked(consumer)
        await this.feed(consumer, batch)
      } catch (error) {
        this.deps.log.warn({ err: toError(error), consumer: consumer.name }, 'event consumer pass failed')
      }
    }
  }

  /** Hands a consumer its events in batches, each in the cursor's transaction; parks a poison event. */
  private async feed(consumer: Consumer, batch: number): Promise<void> {
    for (;;) {
      // After failures, one event at a time: the batch's poison event is then the one that fails.
      const size = consumer.failures > 0 ? 1 : batch
      let rows: RunEventRow[] | undefined
      try {
        rows = await consumeOutbox(this.deps.database, consumer.name, size, (rows, trx) =>
          this.handle(consumer, rows.map(toRunEvent), trx),
        )
      } catch (error) {
        if (error instanceof HandlerFailure) await this.failed(consumer, error)
        else {
          // The database, not the handler: try again later, without counting it against the events.
          this.deps.log.warn(
            { err: toError(error), consumer: consumer.name },
            'event consumer could not read',
          )
          consumer.retryAt = this.deps.clock.now() + 1000
        }
        return
      }
      if (consumer.failures > 0 && rows !== undefined) await this.succeeded(consumer)
      if (rows === undefined || rows.length < size) return
    }
  }

  private async handle(consumer: Consumer, events: RunEvent[], trx: Kysely<Tables>): Promise<void> {
    const started = performance.now()
    try {
      // Outside whatever span set the relay off: a follow-up joins its own parent run's trace.
      await outsideTrace(() => consumer.handler(events, trx))
    } catch (error) {
      throw new HandlerFailure(error, events)
    } finally {
      // Slow whether it then succeeds or throws: the transaction was held that long either way.
      const ms = Math.round(performance.now() - started)
      if (ms > slowHandlerMs)
        this.deps.log.error(
          { consumer: consumer.name, ms, events: events.length },
          `event consumer "${consumer.name}" took ${ms} ms in its transaction: a defect (handlers must only write, no I/O)`,
        )
    }
  }

  private async failed(consumer: Consumer, failure: HandlerFailure): Promise<void> {
    consumer.failures++
    const message = failure.message
    const { database, log, clock } = this.deps
    // After a batch fails, its events go one at a time; one failing alone `maxAttempts` times in a row
    // (counting the batch) is parked.
    if (failure.eventIds.length === 1 && consumer.failures >= consumer.maxAttempts) {
      const parked = await parkNextEvent(
        database,
        consumer.name,
        failure.eventIds[0]!,
        message,
        consumer.failures,
        clock.now(),
      )
      if (parked) {
        log.error(
          {
            consumer: consumer.name,
            eventId: parked.id,
            runId: parked.run_id,
            type: parked.type,
            err: message,
          },
          `event consumer "${consumer.name}" failed on an event ${consumer.failures} times; it is parked (dead letter, retriable)`,
        )
        this.onParked?.(consumer.name)
      }
      await this.succeeded(consumer)
      return
    }
    await recordConsumerFailure(database, consumer.name, consumer.failures, message).catch(() => {})
    log.warn(
      { consumer: consumer.name, failures: consumer.failures, err: message },
      'event consumer failed; its batch is tried again',
    )
    // Backoff with jitter: 100 ms, 200 ms, … up to 10 s.
    const delay = Math.min(10_000, 100 * 2 ** (consumer.failures - 1))
    consumer.retryAt = clock.now() + delay / 2 + Math.random() * (delay / 2)
    const timer = setTimeout(() => this.kick(), delay)
    timer.unref()
  }

  private async succeeded(consumer: Consumer): Promise<void> {
    consumer.failures = 0
    consumer.retryAt = 0
    await recordConsumerFailure(this.deps.database, consumer.name, 0, null).catch(() => {})
  }

  /** Events a person asked to retry: handled again, each in its own transaction. */
  private async retryParked(consumer: Consumer): Promise<void> {
    const { database, clock } = this.deps
    for (const letter of await retryRequested(database, consumer.name)) {
      const event = toRunEvent({
        id: letter.event_id,
        tenant_id: letter.tenant_id,
        run_id: letter.run_id,
        type: letter.type,
        payload: letter.payload,
        created_at: letter.event_created_at,
      })
      try {
        const handled = await writeTransaction(database, async (trx) => {
          // Taken first: another process retrying the same letter then finds it gone and skips it.
          if (!(await takeDeadLetterIn(trx, letter.id))) return false
          await this.handle(consumer, [event], trx)
          return true
        })
        if (handled)
          this.deps.log.info({ consumer: consumer.name, eventId: event.id }, 'parked event handled on retry')
      } catch (error) {
        await retryFailed(database, letter.id, toError(error).message, clock.now())
      }
    }
  }

  /** Called when an event was parked (metrics). */
  onParked: ((consumer: string) => void) | undefined

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

/** A consumer's handler threw (counted against its events), as opposed to the database failing. */
class HandlerFailure extends Error {
  /** The failed batch's events. */
  readonly eventIds: number[]
  constructor(cause: unknown, events: RunEvent[]) {
    super(toError(cause).message, { cause })
    this.eventIds = events.map((event) => event.id)
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
