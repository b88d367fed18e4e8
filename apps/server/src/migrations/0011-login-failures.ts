import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Failed sign-ins per e-mail, in the database instead of each process's memory (decision 0011,
// amended): every process of a cluster counts the same failures, so five wrong passwords lock an
// e-mail whichever process they reach, and the count survives a restart. Rows are keyed by a hash of
// the e-mail (a stranger's guesses do not store their text) and removed once their window has passed.
// E-mails are unique across the installation, so the rows are system-wide (tenant_id '*').
export function loginFailures(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('login_failures')
        .addColumn('email_hash', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().defaultTo('*'))
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('first_failed_at', 'bigint', (c) => c.notNull())
        .addColumn('locked_until', 'bigint', (c) => c.notNull())
        .execute()
      await sql`CREATE INDEX login_failures_first_idx ON login_failures (first_failed_at)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await db.schema.dropTable('login_failures').execute()
    },
  }
}
