import { type Kysely, type Migration, Migrator } from 'kysely'
import type { DialectName } from './database.ts'

export type MigrationFactory = (dialect: DialectName) => Migration

/** Runs numbered migrations (a record of name → factory) to the latest; throws on the first failure. */
export async function migrateToLatest(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
): Promise<string[]> {
  const migrator = createMigrator(db, dialect, migrations)
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
  const infos = await createMigrator(db, dialect, migrations).getMigrations()
  return infos.filter((info) => !info.executedAt).map((info) => info.name)
}

function createMigrator(// biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>, dialect: DialectName, migrations: Record<string, MigrationFactory>) {
  return new Migrator({
    db,
    provider: {
      getMigrations: async () =>
        Object.fromEntries(Object.entries(migrations).map(([name, factory]) => [name, factory(dialect)])),
    },
  })
}
