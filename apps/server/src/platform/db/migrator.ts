import { type Kysely, type Migration, Migrator, sql } from 'kysely'
import type { DialectName } from './database.ts'

export type MigrationFactory = (dialect: DialectName) => Migration

/** Runs numbered migrations (a record of name → factory) to the latest; throws on the first failure. */
export async function migrateToLatest(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
): Promise<string[]> {
  const migrator = await createMigrator(db, dialect, migrations)
  const { error, results } = await migrator.migrateToLatest()
  if (error) throw error
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** Names of migrations not yet applied (empty when the schema is current). */
export async function pendingMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
): Promise<string[]> {
  const infos = await (await createMigrator(db, dialect, migrations)).getMigrations()
  return infos.filter((info) => !info.executedAt).map((info) => info.name)
}

// On PostgreSQL the migration tables live in the connection's current schema, named explicitly:
// otherwise Kysely may find another schema's `kysely_migration` and believe ours exists.
async function createMigrator(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
) {
  const schema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0]?.schema
      : undefined
  return new Migrator({
    db,
    ...(schema ? { migrationTableSchema: schema } : {}),
    provider: {
      getMigrations: async () =>
        Object.fromEntries(Object.entries(migrations).map(([name, factory]) => [name, factory(dialect)])),
    },
  })
}
