import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { ProvidersTable } from './provider.table.ts'

// SQL of the providers table: one row per tenant and provider name. The key column holds vault
// ciphertext only; decrypting is the service's business.
type Q = Kysely<Tables>

export type ProviderRow = ProvidersTable

/** Inserts or replaces a tenant's provider; a replaced row keeps its created_at. */
export async function upsertProvider(db: Q, row: ProviderRow): Promise<void> {
  const { tenant_id, name, created_at, ...changes } = row
  await db
    .insertInto('providers')
    .values(row)
    .onConflict((oc) => oc.columns(['tenant_id', 'name']).doUpdateSet(changes))
    .execute()
}

export async function findProvider(db: Q, tenantId: string, name: string): Promise<ProviderRow | undefined> {
  return db
    .selectFrom('providers')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .executeTakeFirst()
}

export async function listProviders(db: Q, tenantId: string): Promise<ProviderRow[]> {
  return db.selectFrom('providers').selectAll().where('tenant_id', '=', tenantId).orderBy('name').execute()
}

/** True when a row was deleted. */
export async function deleteProvider(db: Q, tenantId: string, name: string): Promise<boolean> {
  const result = await db
    .deleteFrom('providers')
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

/**
 * Records what a call with the saved key found: `failing` with the code (key refused, no credit) or
 * `valid` again. Writes only when that changes something, so a busy provider costs no writes.
 */
export async function setProviderStatus(
  db: Q,
  tenantId: string,
  name: string,
  update: { status: string; lastErrorCode: string | null; now: number },
): Promise<void> {
  const { status, lastErrorCode, now } = update
  await db
    .updateTable('providers')
    .set({ status, last_error_code: lastErrorCode, last_checked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .where((eb) =>
      eb.or([
        eb('status', '!=', status),
        lastErrorCode === null
          ? eb('last_error_code', 'is not', null)
          : eb.or([eb('last_error_code', 'is', null), eb('last_error_code', '!=', lastErrorCode)]),
      ]),
    )
    .execute()
}
