import type { Kysely } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Workspaces that can be created and disabled (issue 11, decision 0020). A disabled workspace keeps
// every row; while `disabled_at` is set its keys and sessions are refused and its schedules do not
// fire. No index: the tenants table holds one row per workspace, read by primary key.
export function workspaces(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tenants').addColumn('disabled_at', 'bigint').execute()
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await db.schema.alterTable('tenants').dropColumn('disabled_at').execute()
    },
  }
}
