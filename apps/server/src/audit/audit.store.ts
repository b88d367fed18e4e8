import { createHash } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { DialectName } from '../platform/db/database.ts'
import { acrossTenantsIn } from '../platform/db/tenant-scope.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { AuditRow } from './audit.table.ts'

// The audit chain: each entry's hash covers its fields and the previous entry's hash, so a changed
// entry breaks its own hash and a deleted one breaks the link of the next. Appends are serialised
// (SQLite: the write lock; PostgreSQL: a transaction-scoped advisory lock) so the chain never forks.

export const genesisHash = '0'.repeat(64)
const auditLockKey = 0x6f6f_6175 // "ooau"

export type AuditEntry = Omit<AuditRow, 'id' | 'prev_hash' | 'hash'>

export function hashOf(entry: AuditEntry, prevHash: string): string {
  const fields = [
    entry.tenant_id,
    Number(entry.at),
    entry.actor_type,
    entry.actor_id,
    entry.actor_role,
    entry.action,
    entry.target_type,
    entry.target_id,
    entry.ip,
    entry.request_id,
    entry.status,
    entry.details,
    prevHash,
  ]
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex')
}

export async function appendAudit(database: Db, entries: AuditEntry[]): Promise<void> {
  if (entries.length === 0) return
  await writeTransaction(database, (trx) => appendAuditIn(trx, database.dialect, entries))
}

/** Appends inside the caller's write transaction, so the entry commits or rolls back with the change. */
export async function appendAuditIn(
  trx: Kysely<Tables>,
  dialect: DialectName,
  entries: AuditEntry[],
): Promise<void> {
  if (entries.length === 0) return
  if (dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${auditLockKey})`.execute(trx)
  // The chain runs through every workspace's entries: its head is read across them (row-level security).
  const last = await acrossTenantsIn(trx, dialect, () =>
    trx.selectFrom('audit_log').select('hash').orderBy('id', 'desc').limit(1).executeTakeFirst(),
  )
  let prev = last?.hash ?? genesisHash
  for (const entry of entries) {
    const hash = hashOf(entry, prev)
    await trx
      .insertInto('audit_log')
      .values({ ...entry, prev_hash: prev, hash })
      .execute()
    prev = hash
  }
}

/**
 * An entry for a change no API caller made: `system` (a job of the orchestrator: `scheduler`,
 * `startup`), `cli` (an operator's command), or `anonymous` (a sign-in attempt before anyone is known).
 */
export function systemEntry(input: {
  tenantId: string
  at: number
  actorType?: 'system' | 'cli' | 'anonymous' | 'user'
  actorId: string | null
  actorRole?: string | null
  action: string
  targetType?: string | null
  targetId?: string | null
  ip?: string | null
  requestId?: string | null
  details?: Record<string, unknown> | null
}): AuditEntry {
  return {
    tenant_id: input.tenantId,
    at: input.at,
    actor_type: input.actorType ?? 'system',
    actor_id: input.actorId,
    actor_role: input.actorRole ?? null,
    action: input.action,
    target_type: input.targetType ?? null,
    target_id: input.targetId ?? null,
    ip: input.ip ?? null,
    request_id: input.requestId ?? null,
    status: null,
    details: input.details ? JSON.stringify(input.details) : null,
  }
}

export interface AuditFilter {
  before?: number | undefined
  from?: number | undefined
  to?: number | undefined
  actorId?: string | undefined
  action?: string | undefined
  targetType?: string | undefined
  targetId?: string | undefined
  limit: number
}

export async function listAudit(database: Db, tenantId: string, filter: AuditFilter): Promise<AuditRow[]> {
  let query = database.db.selectFrom('audit_log').selectAll().where('tenant_id', '=', tenantId)
  if (filter.before !== undefined) query = query.where('id', '<', filter.before)
  if (filter.from !== undefined) query = query.where('at', '>=', filter.from)
  if (filter.to !== undefined) query = query.where('at', '<', filter.to)
  if (filter.actorId) query = query.where('actor_id', '=', filter.actorId)
  if (filter.action) query = query.where('action', '=', filter.action)
  if (filter.targetType) query = query.where('target_type', '=', filter.targetType)
  if (filter.targetId) query = query.where('target_id', '=', filter.targetId)
  return query.orderBy('id', 'desc').limit(filter.limit).execute()
}

export type VerifyResult =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; id: number; problem: 'changed' | 'broken_link'; detail: string }

/** Walks the whole chain in order; reports the first entry that was changed, or follows a deleted one. */
export async function verifyAudit(database: Db, batch = 1000): Promise<VerifyResult> {
  // After retention pruned the oldest entries, the chain continues from the last pruned one.
  const anchor = await database.db
    .selectFrom('audit_anchor')
    .selectAll()
    .where('id', '=', 1)
    .executeTakeFirst()
  let prev = anchor?.last_hash ?? genesisHash
  let after = anchor ? Number(anchor.pruned_through) : 0
  let count = 0
  for (;;) {
    const rows = await database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('id', '>', after)
      .orderBy('id')
      .limit(batch)
      .execute()
    for (const row of rows) {
      const id = Number(row.id)
      if (row.prev_hash !== prev)
        return {
          ok: false,
          entries: count,
          id,
          problem: 'broken_link',
          detail: `Entry ${id} does not follow the entry before it: an entry before it was deleted or changed.`,
        }
      const { id: _id, prev_hash: _p, hash, ...entry } = row
      if (hashOf(entry, prev) !== hash)
        return {
          ok: false,
          entries: count,
          id,
          problem: 'changed',
          detail: `Entry ${id} was changed after it was written (its hash no longer matches its content).`,
        }
      prev = hash
      after = id
      count++
    }
    if (rows.length < batch) return { ok: true, entries: count, head: prev }
  }
}

/**
 * Retention: deletes entries older than `before`, oldest first, and moves the anchor to the last one
 * deleted, so the remaining chain still verifies. Serialised with appends (same lock).
 */
export async function pruneAudit(database: Db, before: number, now: number, batch = 1000): Promise<number> {
  return writeTransaction(database, async (trx) => {
    if (database.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${auditLockKey})`.execute(trx)
    const old = await trx
      .selectFrom('audit_log')
      .select(['id', 'hash'])
      .where('at', '<', before)
      .orderBy('id')
      .limit(batch)
      .execute()
    const last = old.at(-1)
    if (!last) return 0
    // A prefix of the chain, by id: what is left must start right after the anchor.
    await trx.deleteFrom('audit_log').where('id', '<=', Number(last.id)).execute()
    const anchor = { pruned_through: Number(last.id), last_hash: last.hash, pruned_at: now }
    await trx
      .insertInto('audit_anchor')
      .values({ id: 1, ...anchor })
      .onConflict((oc) => oc.column('id').doUpdateSet(anchor))
      .execute()
    return old.length
  })
}
