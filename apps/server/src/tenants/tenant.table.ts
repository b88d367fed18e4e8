export interface TenantsTable {
  tenant_id: string
  name: string
  created_at: number
}
