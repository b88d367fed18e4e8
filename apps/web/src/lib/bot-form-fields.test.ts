import { botUpdateSchema } from '@openorch/contracts'
import { describe, expect, it } from 'vitest'
import {
  errorsUnder,
  fieldErrorsOf,
  fieldKey,
  moveItem,
  newOnComplete,
  startOf,
  targetOf,
} from './bot-form-fields.ts'

describe('the bot form’s lists', () => {
  it('reads zod’s and the bot service’s field names as one key', () => {
    expect(fieldKey('body.fallbacks.1.model')).toBe('fallbacks[1].model')
    expect(fieldKey('fallbacks.0')).toBe('fallbacks[0]')
    expect(fieldKey('onComplete[0].start.botId')).toBe('onComplete[0].start.botId')
    expect(fieldKey('onComplete.2.start')).toBe('onComplete[2].start')
    expect(fieldKey('maxRetries')).toBe('maxRetries')
  })

  it('places each refusal at its row and field, joining several for one field', () => {
    const errors = fieldErrorsOf([
      { field: 'body.fallbacks.1.model', message: 'Too long.' },
      { field: 'onComplete[0].start.botId', message: 'Bot b9 does not exist in this workspace.' },
      { field: 'onComplete[0].start.botId', message: 'Again.' },
      { field: 'onComplete[10].when', message: 'Invalid option.' },
      { field: 'name', message: 'taken' },
    ])
    expect(errors.get('fallbacks[1].model')).toBe('Too long.')
    expect(errors.get('name')).toBe('taken')
    expect(errorsUnder(errors, 'onComplete[0].start')).toBe('Bot b9 does not exist in this workspace. Again.')
    expect(errorsUnder(errors, 'onComplete[1]')).toBeUndefined()
    // `onComplete[1]` is not a prefix of `onComplete[10]`.
    expect(errorsUnder(errors, 'onComplete[10]')).toBe('Invalid option.')
    expect(errorsUnder(errors, 'fallbacks')).toBe('Too long.')
  })

  it('moves a fallback up and down within the list, and nowhere past its ends', () => {
    const list = ['a', 'b', 'c']
    expect(moveItem(list, 2, 1)).toEqual(['a', 'c', 'b'])
    expect(moveItem(list, 0, 1)).toEqual(['b', 'a', 'c'])
    expect(moveItem(list, 0, -1)).toEqual(['a', 'b', 'c'])
    expect(moveItem(list, 2, 3)).toEqual(['a', 'b', 'c'])
    expect(list).toEqual(['a', 'b', 'c'])
  })

  it('builds rules the API accepts, for a bot or a pipeline', () => {
    const first = newOnComplete(['b1', 'b2'], ['p1'])
    expect(first).toEqual({ start: { botId: 'b1' }, when: 'always', passOutput: true })
    expect(newOnComplete([], ['p1']).start).toEqual({ pipelineId: 'p1' })
    expect(targetOf({ ...first, start: startOf('pipeline', 'p7') })).toEqual({ kind: 'pipeline', id: 'p7' })
    expect(targetOf(first)).toEqual({ kind: 'bot', id: 'b1' })
    const parsed = botUpdateSchema.parse({
      onComplete: [first, { start: startOf('pipeline', 'p1'), when: 'on_new', passOutput: false }],
      fallbacks: [{ provider: 'anthropic', model: 'claude-3-5-haiku-latest' }],
    })
    expect(parsed.onComplete).toHaveLength(2)
    expect(parsed.fallbacks).toEqual([{ provider: 'anthropic', model: 'claude-3-5-haiku-latest' }])
  })
})
