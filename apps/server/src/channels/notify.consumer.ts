import { channelEventTypes } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { newId } from '../platform/ids.ts'
import type { RunEvent } from '../runs/run.types.ts'
import type { RunKindView } from '../runs/run-view.ts'
import { type EnqueueRequest, orchestrationPriority, type RunService, runIn } from '../runs/runs.ts'
import type { NotificationInput } from './notification-message.ts'
import { ruleMatches } from './notify-rules.ts'
import { type QuietHours, quietUntil } from './quiet-hours.ts'

// The outbox consumer that turns events into notifications (issue 14, decision 0032). It runs inside
// its cursor's transaction and does no I/O: it only enqueues runs of kind `notification`, one per
// event and channel, idempotent by `notify:<eventId>:<channelId>`, so a replayed batch adds none and
// a crash loses none. The runs deliver under lease with the kernel's retries and dead letters.

export const notificationRunKind = 'notification'

/** A notification run's usage (the `summary` format's model call) in the Run JSON, like a bot run's. */
export const notificationRunView: RunKindView = {
  kind: notificationRunKind,
  resultFields: ['tokensIn', 'tokensOut', 'costUsd'],
}

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
    const candidates: Array<{
      event: RunEvent
      channelId: string
      format: NotificationInput['format']
      type: string
    }> = []
    const request = (event: RunEvent, channelId: string, format: NotificationInput['format'], type: string) =>
      candidates.push({ event, channelId, format, type })
    const deliver = (
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
        priority: orchestrationPriority,
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
    // Quiet hours: what arrives in a channel's quiet window waits for one digest at its end (a run of
    // its own, made once per channel and window), unless it is an urgent system event.
    const quiet = quietLookup(trx)
    for (const { event, channelId, format, type } of candidates) {
      const until = await quiet.heldUntil(event.tenantId, channelId, type, event.createdAt)
      if (until === undefined) {
        deliver(event, channelId, format, type)
        continue
      }
      const input: NotificationInput = {
        eventId: String(event.id),
        event: type,
        channelId,
        format,
        reportedRunId: runOutcomes.has(type) ? event.runId : null,
        payload: event.payload as unknown as Record<string, unknown>,
        createdAt: event.createdAt,
      }
      await trx
        .insertInto('held_notifications')
        .values({
          id: newId(),
          tenant_id: event.tenantId,
          channel_id: channelId,
          window_end: until,
          input: JSON.stringify(input),
          created_at: event.createdAt,
        })
        .execute()
      const digest: NotificationInput = {
        eventId: `digest:${channelId}:${until}`,
        event: digestEvent,
        channelId,
        format: 'short',
        reportedRunId: null,
        payload: { windowEnd: until },
        createdAt: until,
      }
      requests.push({
        tenantId: event.tenantId,
        kind: notificationRunKind,
        trigger: 'event',
        priority: orchestrationPriority,
        subjectId: channelId,
        input: digest,
        runAt: until,
        idempotencyKey: digest.eventId,
        maxRetries: notificationRetries,
        retryBaseMs: deps.retryBaseMs ?? 2000,
        timeoutMs: 60_000,
        concurrencyKey: `channel:${channelId}`,
      })
    }
    if (requests.length > 0) await deps.runs.enqueueManyIn(trx, requests)
  }
}

/** The event of a digest's notification run. */
export const digestEvent = 'digest'

/** Quiet hours as this batch needs them, each workspace's and channel's read once. */
function quietLookup(trx: Kysely<Tables>) {
  const workspaces = new Map<string, { hours: QuietHours | null; urgent: string[] }>()
  const channels = new Map<string, QuietHours | null>()
  return {
    async heldUntil(
      tenantId: string,
      channelId: string,
      type: string,
      at: number,
    ): Promise<number | undefined> {
      let workspace = workspaces.get(tenantId)
      if (!workspace) {
        const row = await trx
          .selectFrom('notification_settings')
          .select(['quiet_hours', 'urgent_events'])
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst()
        workspace = {
          hours: row?.quiet_hours ? (JSON.parse(row.quiet_hours) as QuietHours) : null,
          urgent: row ? (JSON.parse(row.urgent_events) as string[]) : [],
        }
        workspaces.set(tenantId, workspace)
      }
      if (workspace.urgent.includes(type)) return undefined
      if (!channels.has(channelId)) {
        const row = await trx
          .selectFrom('channels')
          .select('quiet_hours')
          .where('tenant_id', '=', tenantId)
          .where('id', '=', channelId)
          .executeTakeFirst()
        channels.set(channelId, row?.quiet_hours ? (JSON.parse(row.quiet_hours) as QuietHours) : null)
      }
      const hours = channels.get(channelId) ?? workspace.hours
      return hours ? quietUntil(hours, at) : undefined
    },
  }
}
