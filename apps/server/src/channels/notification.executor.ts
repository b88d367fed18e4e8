import type { EgressPolicy } from '../platform/egress/egress.ts'
import { AppError } from '../platform/errors.ts'
import { secretScrubber } from '../platform/secret-scrubber.ts'
import { withNotificationSpan } from '../platform/tracing.ts'
import type { Executor } from '../runs/executor.ts'
import { RunFailure } from '../runs/run.failure.ts'
import type { RunService } from '../runs/runs.ts'
import { ChannelError, type ChannelMessage, type NotifiedBot, type SummarizeRun } from './channel.types.ts'
import type { Channels } from './channels.service.ts'
import {
  digestMessage,
  messageOfRun,
  messageOfSystemEvent,
  type NotificationInput,
  outputTextOf,
} from './notification-message.ts'
import { digestEvent } from './notify.consumer.ts'

// A notification run: builds the message of the event it reports and sends it through its channel,
// under the run's lease. A transient failure is retried by the kernel (backoff with jitter, the
// channel's Retry-After as a floor), a permanent one fails the run at once and marks the channel.

/** How a delivery attempt ended: sent, nothing to send, or the channel's failure (retried or not). */
export type NotificationOutcome = 'delivered' | 'skipped' | 'transient_error' | 'permanent_error' | 'error'

export function createNotificationExecutor(deps: {
  channels: Channels
  runs: Pick<RunService, 'get'>
  egress: EgressPolicy
  botOf(tenantId: string, botId: string): Promise<NotifiedBot | undefined>
  /** The `summary` format's two sentences by the bot's model; absent: summaries fall back to `short`. */
  summarize?: SummarizeRun | undefined
  /** The dashboard's address for links (`https://orch.example.com`); absent: paths only. */
  publicUrl?: string | undefined
  /**
   * A last look at the message before it is sent (channels/telegram/ adds approval buttons to
   * `approval.requested` messages for Telegram); absent: sent as built.
   */
  decorate?: (
    tenantId: string,
    channel: { id: string; type: string },
    event: string,
    payload: Record<string, unknown>,
    message: ChannelMessage,
  ) => Promise<ChannelMessage>
  /** Told how each delivery attempt ended, by channel type (metrics). */
  onNotified?: (channelType: string, outcome: NotificationOutcome) => void
}): Executor {
  const linkTo = (path: string) => `${deps.publicUrl?.replace(/\/$/, '') ?? ''}${path}`
  return async ({ run, signal, assertLease, log }) => {
    const input = run.input as NotificationInput
    let channel: Awaited<ReturnType<Channels['resolved']>>
    try {
      channel = await deps.channels.resolved(run.tenantId, input.channelId)
    } catch (error) {
      // A channel removed since the event: nothing to deliver to.
      if (error instanceof AppError && error.code === 'channel_not_found') {
        deps.onNotified?.('unknown', 'skipped')
        return { output: { delivered: false, reason: 'channel_gone' } }
      }
      throw error
    }
    let held: Array<{ id: string }> = []
    let message: ChannelMessage
    let summary: Awaited<ReturnType<SummarizeRun>> | undefined
    let summaryError: string | undefined
    if (input.event === digestEvent) {
      const windowEnd = Number(input.payload.windowEnd)
      const rows = await deps.channels.held(run.tenantId, input.channelId, windowEnd)
      if (rows.length === 0) {
        deps.onNotified?.(channel.row.type, 'skipped')
        return { output: { delivered: false, reason: 'nothing_held' } }
      }
      held = rows
      const items = await Promise.all(
        rows.map((row) => messageOf(run.tenantId, row.input as NotificationInput)),
      )
      message = digestMessage(input, items, linkTo('/notifications'))
    } else if (input.format === 'summary' && input.reportedRunId) {
      const reported = await deps.runs.get(run.tenantId, input.reportedRunId)
      const bot = reported.subjectId ? await deps.botOf(run.tenantId, reported.subjectId) : undefined
      const text = outputTextOf(reported)
      // Only a completed run's result is summarised; a failure's message is short already.
      if (reported.status === 'completed' && reported.subjectId && text.trim() !== '') {
        try {
          if (!deps.summarize) throw new Error('this installation writes no summaries')
          summary = await deps.summarize(run.tenantId, reported.subjectId, text, {
            runId: run.id,
            attempt: run.attempt,
            signal,
          })
        } catch (error) {
          if (signal.aborted) throw signal.reason
          // The notification matters more than its wording: it goes out with the first line instead.
          summaryError = secretScrubber.forTenant(run.tenantId)((error as Error).message)
          log.warn({ runId: run.id, reason: summaryError }, 'summary not written: the first line is sent')
        }
      }
      message = messageOfRun(input, reported, bot, linkTo(`/runs/${reported.id}`), summary?.text)
    } else message = await messageOf(run.tenantId, input)
    if (deps.decorate)
      message = await deps.decorate(
        run.tenantId,
        { id: channel.row.id, type: channel.row.type },
        input.event,
        input.payload,
        message,
      )
    // Sending is the side effect: a worker that lost the run must not send it as well.
    await assertLease()
    try {
      await withNotificationSpan(
        { channelType: channel.row.type, channelId: channel.row.id, event: input.event },
        () => channel.adapter.send(message, { config: channel.config, signal, egress: deps.egress }),
      )
    } catch (error) {
      if (signal.aborted) throw signal.reason
      deps.onNotified?.(
        channel.row.type,
        !(error instanceof ChannelError) ? 'error' : error.retryable ? 'transient_error' : 'permanent_error',
      )
      if (!(error instanceof ChannelError)) throw error
      const words = secretScrubber.forTenant(run.tenantId)(error.message)
      if (error.channelBroken) await deps.channels.failed(run.tenantId, input.channelId, words)
      throw new RunFailure(error.code, words, error.retryable, error.retryAfterMs)
    }
    deps.onNotified?.(channel.row.type, 'delivered')
    await deps.channels.delivered(run.tenantId, input.channelId)
    await deps.channels.release(
      run.tenantId,
      held.map((row) => row.id),
    )
    return {
      output: {
        delivered: true,
        channelId: input.channelId,
        event: input.event,
        ...(held.length > 0 ? { items: held.length } : {}),
        ...(summary ? { summary: summary.text } : {}),
        ...(summaryError ? { summaryError } : {}),
      },
      // What the summary cost: shown on the notification run like a bot run's usage.
      ...(summary
        ? { result: { tokensIn: summary.tokensIn, tokensOut: summary.tokensOut, costUsd: summary.costUsd } }
        : {}),
    }
  }

  /** The message of one event: a bot run's outcome (read now), or a system event's words. */
  async function messageOf(tenantId: string, input: NotificationInput): Promise<ChannelMessage> {
    if (input.reportedRunId) {
      const reported = await deps.runs.get(tenantId, input.reportedRunId)
      const bot = reported.subjectId ? await deps.botOf(tenantId, reported.subjectId) : undefined
      return messageOfRun(input, reported, bot, linkTo(`/runs/${reported.id}`))
    }
    const about = typeof input.payload.runId === 'string' ? linkTo(`/runs/${input.payload.runId}`) : null
    return messageOfSystemEvent(input, input.event.startsWith('approval.') ? linkTo('/approvals') : about)
  }
}
