import type { Db } from '../database.ts'
import { type Bus, maxNotifyPayload } from '../platform/bus.ts'
import type { Clock } from '../platform/clock.ts'
import { toError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { parseJson } from '../runs/run.mapper.ts'
import { claimUndispatchedEvents } from '../runs/run.store.ts'
import type { RunEvent, RunEventPayload } from '../runs/run.types.ts'

export type EventHandler = (events: RunEvent[]) => Promise<void> | void

/**
 * Moves outbox events to their consumers. Each event is claimed by exactly one relay in the
 * cluster, handed to the durable handlers, then broadcast to every process (live feed) on the bus.
 */
export class OutboxRelay {
  private readonly handlers: EventHandler[] = []
  private timer: NodeJS.Timeout | undefined
  private busy = false
  private again = false
  private stopped = true

  private readonly deps: { database: Db; bus: Bus; clock: Clock; log: Logger; intervalMs?: number; batch?: number }

  constructor(deps: OutboxRelay['deps']) {
    this.deps = deps
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
    setImmediate(() =>
      void this.drain()
        .catch((error) => this.deps.log.warn({ err: toError(error) }, 'outbox relay failed; will try again'))
        .finally(() => {
          this.busy = false
          if (this.again && !this.stopped) {
            this.again = false
            this.kick()
          }
        }),
    )
  }

  private async drain(): Promise<void> {
    const batch = this.deps.batch ?? 500
    for (;;) {
      const rows = await claimUndispatchedEvents(this.deps.database.db, this.deps.database.dialect, this.deps.clock.now(), batch)
      if (rows.length === 0) return
      const events: RunEvent[] = rows.map((row) => ({
        id: Number(row.id),
        tenantId: row.tenant_id,
        runId: row.run_id,
        type: row.type,
        payload: parseJson(row.payload) as RunEventPayload,
        createdAt: Number(row.created_at),
      }))
      for (const handler of this.handlers) {
        try {
          await handler(events)
        } catch (error) {
          this.deps.log.error({ err: toError(error) }, 'event handler failed')
        }
      }
      await this.broadcast(events)
      if (rows.length < batch) return
    }
  }

  private async broadcast(events: RunEvent[]): Promise<void> {
    let chunk: string[] = []
    let size = 2
    const flush = async () => {
      if (chunk.length === 0) return
      await this.deps.bus.publish('events', `[${chunk.join(',')}]`)
      chunk = []
      size = 2
    }
    for (const event of events) {
      const text = JSON.stringify(event)
      if (text.length + 1 > maxNotifyPayload - 2) continue // an oversized event is still in the table for replay
      if (size + text.length + 1 > maxNotifyPayload) await flush()
      chunk.push(text)
      size += text.length + 1
    }
    await flush()
  }
}
