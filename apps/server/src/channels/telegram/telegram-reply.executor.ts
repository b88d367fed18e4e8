import type { EgressPolicy } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { secretScrubber } from '../../platform/secret-scrubber.ts'
import type { Executor } from '../../runs/executor.ts'
import { RunFailure } from '../../runs/run.failure.ts'
import type { RunService } from '../../runs/runs.ts'
import { callTelegram, telegramAdapter, telegramApiBaseUrl } from '../adapters/telegram.ts'
import { ChannelError, type NotifiedBot } from '../channel.types.ts'
import type { Channels } from '../channels.service.ts'
import { messageOfRun } from '../notification-message.ts'

// An answer of the inbound commands, as a run of kind `telegram_reply`: one Bot API call (a message,
// a callback answer, an edit) or a `/run`'s result. Enqueued in the transaction that records the
// update, keyed by it, so it is sent once; sent under the run's lease with the kernel's retries
// (Telegram's 429 retry_after as the floor). A refusal that will not change fails the run at once.

export const telegramReplyRunKind = 'telegram_reply'

export type TelegramReply =
  | {
      channelId: string
      call: {
        method: 'sendMessage' | 'answerCallbackQuery' | 'editMessageText'
        params: Record<string, unknown>
      }
    }
  | { channelId: string; chatId: string; resultOfRunId: string }

export function createTelegramReplyExecutor(deps: {
  channels: Pick<Channels, 'resolved'>
  runs: Pick<RunService, 'get'>
  egress: EgressPolicy
  botOf(tenantId: string, botId: string): Promise<NotifiedBot | undefined>
  publicUrl?: string | undefined
}): Executor {
  return async ({ run, signal, assertLease }) => {
    const reply = run.input as TelegramReply
    let channel: Awaited<ReturnType<Channels['resolved']>>
    try {
      channel = await deps.channels.resolved(run.tenantId, reply.channelId)
    } catch (error) {
      if (error instanceof AppError && error.code === 'channel_not_found')
        return { output: { sent: false, reason: 'channel_gone' } }
      throw error
    }
    const config = channel.config
    try {
      if ('call' in reply) {
        await assertLease()
        await callTelegram(
          {
            baseUrl: typeof config.apiBaseUrl === 'string' ? config.apiBaseUrl : telegramApiBaseUrl,
            token: String(config.botToken),
            egress: deps.egress,
            signal,
          },
          reply.call.method,
          reply.call.params,
        )
        return { output: { sent: true, method: reply.call.method } }
      }
      const reported = await deps.runs.get(run.tenantId, reply.resultOfRunId)
      const bot = reported.subjectId ? await deps.botOf(run.tenantId, reported.subjectId) : undefined
      const message = messageOfRun(
        {
          eventId: `telegram-result:${reported.id}`,
          event: `run.${reported.status}`,
          channelId: reply.channelId,
          format: 'full',
          reportedRunId: reported.id,
          payload: {},
          createdAt: reported.finishedAt ?? reported.createdAt,
        },
        reported,
        bot,
        `${deps.publicUrl?.replace(/\/$/, '') ?? ''}/runs/${reported.id}`,
      )
      await assertLease()
      // The channel's rendering and splitting, to the chat that asked.
      await telegramAdapter.send(message, {
        config: { ...(config as Parameters<typeof telegramAdapter.send>[1]['config']), chatId: reply.chatId },
        signal,
        egress: deps.egress,
      })
      return { output: { sent: true, resultOf: reported.id } }
    } catch (error) {
      if (signal.aborted) throw signal.reason
      if (!(error instanceof ChannelError)) throw error
      const words = secretScrubber.forTenant(run.tenantId)(error.message)
      throw new RunFailure(error.code, words, error.retryable, error.retryAfterMs)
    }
  }
}
