// Lateness statistics shared by openOrchestrator and the peers' cron measurements.

export interface Lateness {
  /** Slots whose fire time fell in the window. */
  expected: number
  /** Slots whose run (job) started. */
  started: number
  /** Slots recorded as skipped (overlap, queue full, missed policy). */
  skipped: number
  /** Slots that neither started nor were recorded as skipped within the grace after the window. */
  missed: number
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

/** Nearest-rank percentile of an ascending sample. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return Math.round(sorted[Math.min(rank, sorted.length) - 1]! * 100) / 100
}

export function summarise(lateness: number[], expected: number, skipped: number): Lateness {
  const sorted = [...lateness].sort((a, b) => a - b)
  return {
    expected,
    started: sorted.length,
    skipped,
    missed: Math.max(0, expected - sorted.length - skipped),
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
  }
}
