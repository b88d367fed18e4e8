import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import { quotaOverridesOf } from './quota.store.ts'
import { type Quotas, type QuotasOf, resolveQuotas } from './quotas.ts'

/** Each workspace's quotas: the installation's with the workspace's overrides. */
export function createQuotasOf(db: Kysely<Tables>, installation: Quotas): QuotasOf {
  return async (tenantId) => resolveQuotas(installation, await quotaOverridesOf(db, tenantId))
}
