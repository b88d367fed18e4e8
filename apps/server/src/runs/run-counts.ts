import { sql } from 'kysely'
import type { Db } from '../database.ts'

/**
 * Runs running and runs waiting, all tenants (GET /api/v1/system), each counted down a partial index
 * (runs_lease_idx holds the leased runs, runs_parked_idx the parked ones): no scan of the whole table.
 */
export async function activeRunCounts(database: Db): Promise<{ running: number; waiting: number }> {
  const { rows } = await sql<{ running: string | number; waiting: string | number }>`
    SELECT
      (SELECT count(*) FROM runs WHERE lease_expires_at IS NOT NULL AND status = 'running') AS running,
      (SELECT count(*) FROM runs WHERE wait_reason IS NOT NULL AND status = 'waiting') AS waiting`.execute(
    database.db,
  )
  return { running: Number(rows[0]?.running ?? 0), waiting: Number(rows[0]?.waiting ?? 0) }
}
