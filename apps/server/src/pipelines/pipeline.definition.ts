import type { PipelineStep } from '@openorch/contracts'
import { AppError, type FieldError } from '../platform/errors.ts'

// A pipeline's steps as a graph: each step depends on the steps it names (default: the step before),
// steps whose dependencies have ended run, in parallel. A definition is checked when it is saved, and
// every problem is named with the step it is in.

export interface PipelineDefinition {
  steps: PipelineStep[]
  errorPolicy: 'abort' | 'skip' | 'retry'
  maxRuntimeSeconds: number
}

/** What each step waits for: its `dependsOn`, or the step before it (none for the first). */
export function dependenciesOf(steps: readonly PipelineStep[]): Map<string, string[]> {
  return new Map(
    steps.map((step, index) => [step.key, step.dependsOn ?? (index === 0 ? [] : [steps[index - 1]!.key])]),
  )
}

/** The steps that depend on each step. */
export function dependantsOf(steps: readonly PipelineStep[]): Map<string, string[]> {
  const dependants = new Map(steps.map((step) => [step.key, [] as string[]]))
  for (const [key, deps] of dependenciesOf(steps)) for (const dep of deps) dependants.get(dep)?.push(key)
  return dependants
}

/**
 * Every problem of a definition (empty: it is sound): duplicate keys, dependencies on steps that do not
 * exist or on itself, cycles, conditions about steps it does not depend on, bots that do not exist.
 */
export function problemsOf(steps: readonly PipelineStep[], botExists: (id: string) => boolean): FieldError[] {
  const problems: FieldError[] = []
  const at = (index: number, field: string) => `steps[${index}]${field ? `.${field}` : ''}`
  const seen = new Set<string>()
  steps.forEach((step, index) => {
    if (seen.has(step.key))
      problems.push({
        field: at(index, 'key'),
        message: `Step "${step.key}": the key is used by an earlier step.`,
        code: 'duplicate_step',
      })
    seen.add(step.key)
    if (!botExists(step.bot))
      problems.push({
        field: at(index, 'bot'),
        message: `Step "${step.key}": bot ${step.bot} does not exist in this workspace.`,
        code: 'unknown_bot',
      })
  })
  const keys = new Set(steps.map((step) => step.key))
  const deps = dependenciesOf(steps)
  const duplicates = seen.size !== steps.length
  steps.forEach((step, index) => {
    // Per step, not per key: with a duplicate key the map holds only the last one's.
    const own = step.dependsOn ?? (index === 0 ? [] : [steps[index - 1]!.key])
    for (const dep of own) {
      if (dep === step.key)
        problems.push({
          field: at(index, 'dependsOn'),
          message: `Step "${step.key}" depends on itself.`,
          code: 'cycle',
        })
      else if (!keys.has(dep))
        problems.push({
          field: at(index, 'dependsOn'),
          message: `Step "${step.key}" depends on "${dep}", which is not a step of this pipeline.`,
          code: 'unknown_step',
        })
    }
    if (new Set(own).size !== own.length)
      problems.push({
        field: at(index, 'dependsOn'),
        message: `Step "${step.key}" names a dependency twice.`,
        code: 'duplicate_dependency',
      })
    const condition = step.condition
    if (condition) {
      if (condition.step !== undefined && !own.includes(condition.step))
        problems.push({
          field: at(index, 'condition.step'),
          message: `Step "${step.key}": its condition looks at "${condition.step}", which it does not depend on.`,
          code: 'condition_step',
        })
      if (condition.step === undefined && own.length !== 1)
        problems.push({
          field: at(index, 'condition.step'),
          message: `Step "${step.key}" depends on ${own.length === 0 ? 'no step' : 'several steps'}: name the step its condition looks at.`,
          code: 'condition_step',
        })
      if (condition.matches !== undefined) {
        try {
          new RegExp(condition.matches)
        } catch (error) {
          problems.push({
            field: at(index, 'condition.matches'),
            message: `Step "${step.key}": ${(error as Error).message}`,
            code: 'bad_regex',
          })
        }
      }
      if (condition.pointer !== undefined && condition.op !== 'exists' && condition.value === undefined)
        problems.push({
          field: at(index, 'condition.value'),
          message: `Step "${step.key}": a pointer condition needs a value to compare with.`,
          code: 'condition_value',
        })
    }
  })
  // With duplicate keys the graph is ambiguous: those are named first, cycles after they are fixed.
  if (duplicates) return problems
  // Cycles: a step on one is never ready. Kahn's algorithm leaves exactly the steps on or after one.
  const remaining = new Map(
    [...deps].map(([key, list]) => [key, list.filter((dep) => keys.has(dep) && dep !== key).length]),
  )
  const dependants = dependantsOf(steps)
  const ready = [...remaining].filter(([, count]) => count === 0).map(([key]) => key)
  while (ready.length > 0) {
    const key = ready.pop()!
    remaining.delete(key)
    for (const next of dependants.get(key) ?? []) {
      const count = (remaining.get(next) ?? 0) - 1
      remaining.set(next, count)
      if (count === 0) ready.push(next)
    }
  }
  steps.forEach((step, index) => {
    if (remaining.has(step.key) && !(deps.get(step.key) ?? []).includes(step.key))
      problems.push({
        field: at(index, 'dependsOn'),
        message: `Step "${step.key}" is on a cycle (or after one): it could never start.`,
        code: 'cycle',
      })
  })
  return problems
}

/** Throws 400 `pipeline_invalid` naming each bad step, or returns. */
export function checkDefinition(steps: readonly PipelineStep[], botExists: (id: string) => boolean): void {
  const problems = problemsOf(steps, botExists)
  if (problems.length > 0)
    throw new AppError(
      'pipeline_invalid',
      `The pipeline's steps have ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => p.message).join(' ')}`,
      400,
      { errors: problems },
    )
}
