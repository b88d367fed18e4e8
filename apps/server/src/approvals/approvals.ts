import type { Kysely } from 'kysely'
import { appendAuditIn, systemEntry } from '../audit/audit.ts'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import { parseJson } from '../platform/json.ts'
import type { RunEvent } from '../runs/run.types.ts'
import type { RunService } from '../runs/runs.ts'
import { findApproval, insertApproval, latestApprovalOfRun, listApprovals } from './approval.store.ts'
import type { ApprovalRow } from './approval.table.ts'

// Approvals (decision 0030): a run that needs a person parks under the approval's correlation key and
// holds no worker slot. Deciding resumes exactly that parking, in the transaction that records the
// decision, its event and its audit entry; deciding twice is refused. The domain knows nothing of
// what is approved: the requester's `state` comes back to it when its run is taken up again.

export interface ApprovalRequest {
  tenantId: string
  runId: string
  subjectKind: string
  subjectId: string | null
  subjectName: string | null
  toolSet: string
  tool: string
  toolCallId: string
  /** As people see them (secret-looking fields redacted). */
  arguments: unknown
  reason: string | null
  state: unknown
  expiresAt: number | null
}

/** Who decided: a person through the API, or the orchestrator (expiry, the run ended). */
export interface Decider {
  type: 'user' | 'api_key' | 'system'
  id: string | null
  role?: string | null
  ip?: string | null
  requestId?: string | null
}

export type Decision = 'approved' | 'rejected' | 'expired'

export type Approvals = ReturnType<typeof createApprovals>

const endedStatuses = new Set(['completed', 'failed', 'timeout', 'cancelled'])

export function createApprovals(deps: {
  database: Db
  clock: Clock
  runs: Pick<RunService, 'resumeIn' | 'appendEventsIn'>
}) {
  const { database, clock } = deps

  /**
   * Writes the record before the run parks. It stays invisible (`parking`) until the approvals
   * consumer sees the parking committed; an earlier attempt's record that never got that far is gone.
   */
  async function request(input: ApprovalRequest): Promise<{ id: string; correlationKey: string }> {
    const id = newId()
    const correlationKey = `approval:${id}`
    await writeTransaction(database, async (trx) => {
      await discardUnparkedIn(trx, input.tenantId, input.runId)
      await insertApproval(trx, {
        id,
        tenant_id: input.tenantId,
        run_id: input.runId,
        subject_kind: input.subjectKind,
        subject_id: input.subjectId,
        subject_name: input.subjectName,
        correlation_key: correlationKey,
        status: 'parking',
        tool_set: input.toolSet,
        tool: input.tool,
        tool_call_id: input.toolCallId,
        arguments: input.arguments === undefined ? null : JSON.stringify(input.arguments),
        reason: input.reason,
        state: JSON.stringify(input.state),
        requested_at: clock.now(),
        expires_at: input.expiresAt,
        decided_at: null,
        decided_by_type: null,
        decided_by_id: null,
        comment: null,
        execution_started_at: null,
        execution_result: null,
      })
    })
    return { id, correlationKey }
  }

  /**
   * An approval written in the caller's transaction, pending at once, with its `approval.requested`
   * event: for a requester whose own state is written in the same transaction (a pipeline's step),
   * so there is no parking to wait for. Deciding it resumes nothing by itself; the requester follows
   * `approval.decided`.
   */
  async function requestIn(trx: Kysely<Tables>, input: ApprovalRequest): Promise<ApprovalRow> {
    const id = newId()
    const row: ApprovalRow = {
      id,
      tenant_id: input.tenantId,
      run_id: input.runId,
      subject_kind: input.subjectKind,
      subject_id: input.subjectId,
      subject_name: input.subjectName,
      correlation_key: `approval:${id}`,
      status: 'pending',
      tool_set: input.toolSet,
      tool: input.tool,
      tool_call_id: input.toolCallId,
      arguments: input.arguments === undefined ? null : JSON.stringify(input.arguments),
      reason: input.reason,
      state: JSON.stringify(input.state),
      requested_at: clock.now(),
      expires_at: input.expiresAt,
      decided_at: null,
      decided_by_type: null,
      decided_by_id: null,
      comment: null,
      execution_started_at: null,
      execution_result: null,
    }
    await insertApproval(trx, row)
    await deps.runs.appendEventsIn(trx, [
      {
        tenantId: row.tenant_id,
        runId: row.run_id,
        type: 'approval.requested',
        payload: eventPayloadOf(row),
        createdAt: row.requested_at,
      },
    ])
    return row
  }

  /** The status of each of `ids` (a requester following its approvals), read in its transaction. */
  async function statusesIn(
    trx: Kysely<Tables>,
    tenantId: string,
    ids: readonly string[],
  ): Promise<
    Map<string, { status: ApprovalRow['status']; comment: string | null; decidedBy: string | null }>
  > {
    if (ids.length === 0) return new Map()
    const rows = await trx
      .selectFrom('approvals')
      .select(['id', 'status', 'comment', 'decided_by_id'])
      .where('tenant_id', '=', tenantId)
      .where('id', 'in', [...ids])
      .execute()
    return new Map(
      rows.map((row) => [row.id, { status: row.status, comment: row.comment, decidedBy: row.decided_by_id }]),
    )
  }

  /** Records that were written for a parking that never committed (the process died in between). */
  async function discardUnparkedIn(trx: Kysely<Tables>, tenantId: string, runId: string) {
    await trx
      .deleteFrom('approvals')
      .where('tenant_id', '=', tenantId)
      .where('run_id', '=', runId)
      .where('status', '=', 'parking')
      .execute()
  }

  async function get(tenantId: string, id: string): Promise<ApprovalRow> {
    const row = await findApproval(database.db, tenantId, id)
    if (!row) throw notFound('approval_not_found', `Approval ${id} does not exist in this workspace.`)
    return row
  }

  async function decide(
    tenantId: string,
    id: string,
    decision: Decision,
    decider: Decider,
    comment: string | null,
  ): Promise<ApprovalRow> {
    const now = clock.now()
    return writeTransaction(database, async (trx) => {
      const decided = await trx
        .updateTable('approvals')
        .set({
          status: decision,
          decided_at: now,
          decided_by_type: decider.type,
          decided_by_id: decider.id,
          comment,
        })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returningAll()
        .executeTakeFirst()
      if (!decided) {
        const row = await findApproval(trx, tenantId, id)
        if (!row) throw notFound('approval_not_found', `Approval ${id} does not exist in this workspace.`)
        throw new AppError(
          'approval_decided',
          `Approval ${id} was already decided: ${row.status}${row.decided_at ? ` at ${new Date(Number(row.decided_at)).toISOString()}` : ''}${row.decided_by_id ? ` by ${row.decided_by_id}` : ''}. Nothing changed.`,
          409,
        )
      }
      // The run goes on exactly when the decision commits; a run that ended meanwhile stays ended.
      await deps.runs.resumeIn(trx, tenantId, { id: decided.run_id, correlationKey: decided.correlation_key })
      await deps.runs.appendEventsIn(trx, [decidedEvent(decided, now)])
      await appendAuditIn(trx, database.dialect, [
        {
          ...systemEntry({
            tenantId,
            at: now,
            actorId: decider.id,
            actorRole: decider.role ?? null,
            action: `approval.${decision}`,
            targetType: 'approvals',
            targetId: id,
            ip: decider.ip ?? null,
            requestId: decider.requestId ?? null,
            details: { runId: decided.run_id, tool: decided.tool, comment },
          }),
          actor_type: decider.type,
        },
      ])
      return decided
    })
  }

  /** Approvals past their deadline count as rejected (`expired`); the run goes on without the call. */
  async function sweepExpired(limit = 100): Promise<number> {
    const due = await database.db
      .selectFrom('approvals')
      .select(['tenant_id', 'id'])
      .where('status', '=', 'pending')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', clock.now())
      .orderBy('expires_at')
      .limit(limit)
      .execute()
    let expired = 0
    for (const row of due) {
      try {
        await decide(row.tenant_id, row.id, 'expired', { type: 'system', id: 'expiry' }, null)
        expired++
      } catch (error) {
        // Someone decided in the meantime: their decision stands.
        if (!(error instanceof AppError && error.code === 'approval_decided')) throw error
      }
    }
    return expired
  }

  /**
   * The outbox consumer (at least once, inside its cursor's transaction): a committed parking makes
   * its approval pending and announces it; a run that ended while waiting expires its approval.
   */
  async function onEvents(events: RunEvent[], trx: Kysely<Tables>): Promise<void> {
    const now = clock.now()
    for (const event of events) {
      if (!event.type.startsWith('run.')) continue
      const status = event.type.slice(4)
      if (status === 'waiting') {
        // A run has at most one `parking` record (request() drops older ones), and it stays parking
        // until this event is handled: nothing can resume the run before. So the run's parking record
        // is the one this parking was made for.
        const requested = await trx
          .updateTable('approvals')
          .set({ status: 'pending' })
          .where('tenant_id', '=', event.tenantId)
          .where('run_id', '=', event.runId)
          .where('status', '=', 'parking')
          .returningAll()
          .execute()
        if (requested.length > 0)
          await deps.runs.appendEventsIn(
            trx,
            requested.map((row) => ({
              tenantId: row.tenant_id,
              runId: row.run_id,
              type: 'approval.requested',
              payload: eventPayloadOf(row),
              createdAt: now,
            })),
          )
      } else if (endedStatuses.has(status)) {
        const ended = await trx
          .updateTable('approvals')
          .set({
            status: 'expired',
            decided_at: now,
            decided_by_type: 'system',
            decided_by_id: 'run_ended',
            comment: `The run ended (${status}) before anyone decided.`,
          })
          .where('tenant_id', '=', event.tenantId)
          .where('run_id', '=', event.runId)
          .where('status', '=', 'pending')
          .returningAll()
          .execute()
        if (ended.length > 0)
          await deps.runs.appendEventsIn(
            trx,
            ended.map((row) => decidedEvent(row, now)),
          )
      }
    }
  }

  /**
   * Where a resumed run goes on from: its newest approval once decided (undefined when the run has
   * none, or its newest is still pending: then it starts afresh).
   */
  async function decidedOf(
    tenantId: string,
    runId: string,
  ): Promise<{ row: ApprovalRow; state: unknown } | undefined> {
    const row = await latestApprovalOfRun(database.db, tenantId, runId)
    if (!row || row.status === 'pending') return undefined
    return { row, state: parseJson(row.state) }
  }

  /**
   * The approved call's at-most-once guard: `run` the first time; the stored result when it ran to
   * the end before; `unknown` when an earlier attempt started it and died before the result was kept.
   */
  async function executeOnce<T>(
    tenantId: string,
    id: string,
    run: () => Promise<T>,
  ): Promise<{ ran: true; result: T } | { ran: false; result: T } | { ran: false; unknown: true }> {
    const claimed = await writeTransaction(database, (trx) =>
      trx
        .updateTable('approvals')
        .set({ execution_started_at: clock.now() })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('execution_started_at', 'is', null)
        .executeTakeFirst(),
    )
    if (Number(claimed.numUpdatedRows) === 0) {
      const row = await database.db
        .selectFrom('approvals')
        .select(['execution_result'])
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst()
      if (row?.execution_result) return { ran: false, result: JSON.parse(row.execution_result) as T }
      return { ran: false, unknown: true }
    }
    const result = await run()
    await writeTransaction(database, (trx) =>
      trx
        .updateTable('approvals')
        .set({ execution_result: JSON.stringify(result) })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute(),
    )
    return { ran: true, result }
  }

  /** Every process with workers sweeps; deciding is fenced, so two sweeps expire an approval once. */
  let timer: NodeJS.Timeout | undefined
  function startSweeping(intervalMs: number, onError: (error: unknown) => void): void {
    timer ??= setInterval(() => void sweepExpired().catch(onError), intervalMs)
    timer.unref()
  }
  function stopSweeping(): void {
    clearInterval(timer)
    timer = undefined
  }

  return {
    request,
    requestIn,
    statusesIn,
    get,
    startSweeping,
    stopSweeping,
    list: (tenantId: string, filter: Parameters<typeof listApprovals>[2]) =>
      listApprovals(database, tenantId, filter),
    decide,
    sweepExpired,
    onEvents,
    decidedOf,
    executeOnce,
  }
}

/** The most of an approval's arguments an event carries: enough to decide from a phone. */
const argumentsPreviewChars = 600

function eventPayloadOf(row: ApprovalRow): Record<string, unknown> {
  const args = row.arguments ?? ''
  return {
    runId: row.run_id,
    tenantId: row.tenant_id,
    kind: row.subject_kind,
    subjectId: row.subject_id,
    // Who asks and what for, so a person deciding from a notification decides knowingly.
    subjectName: row.subject_name,
    ...(row.subject_kind === 'bot' ? { botName: row.subject_name } : {}),
    approvalId: row.id,
    toolSet: row.tool_set,
    tool: row.tool,
    status: row.status,
    ...(row.status === 'pending'
      ? {
          reason: row.reason,
          arguments:
            args.length > argumentsPreviewChars ? `${args.slice(0, argumentsPreviewChars - 1)}…` : args,
        }
      : {}),
  }
}

function decidedEvent(row: ApprovalRow, now: number) {
  return {
    tenantId: row.tenant_id,
    runId: row.run_id,
    type: 'approval.decided',
    payload: { ...eventPayloadOf(row), comment: row.comment },
    createdAt: now,
  }
}
