import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Issue 11, items 5 and 9 (decision 0017).
// - A service key records the user who created it (`created_by`): it is revoked when that user is
//   disabled or removed, and it may never re-enable or raise that user. Null for keys made before
//   this migration, at bootstrap or from the CLI.
// - Failed sign-ins are counted per (e-mail, client address) and per client address, no longer per
//   e-mail alone, so the key of a row is no longer an e-mail's hash: `email_hash` becomes `key_hash`.
//   Rows counted per e-mail alone are dropped (they are at most one 15-minute window old).
// - An access token is refused once its session family is revoked (item 15): every authenticated
//   request asks whether the family has a revoked token, so (family_id, revoked_at) is indexed; it
//   replaces the index on family_id alone.
export function apiKeyCreator(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema.alterTable('api_keys').addColumn('created_by', 'text').execute()
      await sql`CREATE INDEX api_keys_created_by_idx ON api_keys (created_by)`.execute(db)
      await db.deleteFrom('login_failures').execute()
      await db.schema.alterTable('login_failures').renameColumn('email_hash', 'key_hash').execute()
      await sql`CREATE INDEX refresh_tokens_family_revoked_idx ON refresh_tokens (family_id, revoked_at)`.execute(
        db,
      )
      await sql`DROP INDEX refresh_tokens_family_idx`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id)`.execute(db)
      await sql`DROP INDEX refresh_tokens_family_revoked_idx`.execute(db)
      await db.deleteFrom('login_failures').execute()
      await db.schema.alterTable('login_failures').renameColumn('key_hash', 'email_hash').execute()
      await sql`DROP INDEX api_keys_created_by_idx`.execute(db)
      await db.schema.alterTable('api_keys').dropColumn('created_by').execute()
    },
  }
}
