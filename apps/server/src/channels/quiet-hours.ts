import { Cron } from 'croner'

// Quiet hours (issue 14): a daily window, in a time zone, when a channel holds its notifications and
// sends one digest when the window ends. Local wall-clock times: a window across midnight works, and
// a DST change moves its end the way the clocks move (croner computes the next local occurrence).

export interface QuietHours {
  /** "23:00" */
  start: string
  /** "07:00" */
  end: string
  timezone: string
}

const minutesOf = (hhmm: string) => {
  const [hours, minutes] = hhmm.split(':').map(Number)
  return hours! * 60 + minutes!
}

/** The local minute of the day at `at` in `timezone`. */
function localMinute(at: number, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: timezone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(at))
  const value = (type: string) => Number(parts.find((part) => part.type === type)?.value ?? 0)
  return value('hour') * 60 + value('minute')
}

/** When the quiet window `at` falls in ends (epoch ms), or undefined when `at` is not in it. */
export function quietUntil(hours: QuietHours, at: number): number | undefined {
  const start = minutesOf(hours.start)
  const end = minutesOf(hours.end)
  if (start === end) return undefined
  const now = localMinute(at, hours.timezone)
  const inside = start < end ? now >= start && now < end : now >= start || now < end
  if (!inside) return undefined
  const [endHours, endMinutes] = hours.end.split(':')
  const next = new Cron(`${Number(endMinutes)} ${Number(endHours)} * * *`, {
    timezone: hours.timezone,
  }).nextRun(new Date(at))
  return next ? next.getTime() : undefined
}
