import { problemResponse, schedulePreviewQuerySchema, schedulePreviewSchema } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Clock } from '../platform/clock.ts'
import { AppError } from '../platform/errors.ts'
import { nextSlots, parseSchedule, ScheduleError } from './schedule-spec.ts'

// GET /api/v1/schedules/preview: the next fire times of a schedule in a time zone, for the dashboard's
// cron helper. It reads nothing and writes nothing; the same parser as the scheduler, so what the
// helper shows is what will fire.

export interface ScheduleRoutesOptions {
  clock: Pick<Clock, 'now'>
}

export const scheduleRoutes: FastifyPluginAsyncZod<ScheduleRoutesOptions> = async (app, { clock }) => {
  app.get(
    '/schedules/preview',
    {
      schema: {
        tags: ['bots'],
        summary: 'Preview a schedule',
        description:
          'The next `count` fire times (default 5) of a cron, nickname or `@every` schedule in a time zone, ' +
          'without jitter. An invalid schedule or time zone answers 400 `invalid_schedule` with the reason.',
        querystring: schedulePreviewQuerySchema,
        response: {
          200: schedulePreviewSchema,
          400: problemResponse('Invalid schedule or time zone (`invalid_schedule`, `validation_failed`).'),
          401: problemResponse('No valid API key.'),
        },
      },
    },
    async (request) => {
      const { schedule, timezone, count } = request.query
      try {
        const spec = parseSchedule(schedule, timezone)
        return {
          schedule,
          timezone,
          nextRuns: nextSlots(spec, clock.now(), count).map((at) => new Date(at).toISOString()),
        }
      } catch (error) {
        if (!(error instanceof ScheduleError)) throw error
        const field = error.message.includes('time zone') ? 'timezone' : 'schedule'
        throw new AppError('invalid_schedule', error.message, 400, {
          errors: [{ field, message: error.message }],
        })
      }
    },
  )
}
