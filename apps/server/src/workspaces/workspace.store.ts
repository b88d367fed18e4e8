import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { TenantRow } from '../tenants/tenants.ts'

// SQL of the workspaces domain, over the tenants table (one row per workspace).

export async function insertWorkspace(db: Kysely<Tables>, row: TenantRow): Promise<void> {
  await db.insertInto('tenants').values(row).execute()
}

/** Only for undoing a create whose first owner was refused: the workspace holds nothing yet. */
export async function deleteEmptyWorkspace(db: Kysely<Tables>, id: string): Promise<void> {
  await db.deleteFrom('tenants').where('tenant_id', '=', id).execute()
}

export async function findWorkspace(db: Kysely<Tables>, id: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('tenant_id', '=', id).executeTakeFirst()
}

/** On PostgreSQL the row is locked, so two disables/renames of one workspace apply one after the other. */
export async function findWorkspaceForUpdate(
  db: Kysely<Tables>,
  dialect: 'sqlite' | 'postgres',
  id: string,
): Promise<TenantRow | undefined> {
  const query = db.selectFrom('tenants').selectAll().where('tenant_id', '=', id)
  return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst()
}

/** Newest first; `after` is the id of the last workspace of the previous page. */
export async function listWorkspaces(
  db: Kysely<Tables>,
  page: { limit: number; after?: string | undefined },
): Promise<TenantRow[]> {
  let query = db
    .selectFrom('tenants')
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('tenant_id', 'desc')
    .limit(page.limit)
  if (page.after !== undefined) {
    const after = await findWorkspace(db, page.after)
    if (!after) return []
    const at = Number(after.created_at)
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', at),
        eb.and([eb('created_at', '=', at), eb('tenant_id', '<', after.tenant_id)]),
      ]),
    )
  }
  return query.execute()
}

/** How many users each of these workspaces has. */
export async function countUsersOf(db: Kysely<Tables>, ids: string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map()
  const rows = await db
    .selectFrom('users')
    .select((eb) => ['tenant_id', eb.fn.countAll<number | string>().as('n')])
    .where('tenant_id', 'in', ids)
    .groupBy('tenant_id')
    .execute()
  return new Map(rows.map((row) => [row.tenant_id, Number(row.n)]))
}

export async function updateWorkspace(
  db: Kysely<Tables>,
  id: string,
  set: { name?: string; disabled_at?: number | null },
): Promise<void> {
  await db.updateTable('tenants').set(set).where('tenant_id', '=', id).execute()
}

/** Whether anyone has a user account on this installation (any workspace). */
export async function installationHasUsers(db: Kysely<Tables>): Promise<boolean> {
  return (await db.selectFrom('users').select('id').limit(1).executeTakeFirst()) !== undefined
}
