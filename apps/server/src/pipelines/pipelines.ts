// The pipelines domain's public surface (issue 15, decision 0033): definitions with versions, runs of
// kind `pipeline` that park while their steps (bot runs) work, and the outbox consumer that moves
// them on. The kernel knows nothing of pipelines: they register with it here.

import type { Approvals } from '../approvals/approvals.ts'
import type { PipelineStarter } from '../bots/bots.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { Logger } from '../platform/logger.ts'
import type { QuotasOf } from '../quotas/quotas.ts'
import type { RunKernel } from '../runs/kernel.ts'
import type { RunKindView } from '../runs/run-view.ts'
import type { Schedules } from '../schedules/schedules.ts'
import { createPipelineConsumer, pipelineRunKind } from './pipeline.consumer.ts'
import { createPipelineEngine, type PipelineSteps } from './pipeline.engine.ts'
import { createPipelineExecutor } from './pipeline.executor.ts'
import { createPipelineService, pipelineRunRequest } from './pipeline.service.ts'

export { pipelineRoutes } from './pipeline.routes.ts'
export type { PipelineService } from './pipeline.service.ts'
export { pipelineRunKind }

export type Pipelines = ReturnType<typeof createPipelines>

export function createPipelines(deps: {
  database: Db
  clock: Clock
  log: Logger
  kernel: Pick<RunKernel, 'runs' | 'executors' | 'relay' | 'views'>
  schedules: Schedules
  /** The bots, which run the steps (bots.steps). */
  steps: PipelineSteps
  approvals: Pick<Approvals, 'requestIn' | 'statusesIn'>
  /** The bots' onComplete triggers, which may start pipelines. */
  triggers?: {
    setPipelineStarter(starter: PipelineStarter): void
    setPipelineLookup(lookup: (tenantId: string, id: string) => Promise<boolean>): void
  }
  /** The workspaces' quotas (bots.quotasOf): schedule frequency and input size hold for pipelines too. */
  quotasOf?: QuotasOf
}) {
  const postgres = deps.database.dialect === 'postgres'
  const engine = createPipelineEngine({
    clock: deps.clock,
    runs: deps.kernel.runs,
    steps: deps.steps,
    approvals: deps.approvals,
  })
  const service = createPipelineService({
    database: deps.database,
    clock: deps.clock,
    log: deps.log,
    runs: deps.kernel.runs,
    steps: deps.steps,
    onSchedulesChanged: () => deps.schedules.changed(),
    ...(deps.quotasOf ? { quotasOf: deps.quotasOf } : {}),
  })
  // A pipeline run shows its pipeline as `pipelineId`, and, read alone, its version and steps.
  const view: RunKindView = {
    kind: pipelineRunKind,
    subjectField: 'pipelineId',
    resultFields: [],
    detail: async (tenantId, run) => (await service.stepsOf(tenantId, [run])).get(run.id) ?? {},
  }
  deps.kernel.views.push(view)
  deps.kernel.executors.register(
    pipelineRunKind,
    createPipelineExecutor({ database: deps.database, clock: deps.clock, engine }),
  )
  deps.kernel.relay.consume('pipelines', createPipelineConsumer({ engine, runs: deps.kernel.runs, postgres }))
  // onComplete rules naming a pipeline are checked against this workspace's pipelines when saved.
  deps.triggers?.setPipelineLookup(async (tenantId, id) =>
    Boolean(
      await deps.database.db
        .selectFrom('pipelines')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst(),
    ),
  )
  deps.triggers?.setPipelineStarter(async (trx, start) => {
    const row = await trx
      .selectFrom('pipelines')
      .selectAll()
      .where('tenant_id', '=', start.tenantId)
      .where('id', '=', start.pipelineId)
      .executeTakeFirst()
    if (!row) return undefined
    return pipelineRunRequest(
      row,
      'event',
      { version: row.version, input: start.input, chain: start.chain },
      start.idempotencyKey,
    )
  })
  deps.schedules.scheduler.own(pipelineRunKind, {
    async requests(db, due) {
      const requests = new Map<string, ReturnType<typeof pipelineRunRequest>>()
      for (const schedule of due) {
        const row = await db
          .selectFrom('pipelines')
          .selectAll()
          .where('tenant_id', '=', schedule.tenant_id)
          .where('id', '=', schedule.owner_id)
          .executeTakeFirst()
        if (row) requests.set(row.id, pipelineRunRequest(row, 'schedule', {}, null))
      }
      return requests
    },
    async ended(db, schedule, _reason, now) {
      await db
        .updateTable('pipelines')
        .set({ enabled: 0, updated_at: now })
        .where('tenant_id', '=', schedule.tenant_id)
        .where('id', '=', schedule.owner_id)
        .execute()
    },
  })
  return { service, engine }
}
