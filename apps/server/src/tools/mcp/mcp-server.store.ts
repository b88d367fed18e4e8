import type { Insertable, Updateable } from 'kysely'
import type { Db } from '../../database.ts'
import type { McpServersTable } from './mcp-server.table.ts'

// SQL of the MCP servers table (migration 0026); every query is scoped by workspace.

type Kdb = Db['db']
export type McpServerRow = McpServersTable

export function listMcpServers(db: Kdb, tenantId: string): Promise<McpServerRow[]> {
  return db.selectFrom('mcp_servers').selectAll().where('tenant_id', '=', tenantId).orderBy('name').execute()
}

export function findMcpServer(db: Kdb, tenantId: string, id: string): Promise<McpServerRow | undefined> {
  return db
    .selectFrom('mcp_servers')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
}

export function findMcpServerByName(
  db: Kdb,
  tenantId: string,
  name: string,
): Promise<McpServerRow | undefined> {
  return db
    .selectFrom('mcp_servers')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .executeTakeFirst()
}

export function findMcpServersByNames(
  db: Kdb,
  tenantId: string,
  names: readonly string[],
): Promise<McpServerRow[]> {
  if (names.length === 0) return Promise.resolve([])
  return db
    .selectFrom('mcp_servers')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', 'in', names)
    .execute()
}

export function mcpServerNames(db: Kdb, tenantId: string): Promise<string[]> {
  return db
    .selectFrom('mcp_servers')
    .select('name')
    .where('tenant_id', '=', tenantId)
    .orderBy('name')
    .execute()
    .then((rows) => rows.map((row) => row.name))
}

export async function insertMcpServer(db: Kdb, row: Insertable<McpServersTable>): Promise<void> {
  await db.insertInto('mcp_servers').values(row).execute()
}

export async function updateMcpServer(
  db: Kdb,
  tenantId: string,
  id: string,
  changes: Updateable<McpServersTable>,
): Promise<void> {
  await db
    .updateTable('mcp_servers')
    .set(changes)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .execute()
}

/**
 * What a connection found (status, error, tools), written only while the row is the version that was
 * connected to (`updated_at`): a late answer from before an edit does not overwrite the edit's reset.
 */
export async function recordMcpServerCheck(
  db: Kdb,
  tenantId: string,
  id: string,
  version: number,
  changes: Pick<Updateable<McpServersTable>, 'status' | 'last_error' | 'tools' | 'tools_checked_at'>,
): Promise<void> {
  await db
    .updateTable('mcp_servers')
    .set(changes)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('updated_at', '=', version)
    .execute()
}

export async function deleteMcpServer(db: Kdb, tenantId: string, id: string): Promise<boolean> {
  const result = await db
    .deleteFrom('mcp_servers')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}
