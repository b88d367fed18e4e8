import {
  pageQuerySchema,
  problemResponse,
  runIdParamsSchema,
  runListQuerySchema,
  runLogSchema,
  runPageSchema,
  runSchema,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Db } from '../database.ts'
import { requireRole } from '../platform/http/caller.ts'
import { parseJson } from './run.mapper.ts'
import type { RunService } from './run.service.ts'
import { listRunLog } from './run-log.store.ts'
import { searchSnippet } from './run-search.ts'
import { type RunKindView, runJsonOf, subjectFilterOf } from './run-view.ts'

// /api/v1/runs: validate (contracts) → run service → reply. Every query is scoped by the caller's tenant.

export interface RunRoutesOptions {
  runs: RunService
  database: Db
  /** How each kind's domain appears in the Run JSON (run-view.ts). */
  views: readonly RunKindView[]
}

const listErrors = {
  400: problemResponse('Invalid query (every bad field is listed in `errors`).'),
  401: problemResponse('No valid API key.'),
}
const oneErrors = {
  401: problemResponse('No valid API key.'),
  404: problemResponse('No such run in your workspace (`run_not_found`).'),
}
const changeErrors = {
  ...oneErrors,
  403: problemResponse('The API key is below the editor role (`forbidden`).'),
  409: problemResponse('The run is not in a state that allows this.'),
}

export const runRoutes: FastifyPluginAsyncZod<RunRoutesOptions> = async (app, { runs, database, views }) => {
  const toRunJson = runJsonOf(views)
  app.get(
    '/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'List runs',
        description:
          'Newest first, filtered by status, bot and a full-text search of the outputs (`q`, with a `snippet` per hit). Cursor pagination.',
        querystring: runListQuerySchema,
        response: { 200: runPageSchema, ...listErrors },
      },
    },
    async (request) => {
      const { status, q, limit, cursor } = request.query
      const subjectId = subjectFilterOf(views, request.query)
      const page = await runs.list(request.auth.tenantId, { status, subjectId, q, limit, before: cursor })
      const items = page.items.map((run) => {
        const json = toRunJson(run)
        const snippet = q === undefined ? undefined : searchSnippet(run.output, q)
        return snippet ? { ...json, snippet } : json
      })
      return { items, nextCursor: page.nextCursor }
    },
  )

  app.get(
    '/runs/dead-letters',
    {
      schema: {
        tags: ['runs'],
        summary: 'List dead-lettered runs',
        description: 'Runs that failed for good after their retries, newest first. Retry them by hand.',
        querystring: pageQuerySchema,
        response: { 200: runPageSchema, ...listErrors },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const page = await runs.list(request.auth.tenantId, { deadLettered: true, limit, before: cursor })
      return { items: page.items.map(toRunJson), nextCursor: page.nextCursor }
    },
  )

  app.get(
    '/runs/:id',
    {
      schema: {
        tags: ['runs'],
        summary: 'Get a run',
        params: runIdParamsSchema,
        description:
          'A domain may add its own state when one run is read: a pipeline run also carries `pipelineVersion` and `steps` (see PipelineRun).',
        // Loose: the fields a kind's domain adds (run-view.ts `detail`) pass through.
        response: { 200: runSchema.loose(), ...oneErrors },
      },
    },
    async (request) => {
      const run = await runs.get(request.auth.tenantId, request.params.id)
      const detail = views.find((view) => view.kind === run.kind)?.detail
      return { ...toRunJson(run), ...(detail ? await detail(request.auth.tenantId, run) : {}) }
    },
  )

  app.get(
    '/runs/:id/log',
    {
      schema: {
        tags: ['runs'],
        summary: 'Get a run’s log',
        description:
          'What the run did, attempt by attempt: context size, truncations, provider, model, errors.',
        params: runIdParamsSchema,
        response: { 200: runLogSchema, ...oneErrors },
      },
    },
    async (request) => {
      const run = await runs.get(request.auth.tenantId, request.params.id)
      const rows = await listRunLog(database.db, request.auth.tenantId, run.id)
      return {
        items: rows.map((row) => ({
          at: new Date(Number(row.created_at)).toISOString(),
          attempt: row.attempt,
          level: row.level as 'debug' | 'info' | 'warn' | 'error',
          message: row.message,
          data: (parseJson(row.data) as Record<string, unknown> | null) ?? null,
        })),
      }
    },
  )

  app.post(
    '/runs/:id/cancel',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['runs'],
        summary: 'Cancel a run',
        description:
          'Cancels a pending, waiting or running run; a running one is aborted where it runs. Needs editor.',
        params: runIdParamsSchema,
        response: { 200: runSchema, ...changeErrors },
      },
    },
    async (request) => toRunJson(await runs.cancel(request.auth.tenantId, request.params.id)),
  )

  app.post(
    '/runs/:id/retry',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['runs'],
        summary: 'Retry a run',
        description:
          'Queues a failed, timed-out or cancelled run again, with a fresh set of attempts. Needs editor.',
        params: runIdParamsSchema,
        response: { 200: runSchema, ...changeErrors },
      },
    },
    async (request) => toRunJson(await runs.retry(request.auth.tenantId, request.params.id)),
  )
}
