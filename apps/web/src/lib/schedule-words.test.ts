import { describe, expect, it } from 'vitest'
import { scheduleInWords } from './schedule-words.ts'

describe('scheduleInWords', () => {
  it.each([
    [null, 'only when started by hand', 'nur von Hand gestartet'],
    ['@hourly', 'every hour', 'stündlich'],
    ['@daily', 'every day at midnight', 'täglich um Mitternacht'],
    ['@every 30s', 'every 30 seconds', 'alle 30 Sekunden'],
    ['@every 1h', 'every hour', 'jede Stunde'],
    ['@every 5m', 'every 5 minutes', 'alle 5 Minuten'],
    ['* * * * *', 'every minute', 'jede Minute'],
    ['*/15 * * * *', 'every 15 minutes', 'alle 15 Minuten'],
    ['0 * * * *', 'every hour', 'stündlich'],
    ['30 * * * *', 'every hour at :30', 'stündlich um :30'],
    ['0 */2 * * *', 'every 2 hours', 'alle 2 Stunden'],
    ['0 8 * * *', 'every day at 08:00', 'täglich um 08:00'],
    ['0 8,18 * * *', 'every day at 08:00 and 18:00', 'täglich um 08:00 und 18:00'],
    ['0 8 * * 1-5', 'weekdays at 08:00', 'werktags um 08:00'],
    ['0 10 * * 6,0', 'weekends at 10:00', 'am Wochenende um 10:00'],
    ['0 9 * * 1', 'every Monday at 09:00', 'jeden Montag um 09:00'],
    ['0 9 * * 1,5', 'every Monday and Friday at 09:00', 'jeden Montag und Freitag um 09:00'],
    ['0 7 1 * *', 'on the 1st of every month at 07:00', 'am 1. jedes Monats um 07:00'],
    ['0 0 8 * * *', 'every day at 08:00', 'täglich um 08:00'],
    ['*/10 * * * * *', 'every 10 seconds', 'alle 10 Sekunden'],
    ['0 8 * 1 *', 'custom: 0 8 * 1 *', 'eigener Zeitplan: 0 8 * 1 *'],
  ])('%s → "%s" / "%s"', (schedule, en, de) => {
    expect(scheduleInWords(schedule, 'en')).toBe(en)
    expect(scheduleInWords(schedule, 'de')).toBe(de)
  })
})
