import { channelRules } from '@openorch/contracts'
import { describe, expect, it } from 'vitest'
import { hasResults, ruleMatches } from './notify-rules.ts'

const outcomes = {
  newResult: { status: 'completed', isNew: true, output: { text: 'Air Max 90 for 35 €' } },
  sameResult: { status: 'completed', isNew: false, output: { text: 'Air Max 90 for 35 €' } },
  noResults: { status: 'completed', isNew: true, output: { text: 'NO_RESULTS: nothing under 40 €' } },
  emptyData: { status: 'completed', isNew: true, output: { text: '{"offers":[]}', data: { offers: [] } } },
  failed: { status: 'failed', isNew: null, output: null },
  timeout: { status: 'timeout', isNew: null, output: null },
  cancelled: { status: 'cancelled', isNew: null, output: null },
}

describe('notification rules', () => {
  it('decides every rule for every outcome', () => {
    const table = Object.fromEntries(
      channelRules.map((rule) => [
        rule,
        Object.entries(outcomes)
          .filter(([, outcome]) => ruleMatches(rule, outcome))
          .map(([name]) => name),
      ]),
    )
    expect(table).toEqual({
      always: ['newResult', 'sameResult', 'noResults', 'emptyData', 'failed', 'timeout', 'cancelled'],
      on_new: ['newResult', 'noResults', 'emptyData'],
      on_results: ['newResult', 'sameResult'],
      on_error: ['failed', 'timeout'],
      never: [],
    })
  })

  it('reads results from structured data before text, and the NO_RESULTS marker in text', () => {
    expect(hasResults({ text: 'x', data: [] })).toBe(false)
    expect(hasResults({ text: 'x', data: [{ id: 1 }] })).toBe(true)
    expect(hasResults({ text: 'x', data: { offers: [], note: 'none' } })).toBe(false)
    expect(hasResults({ text: 'x', data: { offers: [1] } })).toBe(true)
    expect(hasResults({ text: 'x', data: { price: 35 } })).toBe(true)
    expect(hasResults({ text: 'x', data: { price: null } })).toBe(false)
    expect(hasResults({ text: '   ' })).toBe(false)
    expect(hasResults({ text: 'no_results' })).toBe(false)
    expect(hasResults({ text: 'Found: no_results were expected' })).toBe(true)
    expect(hasResults(null)).toBe(false)
  })
})
