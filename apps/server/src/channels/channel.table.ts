import type { Selectable } from 'kysely'

// Channels and the bots' links to them (migration 0028). Times are epoch milliseconds.
export interface ChannelsTable {
  id: string
  tenant_id: string
  type: string
  name: string
  /** JSON: the config without its secret fields. */
  config: string
  /** Vault ciphertext of a JSON object of the secret fields; null when the type has none set. */
  secrets_encrypted: string | null
  /** JSON: each secret field's masked hint. */
  secret_hints: string
  status: 'connected' | 'pending' | 'error'
  last_error: string | null
  last_delivered_at: number | null
  /** JSON array of the workspace's system events sent here. */
  event_types: string
  /** JSON `{ start, end, timezone }` of the channel's own quiet hours; null: the workspace's. */
  quiet_hours: string | null
  created_at: number
  updated_at: number
}

export type ChannelRow = Selectable<ChannelsTable>

export interface BotChannelsTable {
  bot_id: string
  channel_id: string
  tenant_id: string
  rule: string
  format: string
  created_at: number
}

/** A workspace's notification settings (migration 0032). */
export interface NotificationSettingsTable {
  tenant_id: string
  quiet_hours: string | null
  /** JSON array of system events that ignore quiet hours. */
  urgent_events: string
  updated_at: number
}

/** A notification that arrived in a quiet window, kept for the digest at its end. */
export interface HeldNotificationsTable {
  id: string
  tenant_id: string
  channel_id: string
  window_end: number
  /** JSON: the NotificationInput it would have been delivered with. */
  input: string
  created_at: number
}
