import type { PipelineStep } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Approvals } from '../approvals/approvals.ts'
import type { BotStepInput } from '../bots/bots.ts'
import type { Tables } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { parseJson } from '../platform/json.ts'
import type { EnqueueRequest, RunService } from '../runs/runs.ts'
import { dependantsOf, dependenciesOf, type PipelineDefinition } from './pipeline.definition.ts'
import type { PipelineRunStepRow } from './pipeline.table.ts'
import {
  type ConditionOutcome,
  evaluateCondition,
  type LookedAt,
  regexTimeLimitMs,
} from './pipeline-condition.ts'

// Moves a pipeline run on (issue 15, decision 0033). Called in a transaction by the pipeline's own run
// when it is claimed, and by the `pipelines` outbox consumer when a step's run ends, a step's approval
// is decided, or the pipeline parks: whoever comes first does the work, the other finds it done. Every
// step run is enqueued with the key `pipeline:<runId>:<stepKey>:<attempt>`, so deciding twice never
// starts a step twice, and a crash at any line loses nothing (the transaction commits or not).

export interface PipelineSteps {
  requestIn(
    trx: Kysely<Tables>,
    step: {
      tenantId: string
      botId: string
      input: BotStepInput | null
      parentRunId: string
      idempotencyKey: string
      runAt?: number
    },
  ): Promise<EnqueueRequest | undefined>
  existing(
    tenantId: string,
    ids: readonly string[],
    q?: Kysely<Tables>,
  ): Promise<Map<string, { name: string; retryDelaySeconds: number }>>
}

export interface EngineDeps {
  clock: Clock
  runs: Pick<RunService, 'enqueueManyIn' | 'cancelIn'>
  steps: PipelineSteps
  approvals: Pick<Approvals, 'requestIn' | 'statusesIn'>
}

export type StepStatus = 'pending' | 'running' | 'approval' | 'completed' | 'failed' | 'skipped' | 'cancelled'

/** Where a pipeline run stands after a step of deciding. */
export interface Progress {
  /** Every step has ended (completed, skipped, failed or cancelled). */
  done: boolean
  /** The step whose failure ended the pipeline, with its error. */
  failed: { step: string; code: string; message: string } | null
  /** No step runs: what is open waits for a person's approval. */
  onlyApprovals: boolean
  /** Some step of the run's version needs an approval (else the run never parks for one). */
  hasApprovals: boolean
  /** The output of the steps nothing depends on (when done). */
  output: unknown
}

const ended = new Set<StepStatus>(['completed', 'skipped', 'failed', 'cancelled'])
/** Why a skipped step did not run: its condition, or every step before it was skipped so. */
const conditionSkip = /^(condition|after skipped steps)/

interface PipelineRunRow {
  run_id: string
  tenant_id: string
  pipeline_id: string
  version: number
  input: string | null
}

/** Definitions kept in memory: a version is never changed (an edit adds one), so none goes stale. */
const cachedDefinitions = 500

export function createPipelineEngine(deps: EngineDeps) {
  const { clock } = deps
  // Every decision needs its run's definition: read once per version, not once per step (the
  // scale test's consumer batches spent a round trip and a JSON parse per pipeline on it).
  const definitions = new Map<string, PipelineDefinition>()

  async function definitionOf(trx: Kysely<Tables>, row: PipelineRunRow): Promise<PipelineDefinition> {
    const key = `${row.pipeline_id}:${row.version}`
    const known = definitions.get(key)
    if (known) return known
    const version = await trx
      .selectFrom('pipeline_versions')
      .select('definition')
      .where('pipeline_id', '=', row.pipeline_id)
      .where('version', '=', row.version)
      .executeTakeFirstOrThrow()
    const definition = JSON.parse(version.definition) as PipelineDefinition
    if (definitions.size >= cachedDefinitions) definitions.clear()
    definitions.set(key, definition)
    return definition
  }

  async function pipelineNameOf(trx: Kysely<Tables>, id: string): Promise<string | null> {
    const row = await trx.selectFrom('pipelines').select('name').where('id', '=', id).executeTakeFirst()
    return row?.name ?? null
  }

  async function lockedRun(trx: Kysely<Tables>, tenantId: string, runId: string, postgres: boolean) {
    let query = trx
      .selectFrom('pipeline_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('run_id', '=', runId)
    // Two processes deciding for one pipeline run take turns (SQLite's write lock does it there).
    if (postgres) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  async function stepRows(trx: Kysely<Tables>, runId: string): Promise<Map<string, PipelineRunStepRow>> {
    const rows = await trx
      .selectFrom('pipeline_run_steps')
      .selectAll()
      .where('pipeline_run_id', '=', runId)
      .execute()
    return new Map(rows.map((row) => [row.step_key, row]))
  }

  /** Writes the changed step rows in one statement (a step that ends and the one it starts: two). */
  async function saveSteps(trx: Kysely<Tables>, rows: PipelineRunStepRow[]): Promise<void> {
    if (rows.length === 0) return
    await trx
      .insertInto('pipeline_run_steps')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['pipeline_run_id', 'step_key']).doUpdateSet((eb) => ({
          status: eb.ref('excluded.status'),
          attempt: eb.ref('excluded.attempt'),
          run_id: eb.ref('excluded.run_id'),
          approval_id: eb.ref('excluded.approval_id'),
          skipped_reason: eb.ref('excluded.skipped_reason'),
          started_at: eb.ref('excluded.started_at'),
          finished_at: eb.ref('excluded.finished_at'),
        })),
      )
      .execute()
  }

  /**
   * Decides what can be decided now, in `trx`: ended step runs are read, approvals requested and
   * followed, error policies applied, ready steps started (or skipped by their condition). Undefined
   * when `runId` is not a pipeline run.
   */
  async function advanceIn(
    trx: Kysely<Tables>,
    tenantId: string,
    runId: string,
    options: { postgres: boolean; pipelineName?: string },
  ): Promise<Progress | undefined> {
    const pipelineRun = await lockedRun(trx, tenantId, runId, options.postgres)
    if (!pipelineRun) return undefined
    const definition = await definitionOf(trx, pipelineRun)
    const steps = definition.steps
    const rows = await stepRows(trx, runId)
    const now = clock.now()
    const rowOf = (step: PipelineStep): PipelineRunStepRow =>
      rows.get(step.key) ?? {
        pipeline_run_id: runId,
        step_key: step.key,
        tenant_id: tenantId,
        status: 'pending',
        attempt: 1,
        run_id: null,
        approval_id: null,
        skipped_reason: null,
        started_at: null,
        finished_at: null,
      }
    const changed = new Set<string>()
    const set = (step: PipelineStep, patch: Partial<PipelineRunStepRow>) => {
      rows.set(step.key, { ...rowOf(step), ...patch })
      changed.add(step.key)
    }
    const policyOf = (step: PipelineStep) => step.errorPolicy ?? definition.errorPolicy
    // Set by stepFailed (a closure), so kept in an object TypeScript does not narrow.
    const verdict: { failed: Progress['failed'] } = { failed: null }

    // 1. Runs of running steps that have ended.
    const running = steps.filter((step) => rowOf(step).status === 'running' && rowOf(step).run_id)
    const runRows = running.length
      ? await trx
          .selectFrom('runs')
          .select(['id', 'status', 'output', 'error_code', 'error_message'])
          .where('tenant_id', '=', tenantId)
          .where(
            'id',
            'in',
            running.map((step) => rowOf(step).run_id!),
          )
          .execute()
      : []
    const runById = new Map(runRows.map((row) => [row.id, row]))
    const retries: Array<{ step: PipelineStep; runAt: number }> = []
    // The bots' names and retry delays, read only for a retry or an approval: most decisions need
    // neither, and a round trip per decision adds up in a consumer batch of hundreds of pipelines.
    let bots: Awaited<ReturnType<PipelineSteps['existing']>> | undefined
    const botsOf = async () => {
      bots ??= await deps.steps.existing(
        tenantId,
        steps.map((step) => step.bot),
        trx,
      )
      return bots
    }

    /** A step that failed (its run, its approval, or it could not start): its error policy decides. */
    const stepFailed = async (step: PipelineStep, code: string, message: string) => {
      const row = rowOf(step)
      const policy = policyOf(step)
      if (policy === 'retry' && row.attempt === 1) {
        const delay = ((await botsOf()).get(step.bot)?.retryDelaySeconds ?? 0) * 1000
        retries.push({ step, runAt: now + delay })
        set(step, { attempt: 2, status: 'pending', run_id: null, approval_id: null, finished_at: null })
        return
      }
      if (policy === 'skip') {
        set(step, { status: 'skipped', skipped_reason: `failed: ${code}: ${message}`, finished_at: now })
        return
      }
      set(step, { status: 'failed', skipped_reason: `${code}: ${message}`, finished_at: now })
      verdict.failed ??= { step: step.key, code, message }
    }

    for (const step of running) {
      const run = runById.get(rowOf(step).run_id!)
      if (!run) continue
      if (run.status === 'completed') {
        if (step.approval?.required) {
          const approval = await deps.approvals.requestIn(trx, {
            tenantId,
            runId,
            subjectKind: 'pipeline',
            subjectId: pipelineRun.pipeline_id,
            subjectName: options.pipelineName ?? (await pipelineNameOf(trx, pipelineRun.pipeline_id)),
            toolSet: 'pipeline',
            tool: step.key,
            toolCallId: `step:${step.key}:${rowOf(step).attempt}`,
            arguments: {
              step: step.key,
              bot: (await botsOf()).get(step.bot)?.name ?? step.bot,
              output: parseJson(run.output),
            },
            reason: `Step "${step.key}" finished: approve its output before the pipeline goes on.`,
            state: { step: step.key },
            expiresAt: step.approval.expiresAfterSeconds
              ? now + step.approval.expiresAfterSeconds * 1000
              : null,
          })
          set(step, { status: 'approval', approval_id: approval.id })
        } else set(step, { status: 'completed', finished_at: now })
      } else if (run.status === 'failed' || run.status === 'timeout' || run.status === 'cancelled')
        await stepFailed(
          step,
          run.error_code ?? run.status,
          run.error_message ?? `The step's run ${run.status}.`,
        )
    }

    // 2. Approvals decided.
    const approving = steps.filter((step) => rowOf(step).status === 'approval' && rowOf(step).approval_id)
    const decisions = await deps.approvals.statusesIn(
      trx,
      tenantId,
      approving.map((step) => rowOf(step).approval_id!),
    )
    for (const step of approving) {
      const decision = decisions.get(rowOf(step).approval_id!)
      if (!decision || decision.status === 'pending' || decision.status === 'parking') continue
      const approved =
        decision.status === 'approved' ||
        (decision.status === 'expired' && step.approval?.onExpiry === 'approve')
      if (approved) set(step, { status: 'completed', finished_at: now })
      else
        await stepFailed(
          step,
          decision.status === 'expired' ? 'approval_expired' : 'approval_rejected',
          decision.status === 'expired'
            ? 'Nobody decided in time.'
            : `Rejected${decision.decidedBy ? ` by ${decision.decidedBy}` : ''}${decision.comment ? `: ${decision.comment}` : '.'}`,
        )
    }

    // 3. A step failed under `abort`: what runs is cancelled, what waits is skipped.
    const firstFailure = verdict.failed as Progress['failed']
    if (firstFailure)
      await abortOpenSteps(
        trx,
        tenantId,
        steps,
        rowOf,
        set,
        `the pipeline stopped: step "${firstFailure.step}" failed`,
      )

    // 4. Start what is ready, skip what may not run; until nothing more changes.
    const dependencies = dependenciesOf(steps)
    const requests: Array<{ step: PipelineStep; request: EnqueueRequest }> = []
    let moved = !verdict.failed
    while (moved) {
      moved = false
      for (const step of steps) {
        const row = rowOf(step)
        if (row.status !== 'pending' || requests.some((r) => r.step.key === step.key)) continue
        const retry = retries.find((r) => r.step.key === step.key)
        const before = (dependencies.get(step.key) ?? []).map((key) => steps.find((s) => s.key === key)!)
        if (!before.every((dep) => ended.has(rowOf(dep).status as StepStatus))) continue
        // A branch whose every step before was skipped by a condition is skipped as a whole.
        if (
          before.length > 0 &&
          before.every(
            (dep) => rowOf(dep).status === 'skipped' && conditionSkip.test(rowOf(dep).skipped_reason ?? ''),
          )
        ) {
          set(step, {
            status: 'skipped',
            skipped_reason: 'after skipped steps: every step before it was skipped',
            finished_at: now,
          })
          moved = true
          continue
        }
        const outputs = await outputsOf(trx, tenantId, before, rowOf, runById)
        if (step.condition) {
          const lookedAt = step.condition.step ?? before[0]?.key
          const seen = outputs.get(lookedAt ?? '')
          const outcome = seen
            ? conditionOutcomeOf(step.condition, seen)
            : { holds: false as const, reason: 'the step it looks at did not run' }
          if (!outcome.holds) {
            set(step, { status: 'skipped', skipped_reason: `condition: ${outcome.reason}`, finished_at: now })
            moved = true
            continue
          }
        }
        const input = stepInputOf(step, before, outputs, parseJson(pipelineRun.input))
        const request = await deps.steps.requestIn(trx, {
          tenantId,
          botId: step.bot,
          input,
          parentRunId: runId,
          idempotencyKey: `pipeline:${runId}:${step.key}:${row.attempt}`,
          ...(retry ? { runAt: retry.runAt } : {}),
        })
        if (!request) {
          await stepFailed(step, 'bot_not_found', `Bot ${step.bot} does not exist any more.`)
          moved = true
          if (verdict.failed) {
            await abortOpenSteps(
              trx,
              tenantId,
              steps,
              rowOf,
              set,
              `the pipeline stopped: step "${step.key}" failed`,
            )
            break
          }
          continue
        }
        requests.push({ step, request })
        moved = true
      }
    }
    if (requests.length > 0 && !verdict.failed) {
      const made = await deps.runs.enqueueManyIn(
        trx,
        requests.map((r) => r.request),
      )
      requests.forEach(({ step }, index) => {
        const result = made[index]!
        if (result.status === 'dropped') return
        set(step, { status: 'running', run_id: result.run.id, started_at: rowOf(step).started_at ?? now })
      })
    }
    await saveSteps(
      trx,
      [...changed].map((key) => rows.get(key)!),
    )

    const statuses = steps.map((step) => rowOf(step).status as StepStatus)
    const done = statuses.every((status) => ended.has(status))
    const failedStep = verdict.failed ?? failureOf(steps, rowOf)
    return {
      done,
      failed: failedStep,
      // Nothing runs; what is open waits for a person (the pending steps wait for those approvals).
      onlyApprovals: !done && !statuses.includes('running') && statuses.includes('approval'),
      hasApprovals: steps.some((step) => step.approval?.required),
      output: done && !failedStep ? await finalOutput(trx, tenantId, steps, rowOf, runById) : null,
    }
  }

  /** The pipeline ended (cancelled, timed out) or a step failed: open steps end with `reason`. */
  async function abortOpenSteps(
    trx: Kysely<Tables>,
    tenantId: string,
    steps: readonly PipelineStep[],
    rowOf: (step: PipelineStep) => PipelineRunStepRow,
    set: (step: PipelineStep, patch: Partial<PipelineRunStepRow>) => void,
    reason: string,
  ): Promise<void> {
    const now = clock.now()
    for (const step of steps) {
      const row = rowOf(step)
      if (row.status === 'running' && row.run_id) {
        await deps.runs.cancelIn(trx, tenantId, row.run_id)
        set(step, { status: 'cancelled', skipped_reason: reason, finished_at: now })
      } else if (row.status === 'approval')
        set(step, { status: 'cancelled', skipped_reason: reason, finished_at: now })
      else if (row.status === 'pending')
        set(step, { status: 'skipped', skipped_reason: reason, finished_at: now })
    }
  }

  /** The pipeline run itself ended while steps were open (cancelled, timed out): they end too. */
  async function endIn(
    trx: Kysely<Tables>,
    tenantId: string,
    runId: string,
    reason: string,
    postgres: boolean,
  ) {
    const pipelineRun = await lockedRun(trx, tenantId, runId, postgres)
    if (!pipelineRun) return
    // The event may be older than the run's state: a run retried since is going again.
    const run = await trx
      .selectFrom('runs')
      .select(['status', 'max_attempts'])
      .where('id', '=', runId)
      .executeTakeFirst()
    if (!run || !['cancelled', 'timeout', 'failed'].includes(run.status)) return
    const definition = await definitionOf(trx, pipelineRun)
    const rows = await stepRows(trx, runId)
    const changed = new Set<string>()
    const rowOf = (step: PipelineStep): PipelineRunStepRow =>
      rows.get(step.key) ?? {
        pipeline_run_id: runId,
        step_key: step.key,
        tenant_id: tenantId,
        status: 'pending',
        attempt: 1,
        run_id: null,
        approval_id: null,
        skipped_reason: null,
        started_at: null,
        finished_at: null,
      }
    await abortOpenSteps(
      trx,
      tenantId,
      definition.steps,
      rowOf,
      (step, patch) => {
        rows.set(step.key, { ...rowOf(step), ...patch })
        changed.add(step.key)
      },
      reason,
    )
    await saveSteps(
      trx,
      [...changed].map((key) => rows.get(key)!),
    )
    // Ended: a retry by hand (more attempts than now) is what starts its steps again.
    await trx
      .updateTable('pipeline_runs')
      .set({ settled_max_attempts: run.max_attempts })
      .where('run_id', '=', runId)
      .execute()
  }

  /**
   * A failed pipeline retried by hand: its failed, skipped and cancelled steps run again (a new
   * attempt each, so a new idempotency key), the completed ones keep their outputs.
   */
  async function resetForRetryIn(trx: Kysely<Tables>, runId: string): Promise<number> {
    const reset = await trx
      .updateTable('pipeline_run_steps')
      .set((eb) => ({
        status: 'pending',
        attempt: eb('attempt', '+', 1),
        run_id: null,
        approval_id: null,
        skipped_reason: null,
        started_at: null,
        finished_at: null,
      }))
      .where('pipeline_run_id', '=', runId)
      .where('status', 'in', ['failed', 'skipped', 'cancelled'])
      .executeTakeFirst()
    return Number(reset.numUpdatedRows)
  }

  return { advanceIn, endIn, resetForRetryIn, definitionOf }
}

export type PipelineEngine = ReturnType<typeof createPipelineEngine>

/**
 * A step's condition, with a timed-out pattern tried again. The pattern's 50 ms are wall time: on a
 * loaded machine a trivial pattern can be caught by the limit because the process was descheduled or
 * paused by the garbage collector meanwhile, and the step (with its branch) was then skipped for a
 * timeout that says nothing about the pattern — pipeline-processes.test.ts saw it with two servers
 * and the test on two cores (1 evaluation in ~3,000 of `\d+ €` under four busy processes). A
 * catastrophic pattern times out on every try (3 × 50 ms at most); a pause does not repeat at once.
 */
function conditionOutcomeOf(
  condition: NonNullable<PipelineStep['condition']>,
  seen: LookedAt,
): ConditionOutcome {
  const timedOut = (outcome: ConditionOutcome) =>
    !outcome.holds && outcome.reason.includes(`took longer than ${regexTimeLimitMs} ms`)
  let outcome = evaluateCondition(condition, seen)
  for (let retry = 0; retry < 2 && timedOut(outcome); retry++) outcome = evaluateCondition(condition, seen)
  return outcome
}

/** The first failed step (an `abort`), if any. */
function failureOf(
  steps: readonly PipelineStep[],
  rowOf: (step: PipelineStep) => PipelineRunStepRow,
): Progress['failed'] {
  const step = steps.find((s) => rowOf(s).status === 'failed')
  if (!step) return null
  const reason = rowOf(step).skipped_reason ?? 'failed'
  const colon = reason.indexOf(': ')
  return {
    step: step.key,
    code: colon > 0 ? reason.slice(0, colon) : 'step_failed',
    message: colon > 0 ? reason.slice(colon + 2) : reason,
  }
}

/**
 * The outputs of the steps before, as conditions and inputs see them. Runs in `read` (those this
 * decision read already: the steps that just ended) are not read again.
 */
async function outputsOf(
  trx: Kysely<Tables>,
  tenantId: string,
  before: readonly PipelineStep[],
  rowOf: (step: PipelineStep) => PipelineRunStepRow,
  read: ReadonlyMap<string, { output: string | null }> = new Map(),
): Promise<Map<string, LookedAt>> {
  const ids = before
    .map((step) => rowOf(step).run_id)
    .filter((id): id is string => id !== null && !read.has(id))
  const runs = ids.length
    ? await trx
        .selectFrom('runs')
        .select(['id', 'output'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids)
        .execute()
    : []
  const fetched = new Map(runs.map((run) => [run.id, run]))
  const outputOf = (id: string) => parseJson((read.get(id) ?? fetched.get(id))?.output ?? null)
  return new Map(
    before.map((step) => {
      const row = rowOf(step)
      const output = row.status === 'completed' && row.run_id ? outputOf(row.run_id) : undefined
      const status: LookedAt['status'] =
        row.status === 'completed'
          ? 'completed'
          : (row.skipped_reason ?? '').startsWith('failed')
            ? 'failed'
            : 'skipped'
      return [
        step.key,
        { status, text: textOf(output), data: (output as { data?: unknown } | undefined)?.data },
      ]
    }),
  )
}

/** A bot run's output as text: its `text`, or the JSON of anything else; empty when none. */
function textOf(output: unknown): string {
  if (output === null || output === undefined) return ''
  if (typeof output === 'string') return output
  if (typeof output === 'object' && typeof (output as { text?: unknown }).text === 'string')
    return (output as { text: string }).text
  return JSON.stringify(output)
}

/** What a step is given: nothing (`independent`), or the steps before (labelled when several). */
function stepInputOf(
  step: PipelineStep,
  before: readonly PipelineStep[],
  outputs: Map<string, LookedAt>,
  pipelineInput: unknown,
): BotStepInput | null {
  // A pipeline started by a trigger passes its chain on, so a loop through pipelines ends too.
  const chain = (pipelineInput as { chain?: BotStepInput['chain'] } | null)?.chain
  if (step.inputMode === 'independent')
    return chain ? { pipelineStep: { mode: 'forward', previous: '' }, chain } : null
  const mode = step.inputMode === 'merge' ? 'merge' : 'forward'
  let previous: string
  if (before.length === 0) previous = textOf((pipelineInput as { input?: unknown } | null)?.input)
  else if (before.length === 1) previous = outputs.get(before[0]!.key)?.text ?? ''
  else
    previous = before
      .map((dep) => `## ${dep.key}\n${outputs.get(dep.key)?.text || '(no output)'}`)
      .join('\n\n')
  return { pipelineStep: { mode, previous }, ...(chain ? { chain } : {}) }
}

/** The pipeline's result: the output of the step nothing depends on, or of each such step by key. */
async function finalOutput(
  trx: Kysely<Tables>,
  tenantId: string,
  steps: readonly PipelineStep[],
  rowOf: (step: PipelineStep) => PipelineRunStepRow,
  read: ReadonlyMap<string, { output: string | null }>,
): Promise<unknown> {
  const dependants = dependantsOf(steps)
  const sinks = steps.filter((step) => (dependants.get(step.key) ?? []).length === 0)
  const outputs = await outputsOf(trx, tenantId, sinks, rowOf, read)
  const completed = sinks.filter((step) => outputs.get(step.key)?.status === 'completed')
  if (completed.length === 1) return { text: outputs.get(completed[0]!.key)!.text, step: completed[0]!.key }
  return {
    text: completed.map((step) => `## ${step.key}\n${outputs.get(step.key)!.text}`).join('\n\n'),
    steps: Object.fromEntries(completed.map((step) => [step.key, outputs.get(step.key)!.text])),
  }
}
