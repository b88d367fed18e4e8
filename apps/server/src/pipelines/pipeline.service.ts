import {
  type Pipeline,
  type PipelineCreate,
  type PipelineExport,
  type PipelineExportDocument,
  type PipelineLastRun,
  type PipelineRun,
  type PipelineRunStep,
  type PipelineUpdate,
  pipelineCreateSchema,
  pipelineExportSchema,
  pipelineUpdateSchema,
  type Run as RunJson,
} from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Db, Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { DialectName } from '../platform/db/database.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'
import {
  checkInputSize,
  defaultQuotas,
  type QuotasOf,
  quotaExceeded,
  scheduleTooFrequent,
} from '../quotas/quotas.ts'
import {
  type EnqueueRequest,
  type EnqueueResult,
  orchestrationPriority,
  type Run,
  type RunService,
} from '../runs/runs.ts'
import { parseSchedule, ScheduleError } from '../schedules/schedule-spec.ts'
import {
  nextFireTimes,
  putScheduleIn,
  removeScheduleIn,
  type ScheduleSettings,
} from '../schedules/schedules.ts'
import { pipelineRunKind } from './pipeline.consumer.ts'
import { checkDefinition, type PipelineDefinition } from './pipeline.definition.ts'
import type { PipelineSteps } from './pipeline.engine.ts'
import type { PipelineRunInput } from './pipeline.executor.ts'
import type { PipelineRow, PipelineRunStepRow } from './pipeline.table.ts'

// Pipelines: their definitions (every edit a new version), their schedules, and starting their runs.

export interface PipelineServiceDeps {
  database: Db
  clock: Clock
  log: Logger
  runs: Pick<RunService, 'enqueue' | 'list' | 'cancel'>
  steps: PipelineSteps
  /** Tells the scheduler (of every process) that schedules changed. */
  onSchedulesChanged?: () => void
  defaultTimezone?: string
  /** The workspace's quotas (schedule frequency, input size), as the bots keep them. */
  quotasOf?: QuotasOf
}

export type PipelineService = ReturnType<typeof createPipelineService>

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

/** A pipeline run's enqueue request: retried on the orchestrator's own failures, never overlapping when told. */
export function pipelineRunRequest(
  row: PipelineRow,
  trigger: EnqueueRequest['trigger'],
  input: PipelineRunInput,
  idempotencyKey: string | null,
): EnqueueRequest {
  return {
    tenantId: row.tenant_id,
    kind: pipelineRunKind,
    trigger,
    subjectId: row.id,
    input,
    priority: orchestrationPriority,
    // A claim only decides and parks: a failure there is the orchestrator's (a database blip) and is retried.
    maxRetries: 3,
    retryBaseMs: 1000,
    timeoutMs: 60_000,
    concurrencyKey: row.overlap_policy === 'allow_all' ? null : `pipeline:${row.id}`,
    concurrencyLimit: 1,
    idempotencyKey,
  }
}

export function scheduleOfPipeline(row: PipelineRow): ScheduleSettings | null {
  if (!row.schedule) return null
  return {
    ownerKind: pipelineRunKind,
    ownerId: row.id,
    tenantId: row.tenant_id,
    spec: row.schedule,
    timezone: row.timezone,
    jitterSeconds: row.jitter_seconds,
    missedPolicy: row.missed_run_policy,
    overlapPolicy: row.overlap_policy,
    active: row.enabled === 1,
  }
}

/**
 * The newest run of each of the given pipelines, in one statement: per pipeline, a correlated probe
 * walks runs_tenant_subject_idx (tenant_id, subject_id, id) backwards and stops at the first run of
 * kind `pipeline` (ids are time-ordered, so the highest is the newest); the outer join reads that one
 * row. Cost: one index seek per pipeline of the page, however many runs each has. Runs are read
 * rather than pipeline_runs because that row appears only at a run's first claim, and a run that
 * still waits for a worker is the newest run all the same.
 */
export function lastRunsQuery(
  db: Kysely<Tables>,
  dialect: DialectName,
  tenantId: string,
  pipelineIds: readonly string[],
) {
  const pipelines = db
    .selectFrom('pipelines as p')
    .where('p.tenant_id', '=', tenantId)
    .where('p.id', 'in', pipelineIds)
  if (dialect === 'postgres') {
    // A lateral probe, joined to runs by a plain id: with row-level security a correlated subquery in
    // the join condition is not LEAKPROOF, so PostgreSQL would no longer look r up by its key and
    // read every run instead (decision 0042).
    return pipelines
      .innerJoinLateral(
        (eb) =>
          eb
            .selectFrom('runs as newest')
            .select('newest.id')
            .where('newest.tenant_id', '=', tenantId)
            .whereRef('newest.subject_id', '=', 'p.id')
            .where('newest.kind', '=', pipelineRunKind)
            .orderBy('newest.id', 'desc')
            .limit(1)
            .as('n'),
        (join) => join.onTrue(),
      )
      .innerJoin('runs as r', 'r.id', 'n.id')
      .select(['p.id as pipeline_id', 'r.id', 'r.status', 'r.created_at', 'r.finished_at'])
  }
  // SQLite has no LATERAL; it seeks the same way with the subquery in the join condition.
  return pipelines
    .innerJoin('runs as r', (join) =>
      join.on((eb) =>
        eb(
          'r.id',
          '=',
          eb
            .selectFrom('runs as newest')
            .select('newest.id')
            .where('newest.tenant_id', '=', tenantId)
            .whereRef('newest.subject_id', '=', 'p.id')
            .where('newest.kind', '=', pipelineRunKind)
            .orderBy('newest.id', 'desc')
            .limit(1),
        ),
      ),
    )
    .select(['p.id as pipeline_id', 'r.id', 'r.status', 'r.created_at', 'r.finished_at'])
}

/** The newest run of each pipeline that has one, by pipeline id (see `lastRunsQuery`). */
export async function lastRunsOf(
  db: Kysely<Tables>,
  dialect: DialectName,
  tenantId: string,
  pipelineIds: readonly string[],
): Promise<Map<string, PipelineLastRun>> {
  if (pipelineIds.length === 0) return new Map()
  const rows = await lastRunsQuery(db, dialect, tenantId, pipelineIds).execute()
  return new Map(
    rows.map((row) => [
      row.pipeline_id,
      {
        id: row.id,
        status: row.status as PipelineLastRun['status'],
        createdAt: iso(row.created_at)!,
        finishedAt: iso(row.finished_at),
      },
    ]),
  )
}

export function createPipelineService(deps: PipelineServiceDeps) {
  const { database, clock, log } = deps
  const db = database.db
  const defaultTimezone = deps.defaultTimezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC'

  async function load(tenantId: string, id: string, q: Kysely<Tables> = db): Promise<PipelineRow> {
    const row = await q
      .selectFrom('pipelines')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('pipeline_not_found', `Pipeline ${id} does not exist in this workspace.`)
    return row
  }

  async function definitionOf(row: PipelineRow, version = row.version): Promise<PipelineDefinition> {
    const stored = await db
      .selectFrom('pipeline_versions')
      .select('definition')
      .where('pipeline_id', '=', row.id)
      .where('version', '=', version)
      .executeTakeFirstOrThrow()
    return JSON.parse(stored.definition) as PipelineDefinition
  }

  /** `nextFireAt` and `lastRun` when the caller read them for a whole page; else they are read here. */
  async function toJson(
    row: PipelineRow,
    nextFireAt?: number | null,
    lastRun?: PipelineLastRun | null,
  ): Promise<Pipeline> {
    const definition = await definitionOf(row)
    const next =
      nextFireAt !== undefined
        ? nextFireAt
        : ((await nextFireTimes(db, pipelineRunKind, [row.id])).get(row.id) ?? null)
    const last =
      lastRun !== undefined
        ? lastRun
        : ((await lastRunsOf(db, database.dialect, row.tenant_id, [row.id])).get(row.id) ?? null)
    return {
      id: row.id,
      version: row.version,
      name: row.name,
      description: row.description,
      emoji: row.emoji,
      schedule: row.schedule,
      timezone: row.timezone,
      enabled: row.enabled === 1,
      missedRunPolicy: row.missed_run_policy as Pipeline['missedRunPolicy'],
      overlapPolicy: row.overlap_policy as Pipeline['overlapPolicy'],
      jitterSeconds: row.jitter_seconds,
      errorPolicy: definition.errorPolicy,
      maxRuntimeSeconds: definition.maxRuntimeSeconds,
      steps: definition.steps,
      nextRunAt: iso(next),
      lastRun: last,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    }
  }

  async function checkSteps(tenantId: string, definition: PipelineDefinition): Promise<void> {
    const bots = await deps.steps.existing(
      tenantId,
      definition.steps.map((step) => step.bot),
    )
    checkDefinition(definition.steps, (id) => bots.has(id))
  }

  const quotasOf: QuotasOf = deps.quotasOf ?? (async () => defaultQuotas)

  /** A schedule that parses, and fires no more often than the workspace may (as for bots). */
  async function checkSchedule(tenantId: string, schedule: string | null, timezone: string): Promise<void> {
    if (!schedule) return
    let spec: ReturnType<typeof parseSchedule>
    try {
      spec = parseSchedule(schedule, timezone)
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error
      throw new AppError('validation_failed', `The schedule is not valid: ${error.message}`, 400, {
        errors: [{ field: 'schedule', message: error.message }],
      })
    }
    const quotas = await quotasOf(tenantId)
    const tooOften = scheduleTooFrequent(quotas, spec, clock.now())
    if (tooOften)
      throw quotaExceeded(
        'min_schedule_seconds',
        quotas.minScheduleSeconds,
        `The schedule "${schedule}" fires too often. ${tooOften}`,
      )
  }

  function checkTimezone(timezone: string): void {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone })
    } catch {
      throw new AppError(
        'validation_failed',
        `Unknown time zone "${timezone}": use an IANA name such as Europe/Berlin.`,
        400,
        {
          errors: [{ field: 'timezone', message: 'not an IANA time zone' }],
        },
      )
    }
  }

  async function nameTaken(tenantId: string, name: string, exceptId?: string): Promise<void> {
    const other = await db
      .selectFrom('pipelines')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst()
    if (other && other.id !== exceptId)
      throw new AppError(
        'pipeline_name_taken',
        `A pipeline named "${name}" exists already in this workspace.`,
        409,
      )
  }

  /** Writes the row, a new version of its definition, and its schedule, in one transaction. */
  async function save(
    row: PipelineRow,
    definition: PipelineDefinition,
    isNew: boolean,
  ): Promise<number | null> {
    const now = clock.now()
    try {
      return await writeTransaction(database, async (trx) => {
        if (isNew) await trx.insertInto('pipelines').values(row).execute()
        else {
          // Only over the version this edit was made on: of two edits at once, the second is told.
          const updated = await trx
            .updateTable('pipelines')
            .set({ ...row })
            .where('tenant_id', '=', row.tenant_id)
            .where('id', '=', row.id)
            .where('version', '=', row.version - 1)
            .executeTakeFirst()
          if (Number(updated.numUpdatedRows) === 0)
            throw new AppError(
              'pipeline_changed',
              `The pipeline was changed by someone else meanwhile (it is past version ${row.version - 1} now). Load it again and repeat your change.`,
              409,
            )
        }
        await trx
          .insertInto('pipeline_versions')
          .values({
            pipeline_id: row.id,
            version: row.version,
            tenant_id: row.tenant_id,
            definition: JSON.stringify(definition),
            created_at: now,
          })
          .execute()
        const schedule = scheduleOfPipeline(row)
        if (schedule) return putScheduleIn(trx, schedule, now)
        await removeScheduleIn(trx, pipelineRunKind, row.id)
        return null
      })
    } catch (error) {
      if (error instanceof AppError) throw error
      await nameTaken(row.tenant_id, row.name, row.id)
      throw error
    } finally {
      deps.onSchedulesChanged?.()
    }
  }

  async function create(tenantId: string, body: PipelineCreate): Promise<Pipeline> {
    const input = pipelineCreateSchema.parse(body)
    const definition: PipelineDefinition = {
      steps: input.steps,
      errorPolicy: input.errorPolicy,
      maxRuntimeSeconds: input.maxRuntimeSeconds,
    }
    await checkSteps(tenantId, definition)
    const timezone = input.timezone ?? defaultTimezone
    checkTimezone(timezone)
    await checkSchedule(tenantId, input.schedule, timezone)
    await nameTaken(tenantId, input.name)
    const now = clock.now()
    const row: PipelineRow = {
      id: newId(),
      tenant_id: tenantId,
      name: input.name,
      description: input.description,
      emoji: input.emoji,
      schedule: input.schedule,
      timezone,
      enabled: input.enabled ? 1 : 0,
      missed_run_policy: input.missedRunPolicy,
      overlap_policy: input.overlapPolicy,
      jitter_seconds: input.jitterSeconds,
      version: 1,
      created_at: now,
      updated_at: now,
    }
    const next = await save(row, definition, true)
    log.info({ tenantId, pipelineId: row.id, steps: definition.steps.length }, 'pipeline created')
    // A new pipeline has run never.
    return toJson(row, next, null)
  }

  async function update(tenantId: string, id: string, body: PipelineUpdate): Promise<Pipeline> {
    const patch = pipelineUpdateSchema.parse(body)
    const row = await load(tenantId, id)
    const current = await definitionOf(row)
    const definition: PipelineDefinition = {
      steps: patch.steps ?? current.steps,
      errorPolicy: patch.errorPolicy ?? current.errorPolicy,
      maxRuntimeSeconds: patch.maxRuntimeSeconds ?? current.maxRuntimeSeconds,
    }
    await checkSteps(tenantId, definition)
    if (patch.timezone !== undefined) checkTimezone(patch.timezone)
    if (patch.schedule !== undefined || patch.timezone !== undefined)
      await checkSchedule(
        tenantId,
        patch.schedule !== undefined ? patch.schedule : row.schedule,
        patch.timezone ?? row.timezone,
      )
    if (patch.name !== undefined) await nameTaken(tenantId, patch.name, id)
    const next: PipelineRow = {
      ...row,
      name: patch.name ?? row.name,
      description: patch.description ?? row.description,
      emoji: patch.emoji !== undefined ? patch.emoji : row.emoji,
      schedule: patch.schedule !== undefined ? patch.schedule : row.schedule,
      timezone: patch.timezone ?? row.timezone,
      enabled: patch.enabled === undefined ? row.enabled : patch.enabled ? 1 : 0,
      missed_run_policy: patch.missedRunPolicy ?? row.missed_run_policy,
      overlap_policy: patch.overlapPolicy ?? row.overlap_policy,
      jitter_seconds: patch.jitterSeconds ?? row.jitter_seconds,
      version: row.version + 1,
      updated_at: clock.now(),
    }
    const fire = await save(next, definition, false)
    return toJson(next, fire)
  }

  async function remove(tenantId: string, id: string): Promise<void> {
    const row = await load(tenantId, id)
    await writeTransaction(database, async (trx) => {
      await removeScheduleIn(trx, pipelineRunKind, row.id)
      await trx.deleteFrom('pipelines').where('tenant_id', '=', tenantId).where('id', '=', id).execute()
    })
    deps.onSchedulesChanged?.()
    // Its runs that are still going are cancelled: they have nothing to keep to.
    const open = await db
      .selectFrom('runs')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', pipelineRunKind)
      .where('subject_id', '=', id)
      .where('status', 'in', ['pending', 'running', 'waiting'])
      .execute()
    for (const run of open) await deps.runs.cancel(tenantId, run.id).catch(() => undefined)
    log.info({ tenantId, pipelineId: id }, 'pipeline removed')
  }

  async function list(tenantId: string, page: { limit: number; cursor?: string | undefined }) {
    let query = db.selectFrom('pipelines').selectAll().where('tenant_id', '=', tenantId)
    if (page.cursor) query = query.where('id', '<', page.cursor)
    const rows = await query
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
      .execute()
    const items = rows.slice(0, page.limit)
    const ids = items.map((row) => row.id)
    const [fire, last] = await Promise.all([
      nextFireTimes(db, pipelineRunKind, ids),
      lastRunsOf(db, database.dialect, tenantId, ids),
    ])
    return {
      items: await Promise.all(
        items.map((row) => toJson(row, fire.get(row.id) ?? null, last.get(row.id) ?? null)),
      ),
      nextCursor: rows.length > page.limit ? items[items.length - 1]!.id : null,
    }
  }

  async function get(tenantId: string, id: string): Promise<Pipeline> {
    return toJson(await load(tenantId, id))
  }

  async function duplicate(tenantId: string, id: string): Promise<Pipeline> {
    const source = await get(tenantId, id)
    let name = `${source.name} (copy)`
    for (let n = 2; await exists(tenantId, name); n++) name = `${source.name} (copy ${n})`
    return create(tenantId, {
      name,
      description: source.description,
      emoji: source.emoji,
      schedule: source.schedule,
      timezone: source.timezone,
      // A copy does not fire until someone means it to.
      enabled: false,
      missedRunPolicy: source.missedRunPolicy,
      overlapPolicy: source.overlapPolicy,
      jitterSeconds: source.jitterSeconds,
      errorPolicy: source.errorPolicy,
      maxRuntimeSeconds: source.maxRuntimeSeconds,
      steps: source.steps,
    })
  }

  async function exists(tenantId: string, name: string): Promise<boolean> {
    const row = await db
      .selectFrom('pipelines')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst()
    return row !== undefined
  }

  async function versions(tenantId: string, id: string) {
    await load(tenantId, id)
    const rows = await db
      .selectFrom('pipeline_versions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pipeline_id', '=', id)
      .orderBy('version', 'desc')
      .execute()
    return {
      items: rows.map((row) => {
        const definition = JSON.parse(row.definition) as PipelineDefinition
        return {
          version: row.version,
          steps: definition.steps,
          errorPolicy: definition.errorPolicy,
          maxRuntimeSeconds: definition.maxRuntimeSeconds,
          createdAt: iso(row.created_at)!,
        }
      }),
    }
  }

  /** Starts a run of the pipeline's current version (202); `Idempotency-Key` repeats answer the first run. */
  async function start(
    tenantId: string,
    id: string,
    options: { input?: unknown; trigger: EnqueueRequest['trigger']; idempotencyKey?: string | undefined },
  ): Promise<EnqueueResult> {
    const row = await load(tenantId, id)
    // The input is copied into the first steps' runs: the workspace's input limit holds here too.
    checkInputSize(await quotasOf(tenantId), options.input)
    const key = options.idempotencyKey ? `user:pipeline:${row.id}:${options.idempotencyKey}` : null
    return deps.runs.enqueue(
      pipelineRunRequest(row, options.trigger, { version: row.version, input: options.input ?? null }, key),
    )
  }

  /** The steps of pipeline runs, by run id (its version: pinned once the run was first claimed). */
  async function stepsOf(
    tenantId: string,
    runs: readonly Run[],
  ): Promise<Map<string, { pipelineVersion: number; steps: PipelineRunStep[] }>> {
    const ids = runs.filter((run) => run.kind === pipelineRunKind).map((run) => run.id)
    if (ids.length === 0) return new Map()
    const [pinned, rows] = await Promise.all([
      db
        .selectFrom('pipeline_runs')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('run_id', 'in', ids)
        .execute(),
      db
        .selectFrom('pipeline_run_steps')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('pipeline_run_id', 'in', ids)
        .execute(),
    ])
    const versionOf = new Map(pinned.map((row) => [row.run_id, Number(row.version)]))
    const byRun = new Map<string, PipelineRunStepRow[]>()
    for (const row of rows) byRun.set(row.pipeline_run_id, [...(byRun.get(row.pipeline_run_id) ?? []), row])
    const result = new Map<string, { pipelineVersion: number; steps: PipelineRunStep[] }>()
    const definitions = new Map<string, PipelineDefinition>()
    for (const run of runs) {
      if (run.kind !== pipelineRunKind) continue
      const requested = (run.input as PipelineRunInput | null)?.version
      const version = versionOf.get(run.id) ?? requested
      let definition: PipelineDefinition | undefined
      if (version !== undefined && run.subjectId) {
        const cacheKey = `${run.subjectId}:${version}`
        definition = definitions.get(cacheKey)
        if (!definition) {
          const stored = await db
            .selectFrom('pipeline_versions')
            .select('definition')
            .where('pipeline_id', '=', run.subjectId)
            .where('version', '=', version)
            .executeTakeFirst()
          if (stored) {
            definition = JSON.parse(stored.definition) as PipelineDefinition
            definitions.set(cacheKey, definition)
          }
        }
      }
      const own = new Map((byRun.get(run.id) ?? []).map((row) => [row.step_key, row]))
      const keys = definition ? definition.steps.map((step) => step.key) : [...own.keys()]
      result.set(run.id, {
        pipelineVersion: version ?? 0,
        steps: keys.map((key) => {
          const row = own.get(key)
          return {
            key,
            status: (row?.status ?? 'pending') as PipelineRunStep['status'],
            attempt: row?.attempt ?? 1,
            runId: row?.run_id ?? null,
            approvalId: row?.approval_id ?? null,
            startedAt: iso(row?.started_at ?? null),
            finishedAt: iso(row?.finished_at ?? null),
            skippedReason: row?.skipped_reason ?? null,
          }
        }),
      })
    }
    return result
  }

  async function runs(
    tenantId: string,
    id: string,
    page: { limit: number; cursor?: string | undefined },
    runJson: (run: Run) => RunJson,
  ) {
    await load(tenantId, id)
    const listed = await deps.runs.list(tenantId, {
      kind: pipelineRunKind,
      subjectId: id,
      limit: page.limit,
      ...(page.cursor ? { before: page.cursor } : {}),
    })
    const steps = await stepsOf(tenantId, listed.items)
    return {
      items: listed.items.map(
        (run): PipelineRun => ({ ...runJson(run), pipelineId: id, ...steps.get(run.id)! }),
      ),
      nextCursor: listed.nextCursor,
    }
  }

  /** Its settings and steps, each step's bot named by id and name (no state, no runs). */
  async function exportPipeline(tenantId: string, id: string): Promise<PipelineExportDocument> {
    const source = await get(tenantId, id)
    const bots = await deps.steps.existing(
      tenantId,
      source.steps.map((step) => step.bot),
    )
    const {
      id: _id,
      version: _version,
      nextRunAt: _next,
      lastRun: _last,
      createdAt: _c,
      updatedAt: _u,
      ...settings
    } = source
    return {
      format: 'openorch.pipeline',
      version: 1,
      pipeline: {
        ...settings,
        steps: source.steps.map((step) => ({
          ...step,
          ...(bots.get(step.bot) ? { botName: bots.get(step.bot)!.name } : {}),
        })),
      },
    }
  }

  /**
   * Creates a pipeline from an export, disabled (nothing runs at import). Each step's bot is found by
   * id in this workspace, else by name; a taken pipeline name gets " (imported)".
   */
  async function importPipeline(tenantId: string, document: PipelineExport): Promise<Pipeline> {
    const { pipeline } = pipelineExportSchema.parse(document)
    const names = await db
      .selectFrom('bots')
      .select(['id', 'name'])
      .where('tenant_id', '=', tenantId)
      .execute()
    const byId = new Set(names.map((bot) => bot.id))
    const byName = new Map(names.map((bot) => [bot.name, bot.id]))
    const steps = pipeline.steps.map(({ botName, ...step }) => ({
      ...step,
      bot: byId.has(step.bot)
        ? step.bot
        : botName !== undefined
          ? (byName.get(botName) ?? step.bot)
          : step.bot,
    }))
    let name = pipeline.name
    for (let n = 1; await exists(tenantId, name); n++)
      name = `${pipeline.name.slice(0, 80)} (imported${n === 1 ? '' : ` ${n}`})`
    return create(tenantId, { ...pipeline, name, enabled: false, steps })
  }

  return {
    create,
    update,
    remove,
    list,
    get,
    duplicate,
    versions,
    start,
    stepsOf,
    runs,
    load,
    exportPipeline,
    importPipeline,
  }
}
