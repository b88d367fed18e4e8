import { Cron } from 'croner'

// A bot's schedule: cron (5 or 6 fields, seconds optional), a nickname (@hourly …) or `@every <n><unit>`.
// Cron follows the wall clock of its time zone (croner): on a spring-forward day a slot inside the
// skipped hour runs at the first valid time after it; on a fall-back day a slot in the repeated hour
// runs once, at its first occurrence (docs/decisions/0006-bots-and-scheduler.md).

export interface ScheduleSpec {
  /** The next slot strictly after `after` (epoch ms), or null when there is none. */
  nextAfter(after: number): number | null
  /** The latest slot at or before `at`, or null when there is none. */
  latestAtOrBefore(at: number): number | null
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const everyPattern = /^@every\s+(\d+)\s*(ms|s|m|h|d)$/i
const minIntervalMs = 1000

export class ScheduleError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ScheduleError'
  }
}

/** Checks an IANA time zone name against the runtime's time zone database. */
export function isValidTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone })
    return true
  } catch {
    return false
  }
}

/** The server's own time zone: the default of new bots. */
export function serverTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
}

/** Parses a schedule; throws ScheduleError with a message a person can act on. */
export function parseSchedule(schedule: string, timezone: string): ScheduleSpec {
  if (!isValidTimeZone(timezone))
    throw new ScheduleError(`"${timezone}" is not an IANA time zone (for example Europe/Berlin or UTC).`)
  const text = schedule.trim()
  const every = everyPattern.exec(text)
  if (every) {
    const interval = Number(every[1]) * units[every[2]!.toLowerCase()]!
    if (!Number.isSafeInteger(interval) || interval < minIntervalMs)
      throw new ScheduleError(
        'An @every interval must be at least 1s (for example "@every 30s" or "@every 5m").',
      )
    return intervalSpec(interval)
  }
  if (text.startsWith('@every'))
    throw new ScheduleError(
      'Write @every as a number and a unit: "@every 30s", "@every 5m", "@every 2h", "@every 1d".',
    )
  let cron: Cron
  try {
    cron = new Cron(text, { timezone, paused: true, mode: '5-or-6-parts' })
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error)
    throw new ScheduleError(
      `"${text}" is not a valid schedule (${reason}). Use cron with 5 or 6 fields ("0 * * * *", seconds first when 6), ` +
        '@hourly, @daily, @weekly, @monthly, @yearly, or "@every 30s".',
    )
  }
  if (cron.nextRun(new Date(0)) === null && cron.nextRun() === null)
    throw new ScheduleError(`"${text}" never fires.`)
  return cronSpec(cron)
}

/** Intervals are aligned to the epoch, so every process computes the same slots. */
function intervalSpec(interval: number): ScheduleSpec {
  return {
    nextAfter: (after) => (Math.floor(after / interval) + 1) * interval,
    latestAtOrBefore: (at) => Math.floor(at / interval) * interval,
  }
}

function cronSpec(cron: Cron): ScheduleSpec {
  return {
    nextAfter(after) {
      return cron.nextRun(new Date(after))?.getTime() ?? null
    },
    latestAtOrBefore(at) {
      // croner's previousRuns(n, reference) lists slots before the reference; +1 ms makes it inclusive.
      const [previous] = cron.previousRuns(1, new Date(at + 1))
      return previous ? previous.getTime() : null
    },
  }
}

/** The next `count` slots after `after` (the dashboard's cron helper, the API's nextRunAt). */
export function nextSlots(spec: ScheduleSpec, after: number, count: number): number[] {
  const slots: number[] = []
  let cursor = after
  while (slots.length < count) {
    const next = spec.nextAfter(cursor)
    if (next === null) break
    slots.push(next)
    cursor = next
  }
  return slots
}

/**
 * Jitter of a slot: the same for every process (a hash of bot and slot), spread over [0, jitterMs).
 * Deterministic, so two processes agree on when a slot fires and on its idempotency key.
 */
export function jitterOf(botId: string, slot: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0
  let hash = 2166136261
  const text = `${botId}:${slot}`
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 16777619)
  }
  return (hash >>> 0) % jitterMs
}

/** The calendar day (YYYY-MM-DD) of an instant in a time zone. */
export function dayOf(at: number, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at)
}

/** The instant the day of `at` began in `timezone` (its local midnight, or the first instant after a DST gap). */
export function startOfDay(at: number, timezone: string): number {
  const [previous] = new Cron('0 0 0 * * *', { timezone, paused: true }).previousRuns(1, new Date(at + 1))
  return previous ? previous.getTime() : at - (at % 86_400_000)
}
