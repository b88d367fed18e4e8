import { schedulePreviewSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { ManualClock } from '../platform/clock.ts'

describe.each(dialects)('schedule preview API on %s', (dialect) => {
  let t: TestApp
  const clock = new ManualClock(Date.parse('2026-03-28T22:30:00Z'))

  beforeEach(async () => {
    t = await createTestApp(dialect, { kernel: { clock } })
  })
  afterEach(async () => {
    await t.close()
  })

  const preview = (query: string, key = t.keys.viewer) =>
    t.app.inject({ url: `/api/v1/schedules/preview?${query}`, headers: bearer(key) })

  it('lists the next five fire times of a cron in the bot’s time zone, across a DST change', async () => {
    const response = await preview(
      `schedule=${encodeURIComponent('0 8 * * *')}&timezone=${encodeURIComponent('Europe/Berlin')}`,
    )
    expect(response.statusCode).toBe(200)
    const body = schedulePreviewSchema.parse(response.json())
    // 8:00 in Berlin is 07:00 UTC before 29 March 2026 and 06:00 UTC after the clocks go forward.
    expect(body.nextRuns).toEqual([
      '2026-03-29T06:00:00.000Z',
      '2026-03-30T06:00:00.000Z',
      '2026-03-31T06:00:00.000Z',
      '2026-04-01T06:00:00.000Z',
      '2026-04-02T06:00:00.000Z',
    ])
    expect(body).toMatchObject({ schedule: '0 8 * * *', timezone: 'Europe/Berlin' })
  })

  it('takes nicknames, @every and a count', async () => {
    const hourly = schedulePreviewSchema.parse((await preview('schedule=%40hourly&count=2')).json())
    expect(hourly.nextRuns).toEqual(['2026-03-28T23:00:00.000Z', '2026-03-29T00:00:00.000Z'])
    const every = schedulePreviewSchema.parse((await preview('schedule=%40every%2010m&count=3')).json())
    expect(every.nextRuns).toEqual([
      '2026-03-28T22:40:00.000Z',
      '2026-03-28T22:50:00.000Z',
      '2026-03-28T23:00:00.000Z',
    ])
  })

  it('answers problem+json naming the bad field for a bad schedule, time zone or count', async () => {
    const cron = await preview('schedule=61%20*%20*%20*%20*')
    expect(cron.statusCode).toBe(400)
    expect(cron.headers['content-type']).toContain('application/problem+json')
    expect(cron.json()).toMatchObject({ code: 'invalid_schedule', errors: [{ field: 'schedule' }] })
    expect(cron.json().detail).toContain('is not a valid schedule')

    const zone = await preview('schedule=%40hourly&timezone=Mars%2FOlympus')
    expect(zone.statusCode).toBe(400)
    expect(zone.json()).toMatchObject({ code: 'invalid_schedule', errors: [{ field: 'timezone' }] })

    const count = await preview('schedule=%40hourly&count=500')
    expect(count.statusCode).toBe(400)
    expect(count.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'count' }] })

    const missing = await preview('')
    expect(missing.statusCode).toBe(400)
    expect(missing.json()).toMatchObject({ code: 'validation_failed' })
  })

  it('needs an API key', async () => {
    const response = await t.app.inject({ url: '/api/v1/schedules/preview?schedule=%40hourly' })
    expect(response.statusCode).toBe(401)
  })
})
