// A bot's schedule in words ("every hour", "weekdays at 08:00"), in English and German. Covers the
// shapes people write; anything else is shown as "custom: <cron>". The cron helper's preview (next
// five fire times from the server) stays the authority.

export type Lang = 'en' | 'de'

interface Phrases {
  manual: string
  everySecond: string
  everyMinute: string
  everyHour: string
  everyDay: string
  everyWeek: string
  everyMonth: string
  everyYear: string
  everyN: (n: number, unit: 'second' | 'minute' | 'hour' | 'day') => string
  hourlyAt: (minute: number) => string
  everyNHoursAt: (n: number, minute: number) => string
  dailyAt: (times: string) => string
  weekdaysAt: (times: string) => string
  weekendsAt: (times: string) => string
  daysAt: (days: string, times: string) => string
  monthlyAt: (day: number, times: string) => string
  and: string
  custom: (text: string) => string
}

const unitsEn = { second: 'seconds', minute: 'minutes', hour: 'hours', day: 'days' }
const unitsDe = { second: 'Sekunden', minute: 'Minuten', hour: 'Stunden', day: 'Tage' }
const oneDe = { second: 'jede Sekunde', minute: 'jede Minute', hour: 'jede Stunde', day: 'jeden Tag' }

const phrases: Record<Lang, Phrases> = {
  en: {
    manual: 'only when started by hand',
    everySecond: 'every second',
    everyMinute: 'every minute',
    everyHour: 'every hour',
    everyDay: 'every day at midnight',
    everyWeek: 'every Sunday at midnight',
    everyMonth: 'on the 1st of every month at midnight',
    everyYear: 'every 1 January at midnight',
    everyN: (n, unit) => (n === 1 ? `every ${unit}` : `every ${n} ${unitsEn[unit]}`),
    hourlyAt: (m) => (m === 0 ? 'every hour' : `every hour at :${pad(m)}`),
    everyNHoursAt: (n, m) => `every ${n} hours${m === 0 ? '' : ` at :${pad(m)}`}`,
    dailyAt: (t) => `every day at ${t}`,
    weekdaysAt: (t) => `weekdays at ${t}`,
    weekendsAt: (t) => `weekends at ${t}`,
    daysAt: (d, t) => `every ${d} at ${t}`,
    monthlyAt: (day, t) => `on the ${ordinalEn(day)} of every month at ${t}`,
    and: 'and',
    custom: (text) => `custom: ${text}`,
  },
  de: {
    manual: 'nur von Hand gestartet',
    everySecond: 'jede Sekunde',
    everyMinute: 'jede Minute',
    everyHour: 'stündlich',
    everyDay: 'täglich um Mitternacht',
    everyWeek: 'jeden Sonntag um Mitternacht',
    everyMonth: 'am 1. jedes Monats um Mitternacht',
    everyYear: 'jedes Jahr am 1. Januar um Mitternacht',
    everyN: (n, unit) => (n === 1 ? oneDe[unit] : `alle ${n} ${unitsDe[unit]}`),
    hourlyAt: (m) => (m === 0 ? 'stündlich' : `stündlich um :${pad(m)}`),
    everyNHoursAt: (n, m) => `alle ${n} Stunden${m === 0 ? '' : ` um :${pad(m)}`}`,
    dailyAt: (t) => `täglich um ${t}`,
    weekdaysAt: (t) => `werktags um ${t}`,
    weekendsAt: (t) => `am Wochenende um ${t}`,
    daysAt: (d, t) => `jeden ${d} um ${t}`,
    monthlyAt: (day, t) => `am ${day}. jedes Monats um ${t}`,
    and: 'und',
    custom: (text) => `eigener Zeitplan: ${text}`,
  },
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

function ordinalEn(n: number): string {
  const tens = n % 100
  if (tens >= 11 && tens <= 13) return `${n}th`
  return `${n}${({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th'}`
}

function list(items: string[], and: string): string {
  if (items.length <= 1) return items.join('')
  return `${items.slice(0, -1).join(', ')} ${and} ${items[items.length - 1]}`
}

function weekday(day: number, lang: Lang): string {
  // 4 January 1970 was a Sunday (cron's day 0 and 7).
  return new Intl.DateTimeFormat(lang, { weekday: 'long', timeZone: 'UTC' }).format(
    Date.UTC(1970, 0, 4 + (day % 7)),
  )
}

const isNumber = (field: string) => /^\d+$/.test(field)
const numbersOf = (field: string) => (/^\d+(,\d+)*$/.test(field) ? field.split(',').map(Number) : null)

export function scheduleInWords(schedule: string | null, lang: Lang): string {
  const p = phrases[lang]
  if (schedule === null || schedule.trim() === '') return p.manual
  const text = schedule.trim()
  const lower = text.toLowerCase()
  const nick: Record<string, string> = {
    '@hourly': p.everyHour,
    '@daily': p.everyDay,
    '@midnight': p.everyDay,
    '@weekly': p.everyWeek,
    '@monthly': p.everyMonth,
    '@yearly': p.everyYear,
    '@annually': p.everyYear,
  }
  if (nick[lower]) return nick[lower]
  const every = /^@every\s+(\d+)\s*(ms|s|m|h|d)$/i.exec(text)
  if (every) {
    const n = Number(every[1])
    const unit = every[2]!.toLowerCase()
    if (unit === 'ms') return p.custom(text)
    const units = { s: 'second', m: 'minute', h: 'hour', d: 'day' } as const
    return p.everyN(n, units[unit as keyof typeof units])
  }
  let fields = text.split(/\s+/)
  if (fields.length === 6) {
    const [seconds, ...rest] = fields
    if (seconds === '*' && rest.every((f) => f === '*')) return p.everySecond
    const stepSeconds = /^\*\/(\d+)$/.exec(seconds!)
    if (stepSeconds && rest.every((f) => f === '*')) return p.everyN(Number(stepSeconds[1]), 'second')
    if (seconds !== '0') return p.custom(text)
    fields = rest
  }
  if (fields.length !== 5) return p.custom(text)
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string]
  if (month !== '*') return p.custom(text)
  const anyDay = dom === '*' && dow === '*'
  if (minute === '*' && hour === '*' && anyDay) return p.everyMinute
  const stepMinutes = /^\*\/(\d+)$/.exec(minute)
  if (stepMinutes && hour === '*' && anyDay) return p.everyN(Number(stepMinutes[1]), 'minute')
  if (!isNumber(minute)) return p.custom(text)
  const m = Number(minute)
  if (hour === '*' && anyDay) return p.hourlyAt(m)
  const stepHours = /^\*\/(\d+)$/.exec(hour)
  if (stepHours && anyDay) return p.everyNHoursAt(Number(stepHours[1]), m)
  const hours = numbersOf(hour)
  if (!hours) return p.custom(text)
  const times = list(
    hours.map((h) => `${pad(h)}:${pad(m)}`),
    p.and,
  )
  if (anyDay) return p.dailyAt(times)
  if (dom === '*') {
    if (dow === '1-5' || dow === 'MON-FRI' || dow === 'mon-fri') return p.weekdaysAt(times)
    if (dow === '0,6' || dow === '6,0' || dow === '6,7' || dow === 'SAT,SUN') return p.weekendsAt(times)
    const days = numbersOf(dow)
    if (days?.every((d) => d <= 7))
      return p.daysAt(
        list(
          days.map((d) => weekday(d, lang)),
          p.and,
        ),
        times,
      )
    return p.custom(text)
  }
  if (dow === '*' && isNumber(dom)) return p.monthlyAt(Number(dom), times)
  return p.custom(text)
}
