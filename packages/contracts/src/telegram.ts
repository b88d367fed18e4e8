import { z } from 'zod'

// Telegram inbound (issue 14): people link their Telegram chat with a one-time code, then run, pause
// and resume bots and decide approvals from Telegram. Updates arrive by webhook or by long polling.

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

/**
 * A one-time code that links a Telegram chat to the signed-in person: send `/link <code>` to the bot.
 *
 * @example
 * const { code } = await api.post(`/channels/${channelId}/telegram/link-code`)
 * // in Telegram: /link 123456
 */
export const telegramLinkCodeSchema = z
  .object({
    code: z
      .string()
      .regex(/^\d{6}$/)
      .describe('Six digits; send `/link <code>` to the bot in a private chat.'),
    expiresAt: isoTime.describe('The code works once, until then (10 minutes).'),
  })
  .meta({ id: 'TelegramLinkCode', description: 'A one-time code linking a Telegram chat to you.' })

export type TelegramLinkCode = z.infer<typeof telegramLinkCodeSchema>

export const telegramInboundModes = ['off', 'polling', 'webhook'] as const

/**
 * How a Telegram channel receives commands.
 *
 * @example
 * await api.put(`/channels/${channelId}/telegram/inbound`, { mode: 'webhook', url: 'https://orch.example.com' })
 */
export const telegramInboundPutSchema = z
  .strictObject({
    mode: z
      .enum(telegramInboundModes)
      .describe(
        '`off`: no commands; `polling`: one process of the installation long-polls getUpdates (no public URL needed); `webhook`: Telegram posts to this installation.',
      ),
    url: z
      .url({ protocol: /^https?$/ })
      .max(500)
      .optional()
      .describe(
        'For `webhook`: the public address of this installation (https://orch.example.com); default OPENORCH_PUBLIC_URL.',
      ),
  })
  .meta({ id: 'TelegramInboundPut', description: 'How a Telegram channel receives commands.' })

export type TelegramInboundPut = z.infer<typeof telegramInboundPutSchema>

export const telegramInboundSchema = z
  .object({
    mode: z.enum(telegramInboundModes),
    webhookUrl: z
      .string()
      .nullable()
      .describe('Where Telegram posts updates (its secret part masked); null unless `webhook`.'),
    lastUpdateId: z.number().int().nullable().describe('The last update handled.'),
    linkedChats: z
      .array(
        z.object({
          chatId: z.string().describe("The person's Telegram user id (their private chat with the bot)."),
          userId: z.string(),
          linkedAt: isoTime,
        }),
      )
      .describe('Telegram chats linked to people of the workspace.'),
  })
  .meta({ id: 'TelegramInbound', description: "A Telegram channel's inbound commands." })

export type TelegramInbound = z.infer<typeof telegramInboundSchema>
