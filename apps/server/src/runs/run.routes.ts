import {
  pageQuerySchema,
  problemResponse,
  type Run as RunJson,
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
import type { Run } from './run.types.ts'
import { listRunLog } from './run-log.store.ts'
import { searchSnippet } from './run-search.ts'

// /api/v1/runs: validate (contracts) → run service → reply. Every query is scoped by the caller's tenant.

export interface RunRoutesOptions {
  runs: RunService
  database: Db
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** The kernel's run (epoch ms, internal fields) as the API shows it (ISO times, DESIGN.md Run JSON). */
export function toRunJson(run: Run): RunJson {
  return {
    id: run.id,
    kind: run.kind,
    botId: run.botId,
    parentRunId: run.parentRunId,
    status: run.status,
    trigger: run.trigger,
    input: run.input ?? null,
    output: run.output ?? null,
    outputHash: run.outputHash,
    isNew: run.isNew,
    attempt: run.attempt,
    maxAttempts: run.maxAttempts,
    priority: run.priority,
    tokensIn: run.tokensIn,
    tokensOut: run.tokensOut,
    costUsd: run.costUsd,
    durationMs: run.durationMs,
    error: run.error ? { code: run.error.code, message: run.error.message } : null,
    waitReason: run.waitReason,
    correlationKey: run.correlationKey,
    waitUntil: iso(run.waitUntil),
    deadLettered: run.deadLettered,
    createdAt: new Date(run.createdAt).toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
  }
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

export const runRoutes: FastifyPluginAsyncZod<RunRoutesOptions> = async (app, { runs, database }) => {
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
      const { status, botId, q, limit, cursor } = request.query
      const page = await runs.list(request.auth.tenantId, { status, botId, q, limit, before: cursor })
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
        response: { 200: runSchema, ...oneErrors },
      },
    },
    async (request) => toRunJson(await runs.get(request.auth.tenantId, request.params.id)),
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
