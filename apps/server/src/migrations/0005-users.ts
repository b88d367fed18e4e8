import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// People who sign in to the dashboard, and their refresh tokens (stored hashed, rotated on use).
export function users(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        // Access tokens issued before this instant are refused: "sign out everywhere".
        .addColumn('tokens_valid_after', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('disabled_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      await sql`CREATE UNIQUE INDEX users_email_idx ON users (email)`.execute(db)
      await sql`CREATE INDEX users_tenant_idx ON users (tenant_id, id)`.execute(db)

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await sql`CREATE UNIQUE INDEX refresh_tokens_hash_idx ON refresh_tokens (token_hash)`.execute(db)
      await sql`CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id)`.execute(db)
      await sql`CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await db.schema.dropTable('refresh_tokens').execute()
      await db.schema.dropTable('users').execute()
    },
  }
}
