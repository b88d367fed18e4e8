import type { Selectable } from 'kysely'

export interface TenantsTable {
  tenant_id: string
  name: string
  created_at: number
  /** Set while the workspace is disabled (migration 0014): its keys, sessions and schedules stop. */
  disabled_at: number | null
  /** JSON overrides of the installation's quotas (migration 0016); null: none. */
  quotas: string | null
}

export type TenantRow = Selectable<TenantsTable>
