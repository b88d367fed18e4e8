import { ApiError } from '@openorch/sdk'
import { describe, expect, it } from 'vitest'
import { describeError } from './errors.ts'
import { formatCountdown } from './format.ts'
import { type Translate, translate } from './i18n.tsx'
import { isClockTime, quietHoursInWords, timeZoneChoices } from './quiet-hours.ts'

const english: Translate = (key, vars) => translate('en', key, vars)
const german: Translate = (key, vars) => translate('de', key, vars)
const night = { start: '23:00', end: '07:00', timezone: 'Europe/Berlin' }

describe('quiet hours in words', () => {
  it('says when notifications are held, when the digest goes out, and whether urgent events come through', () => {
    expect(quietHoursInWords(night, true, english)).toBe(
      'Between 23:00 and 07:00 (Europe/Berlin) notifications are held and sent as one digest at 07:00; urgent events still come through.',
    )
    expect(quietHoursInWords(night, false, english)).toBe(
      'Between 23:00 and 07:00 (Europe/Berlin) notifications are held and sent as one digest at 07:00; nothing comes through before then.',
    )
    expect(quietHoursInWords(night, true, german)).toBe(
      'Zwischen 23:00 und 07:00 (Europe/Berlin) werden Benachrichtigungen zurückgehalten und um 07:00 als eine Zusammenfassung gesendet; dringende Ereignisse kommen trotzdem sofort.',
    )
  })

  it('says that nothing is held without quiet hours, or with a start equal to the end (the server holds nothing then)', () => {
    expect(quietHoursInWords(null, true, english)).toBe('No quiet hours: every notification is sent at once.')
    expect(quietHoursInWords({ ...night, end: '23:00' }, true, english)).toMatch(
      /^Start and end are the same/,
    )
  })

  it('takes the times the server takes: hours 00–23 and minutes, two digits each', () => {
    expect(['00:00', '07:05', '23:59'].every(isClockTime)).toBe(true)
    expect(['', '7:00', '24:00', '23:60', '23:00:00'].some(isClockTime)).toBe(false)
  })

  it('offers the browser’s zones sorted, with UTC and the current zone among them even if the browser does not list it', () => {
    const zones = timeZoneChoices('Asia/Calcutta')
    expect(zones).toContain('Europe/Berlin')
    expect(zones).toContain('UTC')
    expect(zones).toContain('Asia/Calcutta')
    expect(zones).toEqual([...zones].sort((a, b) => a.localeCompare(b)))
    expect(new Set(zones).size).toBe(zones.length)
  })
})

describe('a link code’s countdown', () => {
  it('shows minutes and seconds, rounded up, and never below zero', () => {
    expect(formatCountdown(600_000)).toBe('10:00')
    expect(formatCountdown(582_001)).toBe('9:43')
    expect(formatCountdown(5_000)).toBe('0:05')
    expect(formatCountdown(1)).toBe('0:01')
    expect(formatCountdown(-3_000)).toBe('0:00')
  })
})

describe('Telegram refusals in words', () => {
  it('words public_url_missing and telegram_failed and keeps the server’s detail beneath', () => {
    const refusal = (code: string, detail: string) =>
      new ApiError(
        400,
        { type: `https://openorch.dev/problems/${code}`, title: 'Bad Request', status: 400, code, detail },
        detail,
      )
    const missing = describeError(refusal('public_url_missing', 'send `url`'), english)
    expect(missing.message).toMatch(/public https address/)
    expect(missing.detail).toBe('send `url`')
    const failed = describeError(
      refusal('telegram_failed', 'Bad webhook: HTTPS url must be provided'),
      german,
    )
    expect(failed.message).toBe('Telegram hat die Änderung abgelehnt oder war nicht erreichbar.')
    expect(failed.detail).toBe('Bad webhook: HTTPS url must be provided')
    expect(describeError(refusal('person_required', 'x'), english).message).toMatch(/belongs to a person/)
  })
})
