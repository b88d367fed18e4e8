import { z } from 'zod'
import { nameText } from './text.ts'

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

export const operatingModeNames = ['normal', 'degraded', 'paused'] as const

export const operatingModeSchema = z
  .object({
    mode: z
      .enum(operatingModeNames)
      .describe(
        '`normal`; `degraded`: only runs of priority ≥ `minPriority` start, the rest wait; `paused`: nothing new starts, running runs finish, schedules keep recording their slots.',
      ),
    minPriority: z.number().int().nullable().describe('The degraded mode’s level; null in the other modes.'),
    reason: z.string().nullable().describe('Null for callers outside the default workspace.'),
    changedAt: z.iso.datetime().nullable().describe('Null: never changed (normal since the start).'),
    changedBy: z
      .object({ type: z.string(), id: z.string().nullable() })
      .nullable()
      .describe(
        'Who changed it: a `user`, an `api_key` or the command line (`cli`). Null for callers outside the default workspace.',
      ),
  })
  .meta({ id: 'OperatingMode' })

/**
 * `GET /api/v1/system/mode`: the cluster’s operating mode, for every signed-in caller (the dashboard’s banner).
 *
 * @example
 * const mode: OperatingMode = {
 *   mode: 'degraded', minPriority: 5, reason: 'Provider outage', changedAt: '2026-12-04T10:00:00.000Z',
 *   changedBy: { type: 'user', id: 'usr_01' },
 * }
 */
export type OperatingMode = z.infer<typeof operatingModeSchema>

export const operatingModeUpdateSchema = z
  .strictObject({
    mode: z.enum(operatingModeNames),
    minPriority: z
      .number()
      .int()
      .min(-100)
      .max(100)
      .nullable()
      .optional()
      .describe(
        'Degraded only: runs of at least this priority start (default 1). Bots’ priorities are -100..100.',
      ),
    reason: nameText(1, 500)
      .nullable()
      .optional()
      .describe(
        'Shown in the dashboard’s banner; one line without control, bidi-control or invisible characters.',
      ),
  })
  .meta({ id: 'OperatingModeUpdate' })

/** The body of `PUT /api/v1/system/mode` (owners of the default workspace). */
export type OperatingModeUpdate = z.infer<typeof operatingModeUpdateSchema>

export const systemProcessSchema = z.object({
  id: z.string(),
  hostname: z.string(),
  pid: z.number().int(),
  roles: z.array(z.string()),
  version: z.string(),
  startedAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  alive: z.boolean().describe('Seen within the last 30 seconds.'),
  self: z.boolean().describe('The process that answered this request.'),
})

export const systemInfoSchema = z
  .object({
    version: z.string(),
    commit: z
      .string()
      .nullable()
      .describe('The build’s git commit (OPENORCH_COMMIT, or the checkout’s), if known.'),
    node: z.string(),
    startedAt: z.iso.datetime(),
    uptimeSeconds: z.number(),
    database: z.object({
      engine: z.enum(['sqlite', 'postgres']),
      version: z.string(),
      sizeBytes: z.number().nullable(),
      rowLevelSecurity: z
        .enum(['enforced', 'bypassed', 'incomplete', 'unsupported'])
        .describe(
          'PostgreSQL: `enforced` when the policies per workspace bind the role the server connects as; `bypassed` when it is a superuser or has BYPASSRLS (connect as an application role instead, see docs/operations.md); `incomplete` when a workspace table has row-level security switched off or not forced (someone changed the schema by hand: migration 0038 says what it should be). SQLite: `unsupported`.',
        ),
    }),
    schema: z.object({
      version: z.string().nullable().describe('The newest migration applied.'),
      known: z.string().describe('The newest migration this build knows.'),
      pending: z.number().int(),
    }),
    mode: operatingModeSchema,
    processes: z.array(systemProcessSchema),
    queue: z.object({
      due: z.number().int().describe('Pending runs whose time has come, all workspaces.'),
      oldestDueSeconds: z.number().nullable(),
      running: z.number().int(),
      waiting: z.number().int(),
      deadLetters: z.number().int(),
    }),
    providers: z
      .array(
        z.object({
          name: z.string(),
          status: z
            .enum(['valid', 'failing'])
            .describe('The last check or call: `failing` names a refused key or a down provider.'),
          circuit: z.enum(['closed', 'open', 'half_open']),
        }),
      )
      .describe('This workspace’s providers.'),
    channels: z
      .array(z.object({ id: z.string(), name: z.string(), type: z.string(), status: z.string() }))
      .describe('This workspace’s channels.'),
  })
  .meta({ id: 'SystemInfo' })

/** `GET /api/v1/system` (admins of the default workspace): how the installation is doing. */
export type SystemInfo = z.infer<typeof systemInfoSchema>
