import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { QuotaOverrides } from './quotas.ts'

// A workspace's quota overrides live on its tenants row (JSON, migration 0016).

export async function quotaOverridesOf(db: Kysely<Tables>, tenantId: string): Promise<QuotaOverrides | null> {
  const row = await db
    .selectFrom('tenants')
    .select('quotas')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst()
  return row?.quotas ? (JSON.parse(row.quotas) as QuotaOverrides) : null
}

/** Replaces a workspace's overrides; false when there is no such workspace. */
export async function setQuotaOverrides(
  db: Kysely<Tables>,
  tenantId: string,
  overrides: QuotaOverrides,
): Promise<boolean> {
  const kept = Object.fromEntries(
    Object.entries(overrides).filter(([, value]) => value !== null && value !== undefined),
  )
  const result = await db
    .updateTable('tenants')
    .set({ quotas: Object.keys(kept).length > 0 ? JSON.stringify(kept) : null })
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) > 0
}
