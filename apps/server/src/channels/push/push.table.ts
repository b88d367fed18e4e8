import type { Kysely, Selectable } from 'kysely'

// Web Push's tables (migration 0031). Times are epoch milliseconds. They are the push module's own,
// so its store widens the domain's Kysely with them (`withTables`) instead of the shared `Tables`.

/** The installation's VAPID key pair: one row, `id` = 'installation'. */
export type PushVapidKeysTable = {
  id: string
  /** The uncompressed P-256 public key, base64url (what browsers subscribe with). */
  public_key: string
  /** Vault ciphertext of the 32-byte private key, base64url. */
  private_key_encrypted: string
  created_at: number
}

/** A browser subscribed to notifications, and the `push` channel that delivers to it. */
export type PushSubscriptionsTable = {
  id: string
  tenant_id: string
  /** Who subscribed it: the user's id, or `key:<id>` for a service key. */
  owner_id: string
  channel_id: string
  /** SHA-256 (hex) of the endpoint URL, which itself is a secret kept with the channel. */
  endpoint_hash: string
  /** "Chrome on Linux", for people. */
  user_agent: string
  created_at: number
}

// A type alias, not an interface: `withTables` needs its implicit index signature.
export type PushTables = {
  push_vapid_keys: PushVapidKeysTable
  push_subscriptions: PushSubscriptionsTable
}

export type PushSubscriptionRow = Selectable<PushSubscriptionsTable>

/** A Kysely that knows the push tables (the shared `Tables` do not list them). */
// biome-ignore lint/suspicious/noExplicitAny: widened from any database's Kysely
export const withPushTables = (db: Kysely<any>): Kysely<PushTables> => db.withTables<PushTables>()
