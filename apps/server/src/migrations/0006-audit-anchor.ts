import type { Kysely } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Where the audit chain starts after retention pruned its oldest entries: the last pruned entry's id
// and hash, so `openorch audit verify` can still check the first remaining link (decision 0009).
export function auditAnchor(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('audit_anchor')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('pruned_through', 'bigint', (c) => c.notNull())
        .addColumn('last_hash', 'text', (c) => c.notNull())
        .addColumn('pruned_at', 'bigint', (c) => c.notNull())
        .execute()
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await db.schema.dropTable('audit_anchor').execute()
    },
  }
}
