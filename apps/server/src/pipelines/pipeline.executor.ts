import type { ChainInput } from '../bots/bots.ts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { Executor } from '../runs/executor.ts'
import { RunFailure } from '../runs/run.failure.ts'
import { waitReasonOf } from './pipeline.consumer.ts'
import type { PipelineEngine } from './pipeline.engine.ts'

// A run of kind `pipeline`: each claim moves the pipeline on (pins its version on the first), then
// parks without holding a worker slot until the `pipelines` consumer resumes it with every step
// ended. Past the pipeline's maxRuntimeSeconds the parking times out (`wait_timeout`).

/** What a pipeline run is enqueued with: the version to keep to (API starts) and the input. */
export interface PipelineRunInput {
  version?: number
  input?: unknown
  /** Set when a bot's onComplete started it: its steps carry the chain on (bots/bot-triggers.ts). */
  chain?: ChainInput
}

export function createPipelineExecutor(deps: {
  database: Db
  clock: Clock
  engine: PipelineEngine
}): Executor {
  const { database } = deps
  const postgres = database.dialect === 'postgres'
  return async ({ run }) => {
    const outcome = await writeTransaction(database, async (trx) => {
      let pinned = await trx
        .selectFrom('pipeline_runs')
        .selectAll()
        .where('tenant_id', '=', run.tenantId)
        .where('run_id', '=', run.id)
        .executeTakeFirst()
      if (!pinned) {
        // The first claim: the run keeps to the version it was started with (the newest, for a
        // schedule's slot), whatever edits come while it runs.
        const pipeline = await trx
          .selectFrom('pipelines')
          .select(['id', 'version'])
          .where('tenant_id', '=', run.tenantId)
          .where('id', '=', run.subjectId ?? '')
          .executeTakeFirst()
        if (!pipeline)
          throw new RunFailure('pipeline_not_found', `Pipeline ${run.subjectId} does not exist any more.`)
        const input = (run.input ?? {}) as PipelineRunInput
        pinned = {
          run_id: run.id,
          tenant_id: run.tenantId,
          pipeline_id: pipeline.id,
          version: input.version ?? pipeline.version,
          input: JSON.stringify({
            input: input.input ?? null,
            ...(input.chain ? { chain: input.chain } : {}),
          }),
          settled_max_attempts: null,
          created_at: deps.clock.now(),
        }
        await trx.insertInto('pipeline_runs').values(pinned).execute()
      } else if (pinned.settled_max_attempts !== null && run.maxAttempts > pinned.settled_max_attempts) {
        // Retried by hand after it ended: the failed and skipped steps again, the completed ones kept.
        await deps.engine.resetForRetryIn(trx, run.id)
        await trx
          .updateTable('pipeline_runs')
          .set({ settled_max_attempts: null, created_at: deps.clock.now() })
          .where('run_id', '=', run.id)
          .execute()
        pinned = { ...pinned, settled_max_attempts: null }
      }
      // The pipeline's name is read by the engine only when a step asks for an approval.
      const progress = await deps.engine.advanceIn(trx, run.tenantId, run.id, { postgres })
      if (!progress) throw new RunFailure('pipeline_not_found', `Pipeline run ${run.id} has no state.`)
      // Ended: remembered, so a later claim (a crash before the settlement) ends it the same way,
      // and only a retry by hand (more attempts) starts the failed steps again.
      if (progress.done)
        await trx
          .updateTable('pipeline_runs')
          .set({ settled_max_attempts: run.maxAttempts })
          .where('run_id', '=', run.id)
          .execute()
      const definition = await deps.engine.definitionOf(trx, pinned)
      return { progress, deadline: Number(pinned.created_at) + definition.maxRuntimeSeconds * 1000 }
    })
    const { progress, deadline } = outcome
    if (!progress.done) return { wait: waitReasonOf(progress), until: deadline }
    if (progress.failed)
      throw new RunFailure(
        'pipeline_step_failed',
        `Step "${progress.failed.step}" failed (${progress.failed.code}): ${progress.failed.message}`,
      )
    return { output: progress.output }
  }
}
