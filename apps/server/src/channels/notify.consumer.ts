import { channelEventTypes } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { RunEvent } from '../runs/run.types.ts'
import { type EnqueueRequest, type RunService, runIn } from '../runs/runs.ts'
import type { NotificationInput } from './notification-message.ts'
import { ruleMatches } from './notify-rules.ts'

// The outbox consumer that turns events into notifications (issue 14, decision 0032). It runs inside
// its cursor's transaction and does no I/O: it only enqueues runs of kind `notification`, one per
// event and channel, idempotent by `notify:<eventId>:<channelId>`, so a replayed batch adds none and
// a crash loses none. The runs deliver under lease with the kernel's retries and dead letters.

export const notificationRunKind = 'notification'

const runOutcomes = new Set(['run.completed', 'run.failed', 'run.timeout'])
const systemEvents = new Set<string>(channelEventTypes)

/** Delivery attempts of a notification: the first and this many retries, backing off from 2 s. */
export const notificationRetries = 8

export function createNotifyConsumer(deps: {
  runs: Pick<RunService, 'enqueueManyIn'>
  clock: Clock
  /** The first retry's delay (default 2 s; it doubles, with jitter). */
  retryBaseMs?: number
}) {
  return async function notify(events: RunEvent[], trx: Kysely<Tables>): Promise<void> {
    const requests: EnqueueRequest[] = []
    const request = (
      event: RunEvent,
      channelId: string,
      format: NotificationInput['format'],
      type: string,
    ) => {
      const input: NotificationInput = {
        eventId: String(event.id),
        event: type,
        channelId,
        format,
        reportedRunId: runOutcomes.has(type) ? event.runId : null,
        payload: event.payload as unknown as Record<string, unknown>,
        createdAt: event.createdAt,
      }
      requests.push({
        tenantId: event.tenantId,
        kind: notificationRunKind,
        trigger: 'event',
        subjectId: channelId,
        parentRunId: event.runId,
        input,
        idempotencyKey: `notify:${event.id}:${channelId}`,
        maxRetries: notificationRetries,
        retryBaseMs: deps.retryBaseMs ?? 2000,
        timeoutMs: 60_000,
        // One delivery at a time per channel: a backlog drains in order.
        concurrencyKey: `channel:${channelId}`,
      })
    }

    for (const event of events) {
      const payload = event.payload as unknown as Record<string, unknown>
      // Deliveries report nothing about themselves (a failing channel must not notify about itself).
      if (payload.kind === notificationRunKind) continue
      let systemType = systemEvents.has(event.type) ? event.type : undefined
      if (runOutcomes.has(event.type)) {
        const run = await runIn(trx, event.tenantId, event.runId)
        if (!run) continue
        if (event.type === 'run.failed' && run.deadLettered) systemType = 'run.dead_lettered'
        if (run.kind === 'bot' && run.subjectId) {
          const links = await trx
            .selectFrom('bot_channels')
            .select(['channel_id', 'rule', 'format'])
            .where('tenant_id', '=', event.tenantId)
            .where('bot_id', '=', run.subjectId)
            .execute()
          const result = (run.result ?? {}) as { isNew?: unknown }
          for (const link of links) {
            const outcome = {
              status: run.status,
              isNew: typeof result.isNew === 'boolean' ? result.isNew : null,
              output: run.output,
            }
            if (ruleMatches(link.rule as never, outcome))
              request(event, link.channel_id, link.format as NotificationInput['format'], event.type)
          }
        }
      }
      if (systemType) {
        const subscribed = await trx
          .selectFrom('channels')
          .select('id')
          .where('tenant_id', '=', event.tenantId)
          .where('event_types', 'like', `%"${systemType}"%`)
          .execute()
        for (const channel of subscribed) request(event, channel.id, 'short', systemType)
      }
    }
    if (requests.length > 0) await deps.runs.enqueueManyIn(trx, requests)
  }
}
