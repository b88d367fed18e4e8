import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { dayOf, jitterOf, nextSlots, parseSchedule, ScheduleError, startOfDay } from './schedule-spec.ts'

const at = (iso: string) => Date.parse(iso)
const isos = (slots: number[]) => slots.map((s) => new Date(s).toISOString())

describe('schedule specs', () => {
  it('reads cron with seconds (6 fields) and without (5 fields)', () => {
    expect(isos(nextSlots(parseSchedule('*/20 * * * * *', 'UTC'), at('2026-05-01T10:00:05Z'), 3))).toEqual([
      '2026-05-01T10:00:20.000Z',
      '2026-05-01T10:00:40.000Z',
      '2026-05-01T10:01:00.000Z',
    ])
    expect(isos(nextSlots(parseSchedule('0 8 * * 1-5', 'UTC'), at('2026-05-01T09:00:00Z'), 2))).toEqual([
      '2026-05-04T08:00:00.000Z', // 1 May 2026 is a Friday: the next weekday 08:00 is Monday
      '2026-05-05T08:00:00.000Z',
    ])
  })

  it('reads nicknames and @every, aligned to the epoch so every process computes the same slots', () => {
    expect(isos(nextSlots(parseSchedule('@hourly', 'UTC'), at('2026-05-01T10:15:00Z'), 1))).toEqual([
      '2026-05-01T11:00:00.000Z',
    ])
    expect(isos(nextSlots(parseSchedule('@every 30s', 'UTC'), at('2026-05-01T10:00:10Z'), 2))).toEqual([
      '2026-05-01T10:00:30.000Z',
      '2026-05-01T10:01:00.000Z',
    ])
    const spec = parseSchedule('@every 2h', 'Europe/Berlin')
    expect(spec.latestAtOrBefore(at('2026-05-01T11:59:59Z'))).toBe(at('2026-05-01T10:00:00Z'))
    expect(spec.latestAtOrBefore(at('2026-05-01T12:00:00Z'))).toBe(at('2026-05-01T12:00:00Z'))
  })

  it('follows the wall clock across daylight-saving changes (Europe/Berlin)', () => {
    const daily = parseSchedule('30 2 * * *', 'Europe/Berlin')
    // 29 March 2026: 02:00 → 03:00, so 02:30 does not exist; the slot runs at the first valid time, 03:00 CEST.
    expect(isos(nextSlots(daily, at('2026-03-27T12:00:00Z'), 3))).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ])
    // 25 October 2026: 03:00 → 02:00, so 02:30 happens twice; the slot runs once, at the first.
    expect(isos(nextSlots(daily, at('2026-10-24T12:00:00Z'), 2))).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ])
    const morning = parseSchedule('0 9 * * *', 'America/New_York')
    expect(isos(nextSlots(morning, at('2026-03-07T15:00:00Z'), 2))).toEqual([
      '2026-03-08T13:00:00.000Z', // 09:00 EDT, the day clocks go forward
      '2026-03-09T13:00:00.000Z',
    ])
  })

  it('rejects bad schedules and zones with a message a person can act on', () => {
    for (const bad of [
      '61 * * * *',
      '* * * * * * *',
      'every day',
      '@every 0s',
      '@every 5 parsecs',
      '@fortnightly',
    ]) {
      expect(() => parseSchedule(bad, 'UTC'), bad).toThrow(ScheduleError)
    }
    expect(() => parseSchedule('@hourly', 'Mars/Olympus')).toThrow(/IANA time zone/)
    expect(() => parseSchedule('@every 500ms', 'UTC')).toThrow(/at least 1s/)
  })

  it('keeps jitter within [0, jitter) and the same for every process', () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        (id, slot, jitter) => {
          const value = jitterOf(id, slot, jitter)
          expect(value).toBeGreaterThanOrEqual(0)
          expect(value).toBeLessThan(jitter)
          expect(jitterOf(id, slot, jitter)).toBe(value)
        },
      ),
    )
    expect(jitterOf('bot', 1000, 0)).toBe(0)
    const spread = new Set(
      Array.from({ length: 200 }, (_, i) => Math.floor(jitterOf(`bot-${i}`, 0, 60_000) / 6000)),
    )
    expect(spread.size).toBe(10)
  })

  it('finds the start of the day and its date in a time zone', () => {
    expect(dayOf(at('2026-05-01T22:30:00Z'), 'Europe/Berlin')).toBe('2026-05-02')
    expect(startOfDay(at('2026-05-01T22:30:00Z'), 'Europe/Berlin')).toBe(at('2026-05-01T22:00:00Z'))
    expect(startOfDay(at('2026-05-01T22:30:00Z'), 'UTC')).toBe(at('2026-05-01T00:00:00Z'))
    expect(startOfDay(at('2026-05-02T00:00:00Z'), 'UTC')).toBe(at('2026-05-02T00:00:00Z'))
  })
})
