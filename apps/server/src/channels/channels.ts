// The channels domain's public surface (issue 14, decision 0032): channels and their adapters, the
// bots' rules, and delivery as runs of kind `notification` fed by the outbox.

import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { Vault } from '../platform/crypto.ts'
import type { EgressPolicy } from '../platform/egress/egress.ts'
import type { RunKernel } from '../runs/kernel.ts'
import type { ChannelAdapter, NotifiedBot, SummarizeRun } from './channel.types.ts'
import { createChannelService } from './channels.service.ts'
import { createNotificationExecutor, type NotificationOutcome } from './notification.executor.ts'
import { createNotifyConsumer, notificationRunKind, notificationRunView } from './notify.consumer.ts'
import { createTelegram, type TelegramInboundOptions } from './telegram/telegram.ts'

export { channelRoutes } from './channel.routes.ts'
export {
  type ChannelAdapter,
  ChannelError,
  type ChannelMessage,
  type NotificationData,
} from './channel.types.ts'
export type { Channels } from './channels.service.ts'
export { notificationRunKind } from './notify.consumer.ts'
export {
  type TelegramInboundPeople,
  telegramReplyRunKind,
  telegramRoutes,
  telegramWebhookRoutes,
} from './telegram/telegram.ts'

export type ChannelsDomain = ReturnType<typeof createChannels>

export function createChannels(deps: {
  database: Db
  clock: Clock
  vault: Vault
  kernel: Pick<RunKernel, 'runs' | 'executors' | 'relay' | 'views'>
  /** What channels may reach (webhooks, Slack, Discord, a self-hosted Telegram API): the tools' rules. */
  egress: EgressPolicy
  adapters: readonly ChannelAdapter[]
  /** A bot of the workspace by id (the bots domain answers; channels do not read its tables). */
  botOf(tenantId: string, botId: string): Promise<NotifiedBot | undefined>
  /** The `summary` format's two sentences by the bot's model (the bots domain); absent: `short` instead. */
  summarize?: SummarizeRun | undefined
  publicUrl?: string | undefined
  /** The first delivery retry's delay (default 2 s). */
  retryBaseMs?: number
  /** Telegram's inbound commands, linking and approval buttons (channels/telegram/); absent: none. */
  telegram?: TelegramInboundOptions
  /** Told how each delivery attempt ended, by channel type (metrics). */
  onNotified?: (channelType: string, outcome: NotificationOutcome) => void
}) {
  const service = createChannelService(deps)
  const telegram = deps.telegram
    ? createTelegram({ ...deps, ...deps.telegram, channels: service, retryBaseMs: deps.retryBaseMs })
    : undefined
  deps.kernel.executors.register(
    notificationRunKind,
    createNotificationExecutor({
      channels: service,
      runs: deps.kernel.runs,
      egress: deps.egress,
      botOf: deps.botOf,
      summarize: deps.summarize,
      publicUrl: deps.publicUrl,
      // Approval requests to Telegram get Approve / Reject buttons.
      ...(telegram ? { decorate: telegram.service.decorateNotification } : {}),
      ...(deps.onNotified ? { onNotified: deps.onNotified } : {}),
    }),
  )
  // A notification's summary shows what it cost, like a bot run's usage.
  deps.kernel.views.push(notificationRunView)
  deps.kernel.relay.consume(
    'channels',
    createNotifyConsumer({
      runs: deps.kernel.runs,
      clock: deps.clock,
      ...(deps.retryBaseMs !== undefined ? { retryBaseMs: deps.retryBaseMs } : {}),
    }),
  )
  return { service, egress: deps.egress, telegram }
}
