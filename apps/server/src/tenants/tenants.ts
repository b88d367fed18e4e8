// The workspaces' (tenants') public surface for other domains: is a workspace usable, which are disabled.
export { disabledTenantIds, workspaceDisabledError, workspaceRefusal } from './tenant.store.ts'
export type { TenantRow } from './tenant.table.ts'
