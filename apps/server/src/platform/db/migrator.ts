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
  await refuseNewerSchema(db, dialect, migrations)
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

/** The database was migrated by a newer build: this one must not run on it (nor migrate it). */
export class NewerSchemaError extends Error {
  readonly unknownMigrations: string[]
  constructor(unknownMigrations: string[]) {
    super(
      `this database was used by a newer openOrchestrator: its schema has migration${unknownMigrations.length === 1 ? '' : 's'} ` +
        `${unknownMigrations.join(', ')} that this version does not know. Nothing was changed. ` +
        'Run the newer version again, or restore a backup taken before the upgrade to run this one.',
    )
    this.name = 'NewerSchemaError'
    this.unknownMigrations = unknownMigrations
  }
}

/**
 * Throws NewerSchemaError when applied migrations include names this build does not know (Kysely
 * itself would only say "corrupted migrations"). Checked before anything is migrated.
 */
export async function refuseNewerSchema(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
): Promise<void> {
  const unknown = (await appliedMigrationNames(db, dialect)).filter((name) => !(name in migrations))
  if (unknown.length > 0) throw new NewerSchemaError(unknown)
}

// biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
async function appliedMigrationNames(db: Kysely<any>, dialect: DialectName): Promise<string[]> {
  if (dialect === 'postgres') {
    const table = (
      await sql<{ table: string | null }>`
        SELECT to_regclass(quote_ident(current_schema()) || '.kysely_migration')::text AS table`.execute(db)
    ).rows[0]?.table
    if (!table) return []
    const rows = await sql<{ name: string }>`SELECT name FROM ${sql.raw(table)} ORDER BY name`.execute(db)
    return rows.rows.map((row) => row.name)
  }
  const exists = await sql<{ name: string }>`
    SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'`.execute(db)
  if (exists.rows.length === 0) return []
  const rows = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db)
  return rows.rows.map((row) => row.name)
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
