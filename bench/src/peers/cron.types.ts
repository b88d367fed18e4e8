import type { Lateness } from '../scheduler/lateness.ts'

/** How late a peer's cron starts its jobs, on the scheduler suite's workload. */
export interface CronPeerResult extends Lateness {
  system: string
  schedules: number
  peakRssMb: number
  notes: string
  /** Set when the measurement was not run (why). */
  notRun?: string
}

export interface CronPeerOptions {
  /** PostgreSQL connection string; each run creates (and drops) its own schema. */
  databaseUrl: string
  /** Cron entries, each firing every minute. */
  schedules: number
  /** Slots whose time falls in this many seconds after the worker started are measured. */
  seconds: number
  /** Worker concurrency. */
  concurrency: number
}

/** Jobs of slots in the window may start this long after it (later counts as missed). */
export const CRON_DRAIN_GRACE_MS = 60_000

/** Minute boundaries in [from, to): the slots of `* * * * *`. */
export function minuteSlotsIn(from: number, to: number): number[] {
  const slots: number[] = []
  for (let slot = Math.ceil(from / 60_000) * 60_000; slot < to; slot += 60_000) slots.push(slot)
  return slots
}
