import { healthSchema, problemResponse, readinessSchema } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { type Kysely, sql } from 'kysely'
import { z } from 'zod'
import type { DialectName } from '../db/database.ts'
import { type MigrationFactory, pendingMigrations } from '../db/migrator.ts'
import { toError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import { noAuth } from './openapi.ts'
import { problemOf, sendProblem } from './problem.ts'

// Probes and metrics, outside /api/v1 and without an API key: load balancers, orchestrators and
// Prometheus call them. /metrics holds counts only (no tenant data); restrict it at the network edge
// (or a reverse proxy) if even those should stay private.

export interface SystemRoutesOptions {
  database: { db: Kysely<unknown>; dialect: DialectName }
  migrations: Record<string, MigrationFactory>
  metrics: Metrics
  /** How long /ready waits for the database before it says no. */
  readyTimeoutMs?: number
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const ready = { status: 'ready', checks: { database: 'ok', migrations: 'ok' } } as const

export const systemRoutes: FastifyPluginAsyncZod<SystemRoutesOptions> = async (app, options) => {
  const { database, migrations, metrics } = options
  const readyTimeoutMs = options.readyTimeoutMs ?? 3000
  // The migration set is fixed for the life of the process, so once the schema is current it stays
  // current; reading Kysely's migration state introspects the whole catalogue, too much for a probe.
  let schemaCurrent = false

  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        summary: 'Liveness: the process answers',
        security: noAuth,
        response: { 200: healthSchema },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/ready',
    {
      schema: {
        tags: ['system'],
        summary: 'Readiness: the database answers and no migration is pending',
        security: noAuth,
        response: {
          200: readinessSchema,
          503: problemResponse('Not ready (`not_ready`); `detail` says why.'),
        },
      },
    },
    async (request, reply) => {
      try {
        await withTimeout(sql`select 1`.execute(database.db), readyTimeoutMs, 'select 1')
      } catch (error) {
        request.log.warn({ err: toError(error) }, 'readiness: database check failed')
        return sendProblem(reply, problemOf(503, 'not_ready', 'The database does not answer.'))
      }
      if (schemaCurrent) return ready
      const pending = await withTimeout(
        pendingMigrations(database.db, database.dialect, migrations),
        readyTimeoutMs,
        'reading migrations',
      ).catch((error: unknown) => {
        request.log.warn({ err: toError(error) }, 'readiness: migration check failed')
        return undefined
      })
      if (pending === undefined)
        return sendProblem(reply, problemOf(503, 'not_ready', 'Could not read the migration state.'))
      if (pending.length > 0) {
        return sendProblem(
          reply,
          problemOf(503, 'not_ready', `${pending.length} migration(s) pending: ${pending.join(', ')}.`),
        )
      }
      schemaCurrent = true
      return ready
    },
  )

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (text exposition format); no API key',
        security: noAuth,
        response: {
          200: { description: 'Prometheus text.', content: { 'text/plain': { schema: z.string() } } },
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics()
      return reply.type(metrics.registry.contentType).send(text)
    },
  )
}
