import type {
  Pipeline,
  PipelineCondition,
  PipelineCreate,
  PipelineStep,
  PipelineStepInput,
} from '@openorch/contracts'

// The pipeline editor's state and its conversion to and from the API's JSON (packages/contracts
// pipeline.ts). Form values are what the fields hold ('' for "none"); each step has a local id that
// survives reordering and renaming, so React keys, drag and drop and the server's errors
// (`steps[2].dependsOn`, by index at the time of saving) stay with the right card. Dependencies and a
// condition's step are held by id too: renaming a step renames every reference to it, and a key
// half-typed or cleared on the way to a new one loses none.

export type InputMode = PipelineStep['inputMode']
export type ErrorPolicy = Pipeline['errorPolicy']
export type MissedRunPolicy = Pipeline['missedRunPolicy']
export type OverlapPolicy = Pipeline['overlapPolicy']
export type ConditionOp = NonNullable<PipelineCondition['op']>

export const inputModes: readonly InputMode[] = ['forward', 'merge', 'independent']
export const errorPolicies: readonly ErrorPolicy[] = ['abort', 'skip', 'retry']
export const conditionKinds = ['none', 'status', 'contains', 'equals', 'matches', 'pointer'] as const
export type ConditionKind = (typeof conditionKinds)[number]
export const conditionStatuses = ['completed', 'failed', 'skipped'] as const
export const conditionOps: readonly ConditionOp[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'exists']

/** When a step starts: after the step before (the API's default), with the pipeline, or after chosen steps. */
export type StartsAfter = 'previous' | 'start' | 'steps'

export interface ConditionForm {
  kind: ConditionKind
  /** The id of the step it looks at; '' = its only dependency. */
  step: string
  /** `status`: completed|failed|skipped; `contains`/`equals`/`matches`: the text; `pointer`: the value compared (JSON, or plain text). */
  value: string
  pointer: string
  op: ConditionOp
  /** Tests of a loaded condition beside the one edited here, kept as they were. */
  kept: Partial<Pick<PipelineCondition, 'status' | 'contains' | 'equals' | 'matches'>>
}

export interface StepForm {
  id: string
  key: string
  bot: string
  inputMode: InputMode
  startsAfter: StartsAfter
  /** The ids of the chosen steps when `startsAfter` is `steps`. */
  dependsOn: string[]
  condition: ConditionForm
  approval: boolean
  /** Minutes; '' = waits until someone decides. */
  expiresAfterMinutes: string
  onExpiry: 'reject' | 'approve'
  /** '' = the pipeline's policy. */
  errorPolicy: '' | ErrorPolicy
}

export interface PipelineForm {
  name: string
  emoji: string
  description: string
  schedule: string
  timezone: string
  enabled: boolean
  missedRunPolicy: MissedRunPolicy
  overlapPolicy: OverlapPolicy
  jitterSeconds: number
  errorPolicy: ErrorPolicy
  maxRuntimeSeconds: number
  steps: StepForm[]
}

let counter = 0
/** A local id for a step card (never sent). Upper case: never equal to a step key. */
export function newStepId(): string {
  counter += 1
  return `S${counter}`
}

/** Resolves a key to its step's id; a key no step has stays as it is (and is sent back as it was). */
type IdOf = (key: string) => string
/** Resolves an id to its step's key; anything else is a key kept as it was. */
type KeyOf = (id: string) => string

export const noCondition: ConditionForm = {
  kind: 'none',
  step: '',
  value: '',
  pointer: '',
  op: 'eq',
  kept: {},
}

export function newStep(key = '', bot = ''): StepForm {
  return {
    id: newStepId(),
    key,
    bot,
    inputMode: 'forward',
    startsAfter: 'previous',
    dependsOn: [],
    condition: noCondition,
    approval: false,
    expiresAfterMinutes: '',
    onExpiry: 'reject',
    errorPolicy: '',
  }
}

export function emptyForm(timezone: string): PipelineForm {
  return {
    name: '',
    emoji: '',
    description: '',
    schedule: '',
    timezone,
    enabled: true,
    missedRunPolicy: 'ignore',
    overlapPolicy: 'skip',
    jitterSeconds: 0,
    errorPolicy: 'abort',
    maxRuntimeSeconds: 3600,
    steps: [newStep('step-1')],
  }
}

/** A pointer condition's value as the field shows it: JSON, except a string that reads as plain text. */
function valueText(value: unknown): string {
  if (value === undefined) return ''
  if (typeof value === 'string') {
    try {
      JSON.parse(value)
      // "50" as a string must stay a string: shown quoted.
      return JSON.stringify(value)
    } catch {
      return value
    }
  }
  return JSON.stringify(value)
}

/** The field's text as a pointer condition's value: JSON when it parses, else the text itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export function conditionFormOf(
  condition: PipelineCondition | null | undefined,
  idOf: IdOf = (key) => key,
): ConditionForm {
  if (!condition) return noCondition
  const base = { ...noCondition, step: condition.step ? idOf(condition.step) : '', op: condition.op ?? 'eq' }
  const tests: Partial<Pick<PipelineCondition, 'status' | 'contains' | 'equals' | 'matches'>> = {}
  if (condition.status !== undefined) tests.status = condition.status
  if (condition.contains !== undefined) tests.contains = condition.contains
  if (condition.equals !== undefined) tests.equals = condition.equals
  if (condition.matches !== undefined) tests.matches = condition.matches
  if (condition.pointer !== undefined)
    return {
      ...base,
      kind: 'pointer',
      pointer: condition.pointer,
      value: valueText(condition.value),
      kept: tests,
    }
  for (const kind of ['status', 'contains', 'equals', 'matches'] as const) {
    const value = tests[kind]
    if (value === undefined) continue
    const { [kind]: _, ...kept } = tests
    return { ...base, kind, value, kept }
  }
  return noCondition
}

export function conditionOf(form: ConditionForm, keyOf: KeyOf = (id) => id): PipelineCondition | null {
  if (form.kind === 'none') return null
  const condition: PipelineCondition = { ...form.kept, op: 'eq' }
  if (form.step) condition.step = keyOf(form.step)
  if (form.kind === 'pointer') {
    condition.pointer = form.pointer
    condition.op = form.op
    if (form.op !== 'exists') condition.value = parseValue(form.value)
  } else if (form.kind === 'status') {
    condition.status = form.value as PipelineCondition['status']
  } else condition[form.kind] = form.value
  return condition
}

export function stepFormOf(step: PipelineStep, id: string, idOf: IdOf): StepForm {
  const approval = step.approval?.required === true
  return {
    id,
    key: step.key,
    bot: step.bot,
    inputMode: step.inputMode,
    startsAfter: step.dependsOn === undefined ? 'previous' : step.dependsOn.length === 0 ? 'start' : 'steps',
    dependsOn: (step.dependsOn ?? []).map(idOf),
    condition: conditionFormOf(step.condition, idOf),
    approval,
    expiresAfterMinutes:
      approval && step.approval?.expiresAfterSeconds !== undefined
        ? String(step.approval.expiresAfterSeconds / 60)
        : '',
    onExpiry: step.approval?.onExpiry ?? 'reject',
    errorPolicy: step.errorPolicy ?? '',
  }
}

export function formOfPipeline(pipeline: Pipeline): PipelineForm {
  const ids = pipeline.steps.map(() => newStepId())
  const idByKey = new Map<string, string>()
  pipeline.steps.forEach((step, index) => {
    if (!idByKey.has(step.key)) idByKey.set(step.key, ids[index]!)
  })
  const idOf = (key: string) => idByKey.get(key) ?? key
  return {
    name: pipeline.name,
    emoji: pipeline.emoji ?? '',
    description: pipeline.description,
    schedule: pipeline.schedule ?? '',
    timezone: pipeline.timezone,
    enabled: pipeline.enabled,
    missedRunPolicy: pipeline.missedRunPolicy,
    overlapPolicy: pipeline.overlapPolicy,
    jitterSeconds: pipeline.jitterSeconds,
    errorPolicy: pipeline.errorPolicy,
    maxRuntimeSeconds: pipeline.maxRuntimeSeconds,
    steps: pipeline.steps.map((step, index) => stepFormOf(step, ids[index]!, idOf)),
  }
}

/** Id → key of the steps as they are now. */
export function keysOf(steps: readonly StepForm[]): KeyOf {
  const keys = new Map(steps.map((step) => [step.id, step.key.trim()]))
  return (id) => keys.get(id) ?? id
}

export function stepOf(form: StepForm, keyOf: KeyOf): PipelineStepInput {
  const minutes = form.expiresAfterMinutes.trim() === '' ? Number.NaN : Number(form.expiresAfterMinutes)
  return {
    key: form.key.trim(),
    bot: form.bot,
    inputMode: form.inputMode,
    ...(form.startsAfter === 'previous'
      ? {}
      : { dependsOn: form.startsAfter === 'start' ? [] : form.dependsOn.map(keyOf) }),
    condition: conditionOf(form.condition, keyOf),
    approval: form.approval
      ? {
          required: true,
          ...(Number.isFinite(minutes) ? { expiresAfterSeconds: Math.round(minutes * 60) } : {}),
          onExpiry: form.onExpiry,
        }
      : null,
    errorPolicy: form.errorPolicy === '' ? null : form.errorPolicy,
  }
}

/** The body of POST /pipelines (and of PATCH: every field, so the edit is what the form shows). */
export function bodyOfForm(form: PipelineForm): PipelineCreate & { timezone: string } {
  return {
    name: form.name.trim(),
    description: form.description,
    emoji: form.emoji.trim() === '' ? null : form.emoji.trim(),
    schedule: form.schedule.trim() === '' ? null : form.schedule.trim(),
    timezone: form.timezone.trim() || 'UTC',
    enabled: form.enabled,
    missedRunPolicy: form.missedRunPolicy,
    overlapPolicy: form.overlapPolicy,
    jitterSeconds: form.jitterSeconds,
    errorPolicy: form.errorPolicy,
    maxRuntimeSeconds: form.maxRuntimeSeconds,
    steps: form.steps.map((step) => stepOf(step, keysOf(form.steps))),
  }
}

/** The steps before and after a move; `to` is the index the step ends at. */
export function moveStep<T>(steps: readonly T[], from: number, to: number): T[] {
  if (from === to || from < 0 || from >= steps.length || to < 0 || to >= steps.length) return [...steps]
  const next = [...steps]
  const [moved] = next.splice(from, 1)
  next.splice(to, 0, moved!)
  return next
}

/**
 * The steps as the graph and the "waits for" words read them: keys, and the dependencies by key
 * (absent: the step before).
 */
export function graphStepsOf(steps: readonly StepForm[]): { key: string; dependsOn?: string[] }[] {
  const keyOf = keysOf(steps)
  return steps.map((step) => ({
    key: step.key.trim(),
    ...(step.startsAfter === 'previous'
      ? {}
      : { dependsOn: step.startsAfter === 'start' ? [] : step.dependsOn.map(keyOf) }),
  }))
}

/** Removes a step and the references to it: a dependency on it is dropped, a condition on it looks at the default. */
export function removeStep(steps: readonly StepForm[], id: string): StepForm[] {
  return steps
    .filter((s) => s.id !== id)
    .map((step) =>
      step.dependsOn.includes(id) || step.condition.step === id
        ? {
            ...step,
            dependsOn: step.dependsOn.filter((d) => d !== id),
            condition: step.condition.step === id ? { ...step.condition, step: '' } : step.condition,
          }
        : step,
    )
}

/** A fresh key for a new step: `step-<n>` not used yet. */
export function freshKey(steps: readonly StepForm[]): string {
  const used = new Set(steps.map((s) => s.key))
  for (let n = steps.length + 1; ; n++) if (!used.has(`step-${n}`)) return `step-${n}`
}

/** Where a server error belongs: a field of the pipeline, or a field of one step. */
export type FieldPlace = { step: null; field: string } | { step: number; field: string }

/**
 * Reads a problem's field (`steps[2].dependsOn` from pipeline_invalid, `steps.2.key` or
 * `body.steps.2.key` from validation_failed) as its place: the step's index and its field group
 * (`condition.matches` → `condition`, `approval.expiresAfterSeconds` → `approval`; '' for the step itself).
 */
export function placeOfField(field: string): FieldPlace {
  const path = field.replace(/^body\./, '')
  const match = /^steps(?:\[(\d+)\]|\.(\d+))(?:\.(.+))?$/.exec(path)
  if (!match) return { step: null, field: path }
  const index = Number(match[1] ?? match[2])
  const rest = match[3] ?? ''
  const group = rest.split(/[.[]/)[0] ?? ''
  return { step: index, field: group }
}

export interface PlacedErrors {
  /** Pipeline fields ('name', 'schedule', …) → message. */
  pipeline: Map<string, string>
  /** Step id → its field group → message. */
  steps: Map<string, Map<string, string>>
}

/** A refusal's field errors by where the form shows them; the step ids are those of the steps sent. */
export function placeErrors(
  errors: readonly { field: string; message: string }[],
  stepIds: readonly string[],
): PlacedErrors {
  const placed: PlacedErrors = { pipeline: new Map(), steps: new Map() }
  const add = (map: Map<string, string>, field: string, message: string) =>
    map.set(field, map.has(field) ? `${map.get(field)} ${message}` : message)
  for (const error of errors) {
    const place = placeOfField(error.field)
    const id = place.step === null ? undefined : stepIds[place.step]
    if (id === undefined) {
      add(placed.pipeline, place.step === null ? place.field : 'steps', error.message)
      continue
    }
    const fields = placed.steps.get(id) ?? new Map<string, string>()
    placed.steps.set(id, fields)
    add(fields, place.field, error.message)
  }
  return placed
}
