import type {
  BotChannelLink,
  Channel,
  ChannelCreate,
  ChannelUpdate,
  channelEventTypes,
  channelFormats,
  channelRules,
  Notification,
  NotificationSettings,
  notificationStatuses,
  QuietHours,
  TelegramInbound,
  TelegramInboundPut,
  TelegramLinkCode,
  telegramInboundModes,
} from '@openorch/contracts'
import { requestJson, type SignedInClient } from './api.tsx'

// The routes of issue 14 the SDK client has no methods for yet: channels, a bot's channel rules, the
// notification history, quiet hours and a Telegram channel's inbound side (link codes, linked chats,
// the inbound mode). Same credentials and the same ApiError as the client.

export type ChannelEventType = (typeof channelEventTypes)[number]
export type ChannelRule = (typeof channelRules)[number]
export type ChannelFormat = (typeof channelFormats)[number]
export type NotificationStatus = (typeof notificationStatuses)[number]
export type TelegramInboundMode = (typeof telegramInboundModes)[number]
export type CreatedChannel = Channel & { secret?: string }
export interface TestResult {
  delivered: boolean
  error: { code: string; message: string } | null
}
export interface TelegramChat {
  chatId: number
  title: string
  type: 'private' | 'group' | 'supergroup' | 'channel'
  username?: string
}

const channelPath = (id: string) => `/channels/${encodeURIComponent(id)}`
const linkPath = (botId: string, channelId: string) =>
  `/bots/${encodeURIComponent(botId)}/channels/${encodeURIComponent(channelId)}`

export function channelsApi(signedIn: SignedInClient) {
  return {
    list: () => requestJson<{ items: Channel[] }>(signedIn, 'GET', '/channels'),
    create: (body: ChannelCreate) => requestJson<CreatedChannel>(signedIn, 'POST', '/channels', body),
    update: (id: string, patch: ChannelUpdate) =>
      requestJson<Channel>(signedIn, 'PATCH', channelPath(id), patch),
    remove: (id: string) => requestJson<void>(signedIn, 'DELETE', channelPath(id)),
    test: (id: string) => requestJson<TestResult>(signedIn, 'POST', `${channelPath(id)}/test`, {}),
    setEvents: (id: string, types: ChannelEventType[]) =>
      requestJson<Channel>(signedIn, 'PUT', `${channelPath(id)}/events`, { types }),
    setQuietHours: (id: string, quietHours: QuietHours | null) =>
      requestJson<Channel>(signedIn, 'PUT', `${channelPath(id)}/quiet-hours`, { quietHours }),
    settings: () => requestJson<NotificationSettings>(signedIn, 'GET', '/notification-settings'),
    putSettings: (settings: NotificationSettings) =>
      requestJson<NotificationSettings>(signedIn, 'PUT', '/notification-settings', settings),
    telegram: (id: string) => requestJson<TelegramInbound>(signedIn, 'GET', `${channelPath(id)}/telegram`),
    setTelegramInbound: (id: string, body: TelegramInboundPut) =>
      requestJson<TelegramInbound>(signedIn, 'PUT', `${channelPath(id)}/telegram/inbound`, body),
    telegramLinkCode: (id: string) =>
      requestJson<TelegramLinkCode>(signedIn, 'POST', `${channelPath(id)}/telegram/link-code`, {}),
    unlinkTelegramChat: (id: string, chatId: string) =>
      requestJson<void>(
        signedIn,
        'DELETE',
        `${channelPath(id)}/telegram/links/${encodeURIComponent(chatId)}`,
      ),
    discoverTelegramChats: (botToken: string, apiBaseUrl?: string) =>
      requestJson<{ items: TelegramChat[] }>(signedIn, 'POST', '/channels/telegram/discover-chats', {
        botToken,
        ...(apiBaseUrl ? { apiBaseUrl } : {}),
      }),
    botLinks: (botId: string) =>
      requestJson<{ items: BotChannelLink[] }>(
        signedIn,
        'GET',
        `/bots/${encodeURIComponent(botId)}/channels`,
      ),
    link: (botId: string, channelId: string, rule: ChannelRule, format: ChannelFormat) =>
      requestJson<BotChannelLink>(signedIn, 'PUT', linkPath(botId, channelId), { rule, format }),
    unlink: (botId: string, channelId: string) =>
      requestJson<void>(signedIn, 'DELETE', linkPath(botId, channelId)),
    notifications: (query: {
      channelId?: string
      status?: NotificationStatus
      limit?: number
      cursor?: string
    }) => {
      const params = new URLSearchParams()
      for (const [key, value] of Object.entries(query))
        if (value !== undefined && value !== '') params.set(key, String(value))
      const qs = params.toString()
      return requestJson<{ items: Notification[]; nextCursor: string | null }>(
        signedIn,
        'GET',
        `/notifications${qs ? `?${qs}` : ''}`,
      )
    },
    retry: (runId: string) =>
      requestJson<unknown>(signedIn, 'POST', `/runs/${encodeURIComponent(runId)}/retry`, {}),
  }
}
