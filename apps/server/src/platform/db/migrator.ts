import { type Kysely, type Migration, Migrator, sql } from 'kysely'
import type { DialectName } from './database.ts'

export type MigrationFactory = (dialect: DialectName) => Migration & { backfill?: MigrationBackfill }

/**
 * What a migration leaves to do after it commits: a big table's rewrite in batches that commit each, so
 * writers wait for a batch, not for the rewrite (decision 0041). The migrations after it wait for it.
 */
export interface MigrationBackfill {
  /** Whether work is left (a process killed mid-way leaves some): cheap, asked at every start. */
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  isPending(db: Kysely<any>): Promise<boolean>
  /** Does the work in transactions of its own; resumable, and safe to run again. */
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  run(db: Kysely<any>): Promise<void>
}

// Kysely's own migration lock (PostgresAdapter): held around migrations and backfills alike, so another
// process neither migrates past a backfill that is under way nor runs it twice at once. Re-entrant.
const migrationLockId = '3853314791062309107'

/** Runs numbered migrations (a record of name → factory) to the latest; throws on the first failure. */
export async function migrateToLatest(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
): Promise<string[]> {
  await refuseNewerSchema(db, dialect, migrations)
  const withBackfill = Object.keys(migrations)
    .sort()
    .filter((name) => migrations[name]!(dialect).backfill)
  if (dialect !== 'postgres' && withBackfill.length === 0)
    return migrateUpTo(await createMigrator(db, dialect, migrations), undefined)
  // Each migration with a backfill ends a transaction of the migrations up to it; its backfill runs
  // after that commits (or resumes, if a killed process left it), before the next migration.
  return db.connection().execute(async (session) => {
    if (dialect === 'postgres') await lockMigrations(session)
    try {
      const migrator = await createMigrator(session, dialect, migrations)
      const applied: string[] = []
      for (const name of withBackfill) {
        if (!(await appliedMigrationNames(session, dialect)).includes(name))
          applied.push(...(await migrateUpTo(migrator, name)))
        const backfill = migrations[name]!(dialect).backfill!
        if (await backfill.isPending(session)) await backfill.run(session)
      }
      applied.push(...(await migrateUpTo(migrator, undefined)))
      return applied
    } finally {
      if (dialect === 'postgres')
        await sql`SELECT pg_advisory_unlock(${sql.raw(migrationLockId)})`.execute(session)
    }
  })
}

// Polled, not waited for in a statement: a statement waiting for the lock is a transaction, and a
// backfill's CREATE INDEX CONCURRENTLY in the process holding the lock waits for every older
// transaction to end: a deadlock PostgreSQL cannot see. Kysely's own wait then finds it held by us.
// biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
async function lockMigrations(session: Kysely<any>): Promise<void> {
  for (;;) {
    const { rows } = await sql<{ locked: boolean }>`
      SELECT pg_try_advisory_lock(${sql.raw(migrationLockId)}) AS locked`.execute(session)
    if (rows[0]?.locked) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function migrateUpTo(migrator: Migrator, name: string | undefined): Promise<string[]> {
  const { error, results } = await (name === undefined
    ? migrator.migrateToLatest()
    : migrator.migrateTo(name))
  if (error) throw error
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** Names of migrations not yet applied or whose backfill is unfinished (empty when the schema is current). */
export async function pendingMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run before the schema types exist
  db: Kysely<any>,
  dialect: DialectName,
  migrations: Record<string, MigrationFactory>,
): Promise<string[]> {
  const infos = await (await createMigrator(db, dialect, migrations)).getMigrations()
  const pending: string[] = []
  for (const info of infos) {
    const backfill = info.executedAt ? migrations[info.name]?.(dialect).backfill : undefined
    if (!info.executedAt || (backfill && (await backfill.isPending(db)))) pending.push(info.name)
  }
  return pending
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
