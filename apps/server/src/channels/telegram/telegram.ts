import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import type { Vault } from '../../platform/crypto.ts'
import type { EgressPolicy } from '../../platform/egress/egress.ts'
import type { Logger } from '../../platform/logger.ts'
import type { RunKernel } from '../../runs/kernel.ts'
import type { NotifiedBot } from '../channel.types.ts'
import type { Channels } from '../channels.service.ts'
import { TelegramPoller, type TelegramPollerOptions } from './telegram.poller.ts'
import { createTelegramInbound, type TelegramInboundPeople } from './telegram-inbound.ts'
import { createTelegramReplyExecutor, telegramReplyRunKind } from './telegram-reply.executor.ts'

// Telegram inbound wired onto the kernel: the service (linking, commands, approval buttons), its
// answers as runs of kind `telegram_reply`, the outbox consumer that sends a `/run`'s result, and the
// poller (started by the composition root in processes that may poll).

export { telegramRoutes, telegramWebhookRoutes } from './telegram.routes.ts'
export type { TelegramInboundPeople } from './telegram-inbound.ts'
export { telegramReplyRunKind } from './telegram-reply.executor.ts'

/** What the composition root gives the Telegram inbound part besides what channels have anyway. */
export interface TelegramInboundOptions {
  log: Logger
  people: TelegramInboundPeople
  /** The poller's lease, scan interval and long-poll timeout (defaults: 90 s, 15 s, 25 s). */
  polling?: Pick<TelegramPollerOptions, 'leaseMs' | 'scanIntervalMs' | 'longPollSeconds'>
}

export type TelegramDomain = ReturnType<typeof createTelegram>

export function createTelegram(
  deps: TelegramInboundOptions & {
    database: Db
    clock: Clock
    vault: Pick<Vault, 'deriveKey'>
    kernel: Pick<RunKernel, 'runs' | 'executors' | 'relay'>
    egress: EgressPolicy
    channels: Channels
    botOf(tenantId: string, botId: string): Promise<NotifiedBot | undefined>
    publicUrl?: string | undefined
    retryBaseMs?: number | undefined
  },
) {
  const service = createTelegramInbound({
    database: deps.database,
    clock: deps.clock,
    vault: deps.vault,
    log: deps.log,
    channels: deps.channels,
    runs: deps.kernel.runs,
    egress: deps.egress,
    people: deps.people,
    publicUrl: deps.publicUrl,
    ...(deps.retryBaseMs !== undefined ? { retryBaseMs: deps.retryBaseMs } : {}),
  })
  deps.kernel.executors.register(
    telegramReplyRunKind,
    createTelegramReplyExecutor({
      channels: deps.channels,
      runs: deps.kernel.runs,
      egress: deps.egress,
      botOf: deps.botOf,
      publicUrl: deps.publicUrl,
    }),
  )
  deps.kernel.relay.consume('telegram', (events, trx) => service.onEvents(events, trx))
  const poller = new TelegramPoller({
    database: deps.database,
    clock: deps.clock,
    log: deps.log,
    inbound: service,
    ...deps.polling,
  })
  return { service, poller }
}
