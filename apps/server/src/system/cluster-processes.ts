import os from 'node:os'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { toError } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import type { Logger } from '../platform/logger.ts'

// The processes sharing the database (issue 16, GET /api/v1/system): each writes its row at start and
// every `intervalMs`, and deletes it when it stops. A row not refreshed for `aliveMs` is a process
// that died without saying goodbye; rows silent for an hour are removed by whoever beats next.

export const processAliveMs = 30_000
const forgetAfterMs = 3_600_000

export interface ClusterProcess {
  id: string
  hostname: string
  pid: number
  roles: string[]
  version: string
  startedAt: number
  seenAt: number
}

export function createClusterPresence(deps: {
  database: Db
  clock: Clock
  log: Logger
  roles: readonly string[]
  version: string
  intervalMs?: number
}) {
  const id = newId()
  const startedAt = deps.clock.now()
  const db = deps.database.db
  let timer: NodeJS.Timeout | undefined

  async function beat(): Promise<void> {
    const now = deps.clock.now()
    const row = {
      hostname: os.hostname(),
      pid: process.pid,
      roles: JSON.stringify(deps.roles),
      version: deps.version,
      started_at: startedAt,
      seen_at: now,
    }
    await db
      .insertInto('cluster_processes')
      .values({ id, ...row })
      .onConflict((oc) => oc.column('id').doUpdateSet({ seen_at: now }))
      .execute()
    await db
      .deleteFrom('cluster_processes')
      .where('seen_at', '<', now - forgetAfterMs)
      .execute()
  }

  return {
    id,
    startedAt,
    async start(): Promise<void> {
      await beat()
      timer = setInterval(
        () =>
          void beat().catch((error) =>
            deps.log.warn({ err: toError(error) }, 'could not record this process’s heartbeat'),
          ),
        deps.intervalMs ?? 10_000,
      )
      timer.unref()
    },
    async stop(): Promise<void> {
      clearInterval(timer)
      await db
        .deleteFrom('cluster_processes')
        .where('id', '=', id)
        .execute()
        .catch(() => {})
    },
    async list(): Promise<ClusterProcess[]> {
      const rows = await db.selectFrom('cluster_processes').selectAll().orderBy('started_at').execute()
      return rows.map((row) => ({
        id: row.id,
        hostname: row.hostname,
        pid: Number(row.pid),
        roles: JSON.parse(row.roles) as string[],
        version: row.version,
        startedAt: Number(row.started_at),
        seenAt: Number(row.seen_at),
      }))
    },
  }
}

export type ClusterPresence = ReturnType<typeof createClusterPresence>
