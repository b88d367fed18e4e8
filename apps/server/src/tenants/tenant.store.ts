import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import { AppError } from '../platform/errors.ts'

// What other domains ask of the tenants table: is this workspace disabled (decision 0020)? The
// workspaces domain owns the rest (workspaces/workspace.store.ts).

/** 403 `workspace_disabled` when the workspace is disabled; undefined while it is enabled. */
export async function workspaceRefusal(db: Kysely<Tables>, tenantId: string): Promise<AppError | undefined> {
  const row = await db
    .selectFrom('tenants')
    .select('disabled_at')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst()
  if (!row || row.disabled_at === null) return undefined
  return workspaceDisabledError()
}

export function workspaceDisabledError(): AppError {
  return new AppError(
    'workspace_disabled',
    'This workspace is disabled: its keys and sessions are refused and its schedules do not run. Ask the installation’s admins (owners of the default workspace) to enable it again.',
    403,
  )
}

/** The ids of disabled workspaces, as a subquery: `where('tenant_id', 'not in', disabledTenantIds(db))`. */
export function disabledTenantIds(db: Kysely<Tables>) {
  return db.selectFrom('tenants').select('tenant_id').where('disabled_at', 'is not', null)
}
