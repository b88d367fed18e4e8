import type { Kysely } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// A workspace's own quotas (issue 11 item 7, decision 0019): JSON overrides of the installation's
// limits, set by installation admins; null or a missing field means the installation's value.
export function workspaceQuotas(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tenants').addColumn('quotas', 'text').execute()
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await db.schema.alterTable('tenants').dropColumn('quotas').execute()
    },
  }
}
