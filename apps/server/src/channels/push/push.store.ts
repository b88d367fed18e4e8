import type { Kysely } from 'kysely'
import type { PushSubscriptionRow, PushTables, PushVapidKeysTable } from './push.table.ts'

// SQL of Web Push: the VAPID key row and the subscriptions. Takes a Kysely that knows the push tables.

type PushDb = Kysely<PushTables>

export const vapidRowId = 'installation'

export async function findVapidKeys(db: PushDb): Promise<PushVapidKeysTable | undefined> {
  return db.selectFrom('push_vapid_keys').selectAll().where('id', '=', vapidRowId).executeTakeFirst()
}

/** Inserts the key pair unless one is there already (another process was first): that one wins. */
export async function insertVapidKeysIfAbsent(db: PushDb, row: PushVapidKeysTable): Promise<void> {
  await db
    .insertInto('push_vapid_keys')
    .values(row)
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
}

export async function findSubscription(
  db: PushDb,
  tenantId: string,
  endpointHash: string,
): Promise<PushSubscriptionRow | undefined> {
  return db
    .selectFrom('push_subscriptions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('endpoint_hash', '=', endpointHash)
    .executeTakeFirst()
}

/** Every workspace's subscription of one browser (a person in two workspaces has one endpoint). */
export async function findSubscriptionsByEndpoint(
  db: PushDb,
  endpointHash: string,
): Promise<PushSubscriptionRow[]> {
  return db.selectFrom('push_subscriptions').selectAll().where('endpoint_hash', '=', endpointHash).execute()
}

export async function insertSubscription(db: PushDb, row: PushSubscriptionRow): Promise<void> {
  await db.insertInto('push_subscriptions').values(row).execute()
}

export async function updateSubscriptionChannel(
  db: PushDb,
  id: string,
  set: { channel_id: string; owner_id: string; user_agent: string },
): Promise<void> {
  await db.updateTable('push_subscriptions').set(set).where('id', '=', id).execute()
}

export async function deleteSubscription(db: PushDb, id: string): Promise<void> {
  await db.deleteFrom('push_subscriptions').where('id', '=', id).execute()
}
