import vm from 'node:vm'
import type { PipelineCondition } from '@openorch/contracts'

// Whether a step's condition holds, from the step it looks at. A regular expression comes from a
// person but runs over a model's output: it gets 50 ms (a catastrophic pattern stops and counts as
// no match) instead of a worker's whole event loop.

export const regexTimeLimitMs = 50

export interface LookedAt {
  status: 'completed' | 'failed' | 'skipped'
  /** The output's text (`output.text`), empty when there is none. */
  text: string
  /** The structured output (`output.data`), when the bot has an output schema. */
  data: unknown
}

export type ConditionOutcome = { holds: true } | { holds: false; reason: string }

export function evaluateCondition(condition: PipelineCondition, step: LookedAt): ConditionOutcome {
  if (condition.status !== undefined && step.status !== condition.status)
    return { holds: false, reason: `status is ${step.status}, not ${condition.status}` }
  if (condition.contains !== undefined && !step.text.includes(condition.contains))
    return { holds: false, reason: `the output does not contain "${condition.contains}"` }
  if (condition.equals !== undefined && step.text.trim() !== condition.equals)
    return { holds: false, reason: `the output is not "${condition.equals}"` }
  if (condition.matches !== undefined) {
    const matched = matchesWithin(condition.matches, step.text)
    if (matched !== true)
      return {
        holds: false,
        reason:
          matched === 'timeout'
            ? `the pattern /${condition.matches}/ took longer than ${regexTimeLimitMs} ms and counts as no match`
            : `the output does not match /${condition.matches}/`,
      }
  }
  if (condition.pointer !== undefined) {
    const found = resolvePointer(step.data, condition.pointer)
    const op = condition.op ?? 'eq'
    if (!compare(found, op, condition.value))
      return {
        holds: false,
        reason: `${condition.pointer} is ${found === undefined ? 'missing' : JSON.stringify(found)}, not ${op} ${JSON.stringify(condition.value ?? null)}`,
      }
  }
  return { holds: true }
}

function matchesWithin(pattern: string, text: string): boolean | 'timeout' {
  let regex: RegExp
  try {
    regex = new RegExp(pattern)
  } catch {
    return false
  }
  try {
    return vm.runInNewContext('regex.test(text)', { regex, text }, { timeout: regexTimeLimitMs }) === true
  } catch {
    return 'timeout'
  }
}

/** RFC 6901: `/offers/0/price` in `{ offers: [{ price: 35 }] }` is 35; undefined when absent. */
export function resolvePointer(value: unknown, pointer: string): unknown {
  if (pointer === '') return value
  let current = value
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(current)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined
      current = current[Number(token)]
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token]
    } else return undefined
  }
  return current
}

function compare(found: unknown, op: NonNullable<PipelineCondition['op']>, value: unknown): boolean {
  if (op === 'exists') return found !== undefined && found !== null
  if (op === 'eq') return deepEqual(found, value)
  if (op === 'ne') return !deepEqual(found, value)
  // Order: numbers with numbers, strings with strings; anything else does not compare.
  const bothNumbers = typeof found === 'number' && typeof value === 'number'
  const bothStrings = typeof found === 'string' && typeof value === 'string'
  if (!bothNumbers && !bothStrings) return false
  const a = found as number | string
  const b = value as number | string
  return op === 'gt' ? a > b : op === 'gte' ? a >= b : op === 'lt' ? a < b : a <= b
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    )
  return value
}
