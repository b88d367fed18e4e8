import type { Kysely, Selectable } from 'kysely'

// Telegram inbound's tables (migration 0030). Times are epoch milliseconds. They are this module's
// own, so its store widens the domain's Kysely with them (`withTables`) instead of the shared `Tables`.

/** How one Telegram channel receives updates; the polling lease lives here too. */
export interface TelegramInboundTable {
  channel_id: string
  tenant_id: string
  mode: 'off' | 'polling' | 'webhook'
  /** Where Telegram posts (the path's secret included); null unless `webhook`. */
  webhook_url: string | null
  /** The webhook secrets are derived from the vault with this; a new webhook gets a new version. */
  secret_version: number
  /** The newest update handled: getUpdates goes on after it. */
  last_update_id: number | null
  /** The process holding the polling lease, until `poll_lease_until`. */
  poll_owner: string | null
  poll_lease_until: number | null
  updated_at: number
}

/** Updates handled, each once (kept a week; Telegram never resends older ones). */
export interface TelegramUpdatesTable {
  channel_id: string
  update_id: number
  processed_at: number
}

export interface TelegramLinkCodesTable {
  /** HMAC of channel and code with a key derived from the vault: a stolen table tells no code. */
  code_hash: string
  tenant_id: string
  channel_id: string
  user_id: string
  expires_at: number
  used_at: number | null
  created_at: number
}

/** A Telegram user (their private chat with the bot) linked to a person of the workspace. */
export interface TelegramLinksTable {
  channel_id: string
  chat_id: string
  tenant_id: string
  user_id: string
  linked_at: number
}

/**
 * Per channel, keyed by `chat_id`:
 * - a Telegram user (their id): refused once when they wrote without a link (`refused_at`; 0 when
 *   linked since, so they are told again once unlinked), and their wrong link codes in the window
 *   that began at `wrong_codes_since` — a link does not reset them;
 * - `wrong-codes:channel`: the wrong link codes of all chats together, in the same kind of window;
 * - `notice:<kind>:<chat id>`: when a chat was last told a refusal of that kind (said once a window).
 * No Telegram id holds a colon, so the kinds of key cannot meet.
 */
export interface TelegramStrangersTable {
  channel_id: string
  chat_id: string
  refused_at: number
  wrong_codes: number
  wrong_codes_since: number | null
}

/** An approval button: the short id its signed callback data carries, single-use, expiring. */
export interface TelegramCallbacksTable {
  id: string
  tenant_id: string
  channel_id: string
  approval_id: string
  decision: 'approved' | 'rejected'
  expires_at: number
  used_at: number | null
  created_at: number
}

/** A `/run` whose result goes back to the chat when the run ends. */
export interface TelegramRunRepliesTable {
  run_id: string
  tenant_id: string
  channel_id: string
  chat_id: string
  created_at: number
}

// A type, not an interface: Kysely's withTables wants an index signature, which only type literals get.
export type TelegramTables = {
  telegram_inbound: TelegramInboundTable
  telegram_updates: TelegramUpdatesTable
  telegram_link_codes: TelegramLinkCodesTable
  telegram_links: TelegramLinksTable
  telegram_strangers: TelegramStrangersTable
  telegram_callbacks: TelegramCallbacksTable
  telegram_run_replies: TelegramRunRepliesTable
}

export type TelegramInboundRow = Selectable<TelegramInboundTable>

/** A Kysely that knows the Telegram tables (the shared `Tables` do not list them). */
// biome-ignore lint/suspicious/noExplicitAny: widened from any database's Kysely
export const withTelegramTables = (db: Kysely<any>): Kysely<TelegramTables> => db.withTables<TelegramTables>()
