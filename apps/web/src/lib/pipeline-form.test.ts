import { type Pipeline, pipelineCreateSchema, pipelineStepSchema } from '@openorch/contracts'
import { describe, expect, it } from 'vitest'
import {
  bodyOfForm,
  conditionFormOf,
  conditionOf,
  emptyForm,
  formOfPipeline,
  freshKey,
  graphStepsOf,
  moveStep,
  newStep,
  placeErrors,
  placeOfField,
  removeStep,
} from './pipeline-form.ts'

const pipeline: Pipeline = {
  id: 'p1',
  version: 3,
  name: 'Newsletter',
  description: 'Weekly.',
  emoji: '📰',
  schedule: '0 9 * * 1',
  timezone: 'Europe/Berlin',
  enabled: true,
  missedRunPolicy: 'catch_up_one',
  overlapPolicy: 'buffer_one',
  jitterSeconds: 30,
  errorPolicy: 'skip',
  maxRuntimeSeconds: 7200,
  steps: pipelineStepSchema.array().parse([
    { key: 'scout', bot: 'b1' },
    { key: 'write', bot: 'b2', inputMode: 'merge', approval: { required: true, expiresAfterSeconds: 3600 } },
    {
      key: 'check',
      bot: 'b3',
      dependsOn: ['scout'],
      condition: { step: 'scout', status: 'completed', contains: 'offer' },
      errorPolicy: 'retry',
    },
    {
      key: 'price',
      bot: 'b3',
      dependsOn: [],
      condition: { pointer: '/offers/0/price', op: 'lt', value: 50 },
    },
    { key: 'send', bot: 'b1', dependsOn: ['write', 'check'], inputMode: 'independent' },
  ]),
  nextRunAt: null,
  lastRun: { id: 'r9', status: 'completed', createdAt: '2025-01-06T09:00:00.000Z', finishedAt: null },
  createdAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T00:00:00.000Z',
}

describe('the pipeline form', () => {
  it('sends back exactly the definition it loaded (what the API would store)', () => {
    const body = bodyOfForm(formOfPipeline(pipeline))
    const parsed = pipelineCreateSchema.parse(body)
    expect(parsed.steps).toEqual(pipeline.steps)
    const {
      id: _,
      version: _v,
      nextRunAt: _n,
      lastRun: _l,
      createdAt: _c,
      updatedAt: _u,
      ...fields
    } = pipeline
    expect(parsed).toEqual(fields)
  })

  it('reads dependencies as "after the step before", "with the pipeline" or chosen steps', () => {
    const form = formOfPipeline(pipeline)
    const ids = form.steps.map((s) => s.id)
    expect(form.steps.map((s) => [s.key, s.startsAfter, s.dependsOn])).toEqual([
      ['scout', 'previous', []],
      ['write', 'previous', []],
      ['check', 'steps', [ids[0]]],
      ['price', 'start', []],
      ['send', 'steps', [ids[1], ids[2]]],
    ])
    expect(form.steps[1]).toMatchObject({ approval: true, expiresAfterMinutes: '60', onExpiry: 'reject' })
    // Chosen steps keep their list when switched away and back; only the chosen mode sends it.
    const step = { ...form.steps[4]!, startsAfter: 'previous' as const }
    expect(bodyOfForm({ ...form, steps: [step] }).steps[0]).not.toHaveProperty('dependsOn')
  })

  it('edits one test of a condition and keeps the others it was loaded with', () => {
    const form = conditionFormOf({ step: 'scout', status: 'completed', contains: 'offer', op: 'eq' })
    expect(form).toMatchObject({
      kind: 'status',
      value: 'completed',
      step: 'scout',
      kept: { contains: 'offer' },
    })
    expect(conditionOf({ ...form, kind: 'matches', value: '^yes' })).toEqual({
      step: 'scout',
      contains: 'offer',
      matches: '^yes',
      op: 'eq',
    })
    expect(conditionOf({ ...form, kind: 'none' })).toBeNull()
  })

  it('reads a pointer condition’s value as JSON, and plain text as a string', () => {
    const pointer = conditionFormOf({ pointer: '/price', op: 'lt', value: 50 })
    expect(pointer).toMatchObject({ kind: 'pointer', pointer: '/price', op: 'lt', value: '50' })
    expect(conditionOf(pointer)).toEqual({ pointer: '/price', op: 'lt', value: 50 })
    expect(conditionOf({ ...pointer, value: 'Berlin' })).toMatchObject({ value: 'Berlin' })
    // A string that looks like JSON is shown quoted, so it stays a string.
    const text = conditionFormOf({ pointer: '/zip', op: 'eq', value: '10115' })
    expect(text.value).toBe('"10115"')
    expect(conditionOf(text)).toMatchObject({ value: '10115' })
    expect(conditionOf({ ...pointer, op: 'exists', value: '' })).toEqual({ pointer: '/price', op: 'exists' })
  })

  it('holds references by step: a renamed step is renamed wherever it is named, even via a cleared key', () => {
    const form = formOfPipeline(pipeline)
    const [scout, write, check] = form.steps
    expect(check).toMatchObject({ dependsOn: [scout!.id], condition: { step: scout!.id } })
    const cleared = { ...form, steps: form.steps.map((s) => (s.id === scout!.id ? { ...s, key: '' } : s)) }
    const renamed = {
      ...cleared,
      steps: cleared.steps.map((s) => (s.id === scout!.id ? { ...s, key: 'find' } : s)),
    }
    const body = bodyOfForm(renamed)
    expect(body.steps[2]).toMatchObject({ dependsOn: ['find'], condition: { step: 'find' } })
    // "write" follows the step before, whatever its key: nothing names it.
    expect(graphStepsOf(renamed.steps).slice(0, 3)).toEqual([
      { key: 'find' },
      { key: 'write' },
      { key: 'check', dependsOn: ['find'] },
    ])
    expect(graphStepsOf(renamed.steps)[4]).toEqual({ key: 'send', dependsOn: ['write', 'check'] })
    expect(write!.id).not.toBe(check!.id)
  })

  it('removes a step with the references to it', () => {
    const steps = formOfPipeline(pipeline).steps
    const removed = removeStep(steps, steps[2]!.id)
    expect(removed.map((s) => s.key)).toEqual(['scout', 'write', 'price', 'send'])
    expect(removed[3]!.dependsOn).toEqual([steps[1]!.id])
    const noScout = removeStep(steps, steps[0]!.id)
    expect(noScout[1]).toMatchObject({ dependsOn: [], condition: { step: '', kind: 'status' } })
  })

  it('moves a step to another place, and refuses a move out of range', () => {
    expect(moveStep(['a', 'b', 'c'], 0, 2)).toEqual(['b', 'c', 'a'])
    expect(moveStep(['a', 'b', 'c'], 2, 1)).toEqual(['a', 'c', 'b'])
    expect(moveStep(['a', 'b', 'c'], 0, -1)).toEqual(['a', 'b', 'c'])
    expect(moveStep(['a', 'b', 'c'], 2, 3)).toEqual(['a', 'b', 'c'])
  })

  it('starts with one step and a free key for the next', () => {
    const form = emptyForm('Europe/Berlin')
    expect(form.steps.map((s) => s.key)).toEqual(['step-1'])
    expect(freshKey([...form.steps, newStep('step-3')])).toBe('step-4')
    expect(freshKey([newStep('step-2')])).toBe('step-3')
    expect(bodyOfForm({ ...form, name: ' N ', emoji: ' ', schedule: '  ' })).toMatchObject({
      name: 'N',
      emoji: null,
      schedule: null,
      timezone: 'Europe/Berlin',
    })
  })

  it('places server errors at the step and field they name', () => {
    expect(placeOfField('steps[2].dependsOn')).toEqual({ step: 2, field: 'dependsOn' })
    expect(placeOfField('body.steps.1.approval.expiresAfterSeconds')).toEqual({ step: 1, field: 'approval' })
    expect(placeOfField('steps[0].condition.matches')).toEqual({ step: 0, field: 'condition' })
    expect(placeOfField('steps.3')).toEqual({ step: 3, field: '' })
    expect(placeOfField('name')).toEqual({ step: null, field: 'name' })
    const placed = placeErrors(
      [
        { field: 'steps[1].dependsOn', message: 'Unknown step.' },
        { field: 'steps[1].dependsOn', message: 'On a cycle.' },
        { field: 'steps[0].bot', message: 'No such bot.' },
        { field: 'steps[9].key', message: 'Out of range.' },
        { field: 'body.name', message: 'Taken.' },
      ],
      ['s-a', 's-b'],
    )
    expect(placed.steps.get('s-b')?.get('dependsOn')).toBe('Unknown step. On a cycle.')
    expect(placed.steps.get('s-a')?.get('bot')).toBe('No such bot.')
    expect(Object.fromEntries(placed.pipeline)).toEqual({ steps: 'Out of range.', name: 'Taken.' })
  })
})
