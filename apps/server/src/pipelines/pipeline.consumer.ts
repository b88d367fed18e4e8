import type { Kysely } from 'kysely'
import type { Tables } from '../database.ts'
import type { RunEvent } from '../runs/run.types.ts'
import { type RunService, runIn } from '../runs/runs.ts'
import type { PipelineEngine, Progress } from './pipeline.engine.ts'

// The `pipelines` outbox consumer (inside its cursor's transaction, at least once): a step's run that
// ended, a step's approval decided, or the pipeline's own parking moves the pipeline on; with every
// step ended the pipeline run is resumed to finish. The pipeline's parking is an event too, so a step
// that ended before the parking committed is never missed. A pipeline run that ended while steps were
// open (cancelled, timed out) ends them.

export const pipelineRunKind = 'pipeline'

/** What a pipeline run that is not done parks for: a person (only approvals are open), or its steps. */
export function waitReasonOf(progress: Progress): string {
  return progress.onlyApprovals ? 'approval' : 'pipeline_steps'
}
const endStatuses = new Set(['completed', 'failed', 'timeout', 'cancelled'])

export function createPipelineConsumer(deps: {
  engine: PipelineEngine
  runs: Pick<RunService, 'resumeIn'>
  postgres: boolean
}) {
  return async (events: RunEvent[], trx: Kysely<Tables>): Promise<void> => {
    // One decision per pipeline run and batch is enough: it reads everything that ended.
    const touched = new Map<string, string>()
    const ended: Array<{ tenantId: string; runId: string; status: string }> = []
    for (const event of events) {
      const payload = event.payload
      if (event.type.startsWith('run.')) {
        const status = event.type.slice(4)
        if (payload.kind === pipelineRunKind) {
          if (status === 'waiting') touched.set(event.runId, event.tenantId)
          else if (status === 'cancelled' || status === 'timeout' || status === 'failed')
            ended.push({ tenantId: event.tenantId, runId: event.runId, status })
        } else if (
          payload.kind === 'bot' &&
          endStatuses.has(status) &&
          typeof payload.parentRunId === 'string'
        )
          touched.set(payload.parentRunId, event.tenantId)
      } else if (event.type === 'approval.decided' && payload.kind === pipelineRunKind)
        touched.set(payload.runId, event.tenantId)
    }
    for (const { tenantId, runId, status } of ended) {
      touched.delete(runId)
      await deps.engine.endIn(
        trx,
        tenantId,
        runId,
        status === 'cancelled'
          ? 'the pipeline run was cancelled'
          : `the pipeline run ${status === 'timeout' ? 'timed out' : 'failed'}`,
        deps.postgres,
      )
    }
    for (const [runId, tenantId] of touched) {
      const progress = await deps.engine.advanceIn(trx, tenantId, runId, { postgres: deps.postgres })
      // Not a pipeline's child (a bot run of another parent).
      if (!progress) continue
      if (!progress.done) {
        // Still going: resumed only to park again under the reason that is now true (a step waits for
        // a person → `approval`; steps run again → `pipeline_steps`), so the run shows what it waits for.
        // Without approval steps the reason is always `pipeline_steps`: no need to read the run.
        if (!progress.hasApprovals) continue
        const run = await runIn(trx, tenantId, runId)
        if (run?.status !== 'waiting' || run.waitReason === waitReasonOf(progress)) continue
      }
      await deps.runs.resumeIn(trx, tenantId, { id: runId })
    }
  }
}
