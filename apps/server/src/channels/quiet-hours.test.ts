import { describe, expect, it } from 'vitest'
import { quietUntil } from './quiet-hours.ts'

const night = { start: '23:00', end: '07:00', timezone: 'Europe/Berlin' }
const at = (iso: string) => Date.parse(iso)

describe('quiet hours', () => {
  it('holds inside a window across midnight, and ends it at the next local end time', () => {
    // 23:30 Berlin (UTC+1 in winter) is 22:30 UTC: held until 07:00 Berlin = 06:00 UTC.
    expect(quietUntil(night, at('2026-12-03T22:30:00Z'))).toBe(at('2026-12-04T06:00:00Z'))
    // 02:00 Berlin, after midnight: the same morning.
    expect(quietUntil(night, at('2026-12-04T01:00:00Z'))).toBe(at('2026-12-04T06:00:00Z'))
    // 07:00 sharp and daytime: not quiet; 22:59 not yet.
    expect(quietUntil(night, at('2026-12-04T06:00:00Z'))).toBeUndefined()
    expect(quietUntil(night, at('2026-12-04T12:00:00Z'))).toBeUndefined()
    expect(quietUntil(night, at('2026-12-04T21:59:00Z'))).toBeUndefined()
  })

  it('follows a DST change: the night of the spring change is an hour shorter in UTC', () => {
    // 29 March 2026: Berlin goes from UTC+1 to UTC+2 at 02:00. 23:30 on the 28th is 22:30 UTC; 07:00
    // on the 29th is 05:00 UTC.
    expect(quietUntil(night, at('2026-03-28T22:30:00Z'))).toBe(at('2026-03-29T05:00:00Z'))
    // In the autumn (25 October 2026, back to UTC+1) 07:00 is 06:00 UTC.
    expect(quietUntil(night, at('2026-10-24T22:30:00Z'))).toBe(at('2026-10-25T06:00:00Z'))
  })

  it('holds in a daytime window, and never in an empty one', () => {
    const lunch = { start: '12:00', end: '13:30', timezone: 'UTC' }
    expect(quietUntil(lunch, at('2026-12-04T12:10:00Z'))).toBe(at('2026-12-04T13:30:00Z'))
    expect(quietUntil(lunch, at('2026-12-04T13:30:00Z'))).toBeUndefined()
    expect(
      quietUntil({ start: '08:00', end: '08:00', timezone: 'UTC' }, at('2026-12-04T08:00:00Z')),
    ).toBeUndefined()
  })
})
