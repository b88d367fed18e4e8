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
