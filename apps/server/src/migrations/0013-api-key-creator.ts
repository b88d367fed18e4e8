import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Issue 11, items 5 and 9 (decision 0017).
// - A service key records the user who created it (`created_by`): it is revoked when that user is
//   disabled or removed, and it may never re-enable or raise that user. Null for keys made before
//   this migration, at bootstrap or from the CLI.
// - Failed sign-ins are counted per (e-mail, client address) and per client address, no longer per
//   e-mail alone, so the key of a row is no longer an e-mail's hash: `email_hash` becomes `key_hash`.
//   Rows counted per e-mail alone are dropped (they are at most one 15-minute window old).
// - A sign-in's session family gets a row of its own (item 15): every request with an access token
//   asks whether its family is still live, by primary key. Asking the refresh tokens instead ("has
//   this family a revoked token?") let PostgreSQL's planner choose a sequential scan under LIMIT
//   once one family held many spent tokens (measured, decision 0017). The row is also what a refresh
//   and a reuse detection lock, so a pair cannot be issued into a family while it is being revoked.
//   Existing families are copied from the refresh tokens: a family with a revoked token has ended.
export function apiKeyCreator(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema.alterTable('api_keys').addColumn('created_by', 'text').execute()
      await sql`CREATE INDEX api_keys_created_by_idx ON api_keys (created_by)`.execute(db)
      await db.deleteFrom('login_failures').execute()
      await db.schema.alterTable('login_failures').renameColumn('email_hash', 'key_hash').execute()
      await db.schema
        .createTable('session_families')
        .addColumn('family_id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute()
      await sql`CREATE INDEX session_families_user_idx ON session_families (user_id)`.execute(db)
      await sql`INSERT INTO session_families (family_id, tenant_id, user_id, created_at, revoked_at)
        SELECT family_id, MIN(tenant_id), MIN(user_id), MIN(created_at), MAX(revoked_at)
        FROM refresh_tokens GROUP BY family_id`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await db.schema.dropTable('session_families').execute()
      await db.deleteFrom('login_failures').execute()
      await db.schema.alterTable('login_failures').renameColumn('key_hash', 'email_hash').execute()
      await sql`DROP INDEX api_keys_created_by_idx`.execute(db)
      await db.schema.alterTable('api_keys').dropColumn('created_by').execute()
    },
  }
}
