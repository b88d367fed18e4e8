import type { Kysely } from 'kysely'
import { type TelegramInboundRow, withTelegramTables } from './telegram.table.ts'

// SQL the channel service runs in its own transaction: a Telegram channel that now talks to another
// bot (a new token) or through another Bot API (a new address) starts over.

/**
 * Forgets everything the channel's bot was told or asked — the linked chats, the codes not used
 * yet, the approval buttons, the `/run`s waiting for a result, the update ids handled — and turns
 * its inbound mode off, in `trx`. Whoever controls the new bot or Bot API could otherwise say an
 * update came "from" any linked person and act as them. The wrong-code counts stay: they are per
 * Telegram user, whichever bot they wrote to. Returns the mode the channel had.
 */
export async function forgetTelegramBot(
  // biome-ignore lint/suspicious/noExplicitAny: any database's transaction; the Telegram tables are widened in
  trx: Kysely<any>,
  channelId: string,
  now: number,
): Promise<TelegramInboundRow['mode']> {
  const db = withTelegramTables(trx)
  for (const table of [
    'telegram_links',
    'telegram_link_codes',
    'telegram_callbacks',
    'telegram_run_replies',
    'telegram_updates',
  ] as const)
    await db.deleteFrom(table).where('channel_id', '=', channelId).execute()
  const inbound = await db
    .selectFrom('telegram_inbound')
    .select(['mode', 'secret_version'])
    .where('channel_id', '=', channelId)
    .executeTakeFirst()
  if (!inbound) return 'off'
  await db
    .updateTable('telegram_inbound')
    .set({
      // A new version: the old webhook's secrets stop working, and the new bot's update ids (which
      // count per bot) get idempotency keys of their own (telegram-inbound.ts handleUpdate).
      secret_version: inbound.secret_version + 1,
      mode: 'off',
      webhook_url: null,
      last_update_id: null,
      poll_owner: null,
      poll_lease_until: null,
      updated_at: now,
    })
    .where('channel_id', '=', channelId)
    .execute()
  return inbound.mode
}
