import type { ChannelAdapter } from '../channel.types.ts'
import { amqpAdapter } from './amqp.ts'
import { discordAdapter } from './discord.ts'
import { emailAdapter } from './email.ts'
import { natsAdapter } from './nats.ts'
import { slackAdapter } from './slack.ts'
import { telegramAdapter } from './telegram.ts'
import { webhookAdapter } from './webhook.ts'

// The channel types of this installation, one adapter file each (issue 14). Each is typed by its own
// config; the domain hands it only a config its own schema parsed, hence the widening below.
export const builtInChannelAdapters: readonly ChannelAdapter[] = [
  telegramAdapter,
  emailAdapter,
  webhookAdapter,
  slackAdapter,
  discordAdapter,
  amqpAdapter,
  natsAdapter,
] as unknown as readonly ChannelAdapter[]
