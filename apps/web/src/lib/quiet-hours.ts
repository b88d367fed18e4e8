import type { QuietHours } from '@openorch/contracts'
import type { Translate } from './i18n.tsx'

// Quiet hours in words, the way the server applies them (channels/quiet-hours.ts): a daily window of
// local times in a time zone, across midnight when the end is earlier than the start; the same start
// and end is no window at all. What arrives in the window waits for one digest at its end; the
// workspace's urgent events are sent at once anyway.

/** "23:00" and the like, as `<input type="time">` gives it and the server takes it. */
export const isClockTime = (value: string) => /^([01]\d|2[0-3]):[0-5]\d$/.test(value)

/** Whether these hours hold anything: a start equal to the end is no window (the server's rule). */
export const holdsNothing = (hours: QuietHours) => hours.start === hours.end

/** The sentence that says what quiet hours do; `null`: none, everything is sent at once. */
export function quietHoursInWords(hours: QuietHours | null, hasUrgent: boolean, t: Translate): string {
  if (!hours) return t('channels.quiet.none')
  if (holdsNothing(hours)) return t('channels.quiet.same')
  const vars = { start: hours.start, end: hours.end, zone: hours.timezone }
  return hasUrgent ? t('channels.quiet.sentence', vars) : t('channels.quiet.sentenceNoUrgent', vars)
}

/** The IANA zones this browser knows, with `current` among them (an alias or an older name stays). */
export function timeZoneChoices(current: string): string[] {
  const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []
  const zones = new Set(known)
  zones.add('UTC')
  if (current) zones.add(current)
  return [...zones].sort((a, b) => a.localeCompare(b))
}
