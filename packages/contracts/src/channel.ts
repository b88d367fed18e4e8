import { z } from 'zod'
import { pageQuerySchema, pageSchemaOf } from './pagination.ts'

// Channels (issue 14): where a workspace's notifications go, which bots notify where, and what was
// delivered. A notification is a run of kind `notification`; its history comes from the runs.

export const channelTypes = [
  'telegram',
  'email',
  'webhook',
  'slack',
  'discord',
  'push',
  'amqp',
  'nats',
] as const
export const channelRules = ['always', 'on_new', 'on_results', 'on_error', 'never'] as const
export const channelFormats = ['short', 'full', 'summary'] as const
/** System events a channel may subscribe to for the whole workspace. */
export const channelEventTypes = [
  'bot.paused',
  'bot.budget_warning',
  'run.dead_lettered',
  'approval.requested',
  'approval.decided',
] as const

const channelName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .describe('A name people recognise, unique in the workspace (“Team chat”, “My inbox”).')

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time like 23:00')

export const quietHoursSchema = z
  .strictObject({
    start: clockTime.describe('Local time the quiet window starts, e.g. `23:00`.'),
    end: clockTime.describe('Local time it ends, e.g. `07:00` (the next morning when earlier than start).'),
    timezone: z.string().min(1).max(64).describe('An IANA time zone, e.g. `Europe/Berlin`.'),
  })
  .meta({
    id: 'QuietHours',
    description: 'A daily window when notifications are held; one digest is sent when it ends.',
  })

export type QuietHours = z.infer<typeof quietHoursSchema>

export const channelSchema = z
  .object({
    id: z.string(),
    type: z.string().describe(`The channel type: ${channelTypes.join(', ')}.`),
    name: z.string(),
    config: z
      .record(z.string(), z.unknown())
      .describe('The settings without their secrets (tokens, passwords, URLs with keys are never returned).'),
    secretHints: z
      .record(z.string(), z.string())
      .describe('Each stored secret, masked (`botToken: "12…AbCd"`), so people can tell which one is saved.'),
    status: z
      .enum(['connected', 'pending', 'error'])
      .describe('`pending` until the first delivery or test; `error` after a delivery was refused for good.'),
    lastError: z
      .string()
      .nullable()
      .describe('Why the last delivery failed, in words; null after a success.'),
    lastDeliveredAt: z.iso.datetime().nullable(),
    eventTypes: z.array(z.enum(channelEventTypes)).describe('System events of the workspace sent here.'),
    quietHours: quietHoursSchema.nullable().describe('The channel’s own quiet hours; null: the workspace’s.'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Channel', description: 'A place notifications go.' })

/**
 * A channel as `GET /api/v1/channels/{id}` returns it.
 *
 * @example
 * const channel: Channel = { id: '0193…', type: 'telegram', name: 'My phone', config: { chatId: '123456' },
 *   secretHints: { botToken: '12…AbCd' }, status: 'connected', lastError: null,
 *   lastDeliveredAt: '2026-12-04T09:00:00.000Z', eventTypes: ['bot.paused'],
 *   createdAt: '2026-12-04T08:00:00.000Z', updatedAt: '2026-12-04T08:00:00.000Z' }
 */
export type Channel = z.infer<typeof channelSchema>

export const channelCreateSchema = z
  .strictObject({
    type: z
      .string()
      .min(1)
      .max(40)
      .describe(
        `The channel type: ${channelTypes.join(', ')} (an unknown one is 400 naming those available).`,
      ),
    name: channelName,
    config: z
      .record(z.string(), z.unknown())
      .describe(
        'Per type: telegram `{ botToken, chatId, apiBaseUrl? }`; email `{ host, port, security, user?, pass?, from, to[] }`; webhook `{ url, headers? }`; slack and discord `{ webhookUrl }`; amqp `{ url, exchange, routingKey? }`; nats `{ servers, subject, … }`. Push channels are made by POST /push/subscriptions.',
      ),
  })
  .meta({ id: 'ChannelCreate', description: 'A new channel.' })

export type ChannelCreate = z.input<typeof channelCreateSchema>

export const channelCreatedSchema = channelSchema
  .extend({
    secret: z
      .string()
      .optional()
      .describe('Webhooks only: the signing secret, shown this once (`X-OpenOrch-Signature`).'),
  })
  .meta({ id: 'ChannelCreated', description: 'The channel made; a webhook’s signing secret shown once.' })

export const channelUpdateSchema = z
  .strictObject({
    name: channelName.optional(),
    config: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('The whole config; a secret field left out keeps the stored secret.'),
  })
  .meta({ id: 'ChannelUpdate', description: 'Changes to a channel.' })

export type ChannelUpdate = z.input<typeof channelUpdateSchema>

export const channelListSchema = z
  .object({ items: z.array(channelSchema) })
  .meta({ id: 'ChannelList', description: 'The workspace’s channels.' })

export const channelEventsSchema = z
  .strictObject({ types: z.array(z.enum(channelEventTypes)).max(channelEventTypes.length) })
  .meta({ id: 'ChannelEvents', description: 'System events of the workspace this channel gets.' })

export const channelTestResultSchema = z
  .object({
    delivered: z.boolean(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'ChannelTestResult', description: 'Whether a test message went through, or why not.' })

export const botChannelLinkPutSchema = z
  .strictObject({
    rule: z
      .enum(channelRules)
      .describe(
        '`always`; `on_new`: the result differs from the last one (`isNew`); `on_results`: the run completed with a non-empty result (see the docs); `on_error`: failed or timed out; `never`.',
      ),
    format: z
      .enum(channelFormats)
      .default('short')
      .describe('`short`: status and the first line; `full`: the whole output; `summary`: as short for now.'),
  })
  .meta({ id: 'BotChannelLinkPut', description: 'When and how a bot notifies a channel.' })

export const botChannelLinkSchema = z
  .object({
    channelId: z.string(),
    channelName: z.string(),
    channelType: z.string(),
    rule: z.enum(channelRules),
    format: z.enum(channelFormats),
  })
  .meta({ id: 'BotChannelLink', description: 'A channel a bot notifies, with its rule.' })

export type BotChannelLink = z.infer<typeof botChannelLinkSchema>

export const botChannelLinkListSchema = z
  .object({ items: z.array(botChannelLinkSchema) })
  .meta({ id: 'BotChannelLinkList', description: 'The channels a bot notifies.' })

export const notificationStatuses = ['pending', 'sent', 'failed', 'dead', 'held'] as const

export const notificationSchema = z
  .object({
    id: z.string().describe('The delivery’s run id.'),
    channelId: z.string(),
    event: z.string().describe('What is reported: `run.completed`, `bot.paused`, …'),
    eventId: z.string(),
    runId: z.string().nullable().describe('The run it reports, if any.'),
    status: z.enum(notificationStatuses),
    attempts: z.number().int(),
    lastError: z.object({ code: z.string(), message: z.string() }).nullable(),
    createdAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Notification', description: 'One delivery to one channel.' })

export type Notification = z.infer<typeof notificationSchema>

export const notificationListQuerySchema = pageQuerySchema.extend({
  channelId: z.string().min(1).max(200).optional(),
  status: z.enum(notificationStatuses).optional(),
})

export const notificationPageSchema = pageSchemaOf(notificationSchema).meta({
  id: 'NotificationPage',
  description: 'Deliveries, newest first.',
})

export const telegramDiscoverSchema = z
  .strictObject({
    botToken: z
      .string()
      .min(20)
      .max(200)
      .describe('The token @BotFather gave; used for this call only, not stored.'),
    apiBaseUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional()
      .describe('A self-hosted Bot API server.'),
  })
  .meta({ id: 'TelegramDiscover', description: 'Find the chats that wrote to a Telegram bot.' })

export const telegramChatListSchema = z
  .object({
    items: z.array(
      z.object({
        chatId: z.number().int(),
        title: z.string(),
        type: z.enum(['private', 'group', 'supergroup', 'channel']),
        username: z.string().optional(),
      }),
    ),
  })
  .meta({
    id: 'TelegramChatList',
    description: 'Chats that wrote to the bot lately (newest updates Telegram keeps).',
  })

export const channelQuietHoursPutSchema = z.strictObject({ quietHours: quietHoursSchema.nullable() }).meta({
  id: 'ChannelQuietHoursPut',
  description: 'A channel’s own quiet hours, or null for the workspace’s.',
})

export const notificationSettingsSchema = z
  .strictObject({
    quietHours: quietHoursSchema.nullable().describe('The workspace’s quiet hours; null: none.'),
    urgentEvents: z
      .array(z.enum(channelEventTypes))
      .max(channelEventTypes.length)
      .describe('System events sent at once even in quiet hours.'),
  })
  .meta({ id: 'NotificationSettings', description: 'A workspace’s quiet hours and urgent events.' })

export type NotificationSettings = z.infer<typeof notificationSettingsSchema>
