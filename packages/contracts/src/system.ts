import { z } from 'zod'

// Probes for orchestrators and load balancers; they need no API key.

export const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' })

/**
 * `GET /health`: the process is alive.
 *
 * @example
 * const health: Health = { status: 'ok' }
 */
export type Health = z.infer<typeof healthSchema>

export const readinessSchema = z
  .object({
    status: z.literal('ready'),
    checks: z.object({ database: z.literal('ok'), migrations: z.literal('ok') }),
  })
  .meta({ id: 'Readiness' })

/**
 * `GET /ready`: the database answers and no migration is pending (else 503 problem+json).
 *
 * @example
 * const ready: Readiness = { status: 'ready', checks: { database: 'ok', migrations: 'ok' } }
 */
export type Readiness = z.infer<typeof readinessSchema>
