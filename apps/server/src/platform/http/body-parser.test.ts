import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { pathOfNul, scanJson } from './body-parser.ts'

/** The reference: depth and NUL of a parsed value, by recursion (fine for the small values generated). */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf))
  if (value !== null && typeof value === 'object')
    return 1 + Math.max(0, ...Object.values(value).map(depthOf))
  return 0
}
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (Array.isArray(value)) return value.some(hasNul)
  if (value !== null && typeof value === 'object')
    return Object.entries(value).some(([key, child]) => key.includes('\u0000') || hasNul(child))
  return false
}

// Strings full of what trips a hand-written scanner: quotes, backslashes, brackets, `u0000`, NUL.
const tricky = fc.string({
  unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', 'u', '0', '\u0000', 'a', '\n'),
  maxLength: 12,
})
const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    tricky,
    fc.integer(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(tricky, tie('value'), { maxKeys: 3 }),
  ),
})).value

describe('the JSON body scan', () => {
  it('agrees with JSON.parse on depth and NUL for any JSON text', () => {
    fc.assert(
      fc.property(values, fc.integer({ min: 0, max: 6 }), (value, maxDepth) => {
        const scan = scanJson(JSON.stringify(value), maxDepth)
        expect(scan.tooDeep).toBe(depthOf(value) > maxDepth)
        if (!scan.tooDeep) expect(scan.hasNul).toBe(hasNul(value))
      }),
      { numRuns: 2000 },
    )
  })

  it('names the first string or key holding NUL as a dotted path', () => {
    expect(pathOfNul({ a: ['x', { b: 'y\u0000' }] })).toBe('a.1.b')
    expect(pathOfNul({ a: 1, 'k\u0000': 2 })).toBe('k\\u0000')
    expect(pathOfNul('\u0000')).toBe('')
    expect(pathOfNul({ a: ['fine'] })).toBeUndefined()
  })
})
