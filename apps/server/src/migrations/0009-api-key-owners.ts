import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Personal API keys (issue 5: "created per user or as service keys"): a key may belong to a user.
// Such a key works only while its user exists and is enabled, with at most the user's current role.
// Null: a service key of the workspace.
export function apiKeyOwners(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema.alterTable('api_keys').addColumn('user_id', 'text').execute()
      await sql`CREATE INDEX api_keys_user_idx ON api_keys (user_id)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP INDEX api_keys_user_idx`.execute(db)
      await db.schema.alterTable('api_keys').dropColumn('user_id').execute()
    },
  }
}
