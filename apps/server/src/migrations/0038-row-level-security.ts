import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Row-level security per workspace on PostgreSQL (issue 16, decision 0042): a second line of defence
// behind the `tenant_id` condition every query carries. Each table with a `tenant_id` column gets a
// policy that, while the connection is scoped to a workspace (`openorch.tenant_id`, set by the data
// layer for work done for one workspace's caller: platform/db/tenant-scope.ts), shows and accepts
// only that workspace's rows. Unscoped, the orchestrator's own work (scheduler, relay, claims) sees
// all. FORCE makes the policies bind the tables' owner too, which the application role normally is;
// only a superuser or a role with BYPASSRLS passes them (GET /api/v1/system says which applies).
// SQLite has no row-level security: the migration does nothing there.

/** The policy's condition; later migrations that add a table with `tenant_id` call enableTenantRowSecurity. */
const scopeCondition = `(coalesce(current_setting('openorch.tenant_id', true), '') = '' OR tenant_id = current_setting('openorch.tenant_id', true))`

/**
 * Tables whose rows anyone may read while writes keep to the scope. A policy is a security barrier:
 * PostgreSQL then uses no index for a condition whose operator is not LEAKPROOF, and tsvector @@ is
 * not, so run_search's GIN index went unused and a search read every document of the workspace
 * (0.06 ms became 2.6–6 ms for 10,000 documents, growing with them). run_search holds a derived
 * index of runs: every search joins its matches to runs, whose policy applies.
 */
export const openForReading: readonly string[] = ['run_search']

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
export async function enableTenantRowSecurity(db: Kysely<any>, table: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`Invalid table name ${table}`)
  await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(db)
  await sql.raw(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`).execute(db)
  if (!openForReading.includes(table)) {
    await sql
      .raw(`CREATE POLICY tenant_scope ON ${table} USING ${scopeCondition} WITH CHECK ${scopeCondition}`)
      .execute(db)
    return
  }
  await sql.raw(`CREATE POLICY tenant_read ON ${table} FOR SELECT USING (true)`).execute(db)
  await sql.raw(`CREATE POLICY tenant_insert ON ${table} FOR INSERT WITH CHECK ${scopeCondition}`).execute(db)
  await sql
    .raw(
      `CREATE POLICY tenant_update ON ${table} FOR UPDATE USING ${scopeCondition} WITH CHECK ${scopeCondition}`,
    )
    .execute(db)
  await sql.raw(`CREATE POLICY tenant_delete ON ${table} FOR DELETE USING ${scopeCondition}`).execute(db)
}

/**
 * Tables with a `tenant_id` column that are not one workspace's: sign-in throttling counts failures
 * per e-mail and address before anyone's workspace is known (its tenant_id is always '*').
 */
export const installationWideTables: readonly string[] = ['login_failures']

// biome-ignore lint/suspicious/noExplicitAny: see enableTenantRowSecurity
async function tenantTables(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT c.table_name FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name`.execute(db)
  return rows.map((row) => row.table_name).filter((table) => !installationWideTables.includes(table))
}

export function rowLevelSecurity(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: see enableTenantRowSecurity
    async up(db: Kysely<any>) {
      if (dialect !== 'postgres') return
      for (const table of await tenantTables(db)) await enableTenantRowSecurity(db, table)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see enableTenantRowSecurity
    async down(db: Kysely<any>) {
      if (dialect !== 'postgres') return
      for (const table of await tenantTables(db)) {
        for (const policy of [
          'tenant_scope',
          'tenant_read',
          'tenant_insert',
          'tenant_update',
          'tenant_delete',
        ])
          await sql.raw(`DROP POLICY IF EXISTS ${policy} ON ${table}`).execute(db)
        await sql.raw(`ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`).execute(db)
        await sql.raw(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`).execute(db)
      }
    },
  }
}
