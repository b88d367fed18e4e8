import { sortedPercentile } from '../bench-place.ts'

/** p50 and p99 (nearest rank) of a sample, in its unit, and its size. */
export interface Summary {
  n: number
  p50: number
  p99: number
}

export function summarise(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  return { n: sorted.length, p50: sortedPercentile(sorted, 50), p99: sortedPercentile(sorted, 99) }
}
