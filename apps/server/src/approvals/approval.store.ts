import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { ApprovalRow, ApprovalStatus, ApprovalsTable } from './approval.table.ts'

// The approvals' queries. Every one is scoped by tenant; a `parking` record is nobody's business yet.

type Q = Kysely<Tables>

export async function insertApproval(db: Q, row: ApprovalsTable): Promise<void> {
  await db.insertInto('approvals').values(row).execute()
}

export async function findApproval(db: Q, tenantId: string, id: string): Promise<ApprovalRow | undefined> {
  return db
    .selectFrom('approvals')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('status', '!=', 'parking')
    .executeTakeFirst()
}

export interface ApprovalListFilter {
  status?: Exclude<ApprovalStatus, 'parking'> | undefined
  runId?: string | undefined
  /** The last id of the previous page. */
  before?: string | undefined
  limit: number
}

/** Newest first (ids are time-ordered). */
export async function listApprovals(
  database: Db,
  tenantId: string,
  filter: ApprovalListFilter,
): Promise<ApprovalRow[]> {
  let query = database.db
    .selectFrom('approvals')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('status', '!=', 'parking')
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.runId) query = query.where('run_id', '=', filter.runId)
  if (filter.before) query = query.where('id', '<', filter.before)
  return query.orderBy('id', 'desc').limit(filter.limit).execute()
}

/** The run's newest approval that was asked for (not one whose parking never happened). */
export async function latestApprovalOfRun(
  db: Q,
  tenantId: string,
  runId: string,
): Promise<ApprovalRow | undefined> {
  return db
    .selectFrom('approvals')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('run_id', '=', runId)
    .where('status', '!=', 'parking')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst()
}

export async function pendingCount(db: Q, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('approvals')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('status', '=', 'pending')
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

/** Approvals waiting for a person in every workspace (metrics); approvals_expiry_idx is partial on them. */
export async function countAllPending(db: Q): Promise<number> {
  const row = await db
    .selectFrom('approvals')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'pending')
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}
