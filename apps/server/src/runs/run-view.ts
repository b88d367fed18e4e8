import type { Run as RunJson } from '@openorch/contracts'
import type { Run } from './run.types.ts'

// The Run JSON (DESIGN.md) shows each kind's domain part of a run under the names its domain gives
// them: a bot run's subject as `botId`, its result's tokens, cost and output hash as fields of their
// own. The kernel stores both as opaque values (`subject_id`, `result`); the domains describe how they
// appear, so the kernel's code never names them (issue 12, decision 0027).

/** How one kind's domain appears in the Run JSON. */
export interface RunKindView {
  kind: string
  /**
   * The Run JSON field that carries the subject's id for runs of this kind (e.g. `botId`); absent:
   * the subject is not shown (a notification's channel).
   */
  subjectField?: string
  /** The result's fields the Run JSON always carries (null for runs without them). */
  resultFields: readonly string[]
  /**
   * More of the domain's state, shown when one run is read (`GET /runs/{id}`): a pipeline run's
   * version and steps. Absent: nothing more.
   */
  detail?: (tenantId: string, run: Run) => Promise<Record<string, unknown>>
}

export type RunJsonOf = (run: Run) => RunJson

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** The kernel's run (epoch ms, internal fields) as the API shows it (ISO times, the domains' fields). */
export function runJsonOf(views: readonly RunKindView[]): RunJsonOf {
  // Every run carries every domain's fields: null where they are not its own.
  const empty: Record<string, null> = {}
  for (const view of views) {
    if (view.subjectField) empty[view.subjectField] = null
    for (const field of view.resultFields) empty[field] = null
  }
  const byKind = new Map(views.map((view) => [view.kind, view]))
  return (run) => {
    const own: Record<string, unknown> = {}
    const view = byKind.get(run.kind)
    if (view) {
      if (view.subjectField) own[view.subjectField] = run.subjectId
      const result = isObject(run.result) ? run.result : {}
      for (const field of view.resultFields) own[field] = result[field] ?? null
    }
    return {
      id: run.id,
      kind: run.kind,
      ...empty,
      ...own,
      parentRunId: run.parentRunId,
      status: run.status,
      trigger: run.trigger,
      input: run.input ?? null,
      output: run.output ?? null,
      attempt: run.attempt,
      maxAttempts: run.maxAttempts,
      priority: run.priority,
      durationMs: run.durationMs,
      error: run.error ? { code: run.error.code, message: run.error.message } : null,
      waitReason: run.waitReason,
      correlationKey: run.correlationKey,
      waitUntil: iso(run.waitUntil),
      deadLettered: run.deadLettered,
      traceId: run.traceId ?? null,
      createdAt: new Date(run.createdAt).toISOString(),
      startedAt: iso(run.startedAt),
      finishedAt: iso(run.finishedAt),
    } as RunJson
  }
}

/**
 * An event's payload as the live feed and the dead-letter list show it: the subject under its
 * domain's name (`botId`), every domain's subject field present (null where not its own). A payload
 * stored before the kernel named subjects generically (with `botId` already) passes unchanged.
 * Anything that is not an object (a damaged row) shows as one without fields of its own, never an error.
 */
export function eventPayloadJsonOf(views: readonly RunKindView[]) {
  const byKind = new Map(views.map((view) => [view.kind, view]))
  return (payload: unknown): Record<string, unknown> => {
    const { subjectId, ...rest } = isObject(payload) ? payload : {}
    const shown: Record<string, unknown> = {}
    for (const view of views) if (view.subjectField) shown[view.subjectField] = null
    Object.assign(shown, rest)
    const view = typeof rest.kind === 'string' ? byKind.get(rest.kind) : undefined
    if (view?.subjectField && subjectId !== undefined) shown[view.subjectField] = subjectId
    return shown
  }
}

/** The subject a list query names by one of the domains' fields (`?botId=`), if any. */
export function subjectFilterOf(
  views: readonly RunKindView[],
  query: Record<string, unknown>,
): string | undefined {
  for (const view of views) {
    if (!view.subjectField) continue
    const value = query[view.subjectField]
    if (typeof value === 'string' && value !== '') return value
  }
  return undefined
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
