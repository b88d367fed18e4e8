import fs from 'node:fs'
import pg from 'pg'

// Where a benchmark keeps its database: a temp dir (SQLite) or a throwaway schema (PostgreSQL).
// Removed at the end so repeated runs leave nothing behind.

/** Drops the PostgreSQL schema (if the dialect is PostgreSQL) and removes the temp dir. */
export async function removeBenchPlace(
  dialect: 'sqlite' | 'postgres',
  place: { dir: string; schema: string; databaseUrl: string },
): Promise<void> {
  if (dialect === 'postgres') {
    const client = new pg.Client({ connectionString: place.databaseUrl })
    await client.connect()
    await client.query(`DROP SCHEMA ${place.schema} CASCADE`)
    await client.end()
  }
  fs.rmSync(place.dir, { recursive: true, force: true })
}

/** Nearest-rank percentile of an already sorted sample; NaN when empty. */
export function sortedPercentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}
