import { z } from 'zod'

// The dashboard's cron helper: GET /api/v1/schedules/preview → the next fire times of a schedule.

export const schedulePreviewQuerySchema = z.object({
  schedule: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .describe('Cron (5 or 6 fields), `@hourly`/`@daily`/…, or `@every 30s` — as a bot’s `schedule`.'),
  timezone: z.string().min(1).max(64).default('UTC').describe('IANA time zone the schedule follows.'),
  count: z.coerce.number().int().min(1).max(20).default(5).describe('How many fire times (1 to 20).'),
})

/**
 * The query of `GET /api/v1/schedules/preview`.
 *
 * @example
 * const query: SchedulePreviewQuery = { schedule: '0 8 * * 1-5', timezone: 'Europe/Berlin', count: 5 }
 */
export type SchedulePreviewQuery = z.input<typeof schedulePreviewQuerySchema>

export const schedulePreviewSchema = z
  .object({
    schedule: z.string(),
    timezone: z.string(),
    nextRuns: z.array(z.iso.datetime()).describe('The next fire times after now, as UTC ISO timestamps.'),
  })
  .meta({ id: 'SchedulePreview', description: 'When a schedule fires next.' })

/**
 * The answer of `GET /api/v1/schedules/preview`.
 *
 * @example
 * const preview: SchedulePreview = { schedule: '@hourly', timezone: 'UTC', nextRuns: ['2026-01-01T09:00:00.000Z'] }
 */
export type SchedulePreview = z.infer<typeof schedulePreviewSchema>
