import type { Lang } from './schedule-words.ts'

// Numbers, money, times and durations in the person's language.
//
// Formatters are made once per language and options: building an Intl formatter costs far more
// than using one, and a run history of 1,000 items formats five values each (measured in
// `npm run bench -- dashboard`: a "Load more" took a 700 ms long task before this cache).

const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>()

function cached<T extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>(
  key: string,
  make: () => T,
): T {
  let formatter = formatters.get(key) as T | undefined
  if (!formatter) {
    formatter = make()
    formatters.set(key, formatter)
  }
  return formatter
}

function numberFormat(lang: Lang, options: Intl.NumberFormatOptions = {}): Intl.NumberFormat {
  return cached(`n|${lang}|${JSON.stringify(options)}`, () => new Intl.NumberFormat(lang, options))
}

export function formatDateTime(iso: string | number, lang: Lang, timeZone?: string): string {
  return cached(
    `d|${lang}|${timeZone ?? ''}`,
    () =>
      new Intl.DateTimeFormat(lang, {
        dateStyle: 'medium',
        timeStyle: 'short',
        ...(timeZone ? { timeZone } : {}),
      }),
  ).format(new Date(iso))
}

export function formatRelative(iso: string, lang: Lang, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000)
  const rtf = cached(`r|${lang}`, () => new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }))
  const abs = Math.abs(seconds)
  if (abs < 45) return rtf.format(seconds, 'second')
  if (abs < 45 * 60) return rtf.format(Math.round(seconds / 60), 'minute')
  if (abs < 22 * 3600) return rtf.format(Math.round(seconds / 3600), 'hour')
  return rtf.format(Math.round(seconds / 86400), 'day')
}

/** "9:05": minutes and seconds left, rounded up, so a code is never shown as expired early. */
export function formatCountdown(msLeft: number): string {
  const seconds = Math.max(0, Math.ceil(msLeft / 1000))
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
}

export function formatUsd(value: number | null | undefined, lang: Lang): string {
  if (value === null || value === undefined) return '–'
  const small = value !== 0 && value < 0.01
  return numberFormat(lang, {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: small ? 4 : 2,
    maximumFractionDigits: small ? 6 : 2,
  }).format(value)
}

export function formatNumber(value: number | null | undefined, lang: Lang): string {
  if (value === null || value === undefined) return '–'
  return numberFormat(lang).format(value)
}

export function formatDuration(ms: number | null | undefined, lang: Lang): string {
  if (ms === null || ms === undefined) return '–'
  if (ms < 1000) return `${formatNumber(ms, lang)} ms`
  if (ms < 60_000) return `${numberFormat(lang, { maximumFractionDigits: 1 }).format(ms / 1000)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** The text of a run's output ({ text } for bots), or its JSON. */
export function outputText(output: unknown): string {
  if (output === null || output === undefined) return ''
  if (typeof output === 'string') return output
  if (typeof output === 'object' && output !== null && 'text' in output) {
    const text = (output as { text: unknown }).text
    if (typeof text === 'string') return text
  }
  return JSON.stringify(output, null, 2)
}

export function firstLine(text: string, max = 140): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? ''
  const plain = line.replace(/^[#>*\-\s]+/, '').trim()
  return plain.length > max ? `${plain.slice(0, max - 1)}…` : plain
}
