import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backoffCeiling, maxRetryDelayMs, retryDelayMs } from './retry.ts'

describe('retry backoff', () => {
  it('doubles the ceiling per attempt up to the cap', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffCeiling(attempt, 100))).toEqual([100, 200, 400, 800])
    expect(backoffCeiling(60, 1000)).toBe(maxRetryDelayMs)
  })

  it('keeps full jitter within [0, ceiling) for any attempt and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, base, r) => {
          const delay = retryDelayMs(attempt, base, undefined, () => r)
          return delay >= 0 && delay < Math.max(1, backoffCeiling(attempt, base))
        },
      ),
    )
  })

  it('uses retryAfterMs as a floor', () => {
    expect(retryDelayMs(1, 100, 5000, () => 0.5)).toBe(5000)
    expect(retryDelayMs(5, 1000, 10, () => 0.5)).toBe(8000)
  })

  it('spreads delays: the mean grows with the attempt', () => {
    const mean = (attempt: number) => {
      let sum = 0
      for (let i = 0; i < 2000; i++) sum += retryDelayMs(attempt, 100, undefined)
      return sum / 2000
    }
    const [m1, m3, m5] = [mean(1), mean(3), mean(5)]
    expect(m1).toBeLessThan(m3)
    expect(m3).toBeLessThan(m5)
    expect(m5).toBeGreaterThan(600)
    expect(m5).toBeLessThan(1000)
  })
})
