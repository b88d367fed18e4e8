import fs from 'node:fs'
import path from 'node:path'
import type { SystemInfo } from '@openorch/contracts'
import { sql } from 'kysely'
import type { Db } from '../database.ts'
import { installationWideTables } from '../migrations/0038-row-level-security.ts'
import type { Clock } from '../platform/clock.ts'
import type { MigrationFactory } from '../platform/db/migrator.ts'
import type { ClusterPresence } from './cluster-processes.ts'
import { processAliveMs } from './cluster-processes.ts'
import type { OperatingModeService } from './operating-mode.ts'

// GET /api/v1/system (issue 16): what an operator asks first — which build, which database and how
// big, which schema, which processes are alive with which roles, how the queue is doing, and whether
// the workspace's providers and channels work. Queue figures are the whole installation's, which is
// why the route is for the installation's admins only.

export interface QueueFigures {
  due: number
  oldestDueAt: number | null
  running: number
  waiting: number
  deadLetters: number
}

export interface SystemServiceDeps {
  database: Db
  clock: Clock
  version: string
  migrations: Record<string, MigrationFactory>
  presence: ClusterPresence
  mode: OperatingModeService
  queue: (now: number) => Promise<QueueFigures>
  providers: (tenantId: string) => Promise<SystemInfo['providers']>
  channels: (tenantId: string) => Promise<SystemInfo['channels']>
  /** The SQLite file (its size, with its WAL); null on PostgreSQL. */
  sqlitePath: string | null
  /** OPENORCH_COMMIT, else the checkout's HEAD if the server runs from one. */
  commit: string | null
}

const iso = (ms: number) => new Date(ms).toISOString()

export function createSystemService(deps: SystemServiceDeps) {
  const { database } = deps
  const known = Object.keys(deps.migrations).sort().at(-1) ?? ''

  async function databaseFigures(): Promise<SystemInfo['database']> {
    if (database.dialect === 'postgres') {
      // Tables with a tenant_id whose policies are off or not forced (changed by hand after 0038).
      const { rows } = await sql<{ version: string; size: string; bypass: boolean; unprotected: number }>`
        SELECT current_setting('server_version') AS version,
          pg_database_size(current_database())::text AS size,
          (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS bypass,
          (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind = 'r'
              AND c.relname <> ALL(${[...installationWideTables]}::text[])
              AND EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity
                AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))) AS unprotected`.execute(
        database.db,
      )
      return {
        engine: 'postgres',
        version: rows[0]!.version,
        sizeBytes: Number(rows[0]!.size),
        rowLevelSecurity: rows[0]!.bypass ? 'bypassed' : rows[0]!.unprotected > 0 ? 'incomplete' : 'enforced',
      }
    }
    const { rows } = await sql<{ version: string }>`SELECT sqlite_version() AS version`.execute(database.db)
    const sizeOf = (file: string) => {
      try {
        return fs.statSync(file).size
      } catch {
        return 0
      }
    }
    const file = deps.sqlitePath
    return {
      engine: 'sqlite',
      version: rows[0]!.version,
      sizeBytes: file ? sizeOf(file) + sizeOf(`${file}-wal`) : null,
      rowLevelSecurity: 'unsupported',
    }
  }

  async function schemaFigures(): Promise<SystemInfo['schema']> {
    const { rows } = await sql<{ name: string }>`
      SELECT name FROM kysely_migration ORDER BY name`.execute(database.db)
    const applied = new Set(rows.map((row) => row.name))
    return {
      version: rows.at(-1)?.name ?? null,
      known,
      pending: Object.keys(deps.migrations).filter((name) => !applied.has(name)).length,
    }
  }

  return {
    async info(tenantId: string): Promise<SystemInfo> {
      const now = deps.clock.now()
      const [db, schema, processes, queue, providers, channels] = await Promise.all([
        databaseFigures(),
        schemaFigures(),
        deps.presence.list(),
        deps.queue(now),
        deps.providers(tenantId),
        deps.channels(tenantId),
      ])
      return {
        version: deps.version,
        commit: deps.commit,
        node: process.version,
        startedAt: iso(deps.presence.startedAt),
        uptimeSeconds: Math.round((now - deps.presence.startedAt) / 1000),
        database: db,
        schema,
        mode: deps.mode.current(),
        processes: processes.map((p) => ({
          id: p.id,
          hostname: p.hostname,
          pid: p.pid,
          roles: p.roles,
          version: p.version,
          startedAt: iso(p.startedAt),
          lastSeenAt: iso(p.seenAt),
          alive: now - p.seenAt <= processAliveMs,
          self: p.id === deps.presence.id,
        })),
        queue: {
          due: queue.due,
          oldestDueSeconds: queue.oldestDueAt === null ? null : Math.max(0, (now - queue.oldestDueAt) / 1000),
          running: queue.running,
          waiting: queue.waiting,
          deadLetters: queue.deadLetters,
        },
        providers,
        channels,
      }
    },
  }
}

export type SystemService = ReturnType<typeof createSystemService>

/**
 * The build's commit: OPENORCH_COMMIT (set by the image build), else the HEAD of the git checkout the
 * server runs from (development), else null.
 */
export function commitOf(env: NodeJS.ProcessEnv, from: string): string | null {
  const given = env.OPENORCH_COMMIT?.trim()
  if (given) return given
  let dir = from
  for (let depth = 0; depth < 6; depth++) {
    const git = path.join(dir, '.git')
    try {
      const head = fs.readFileSync(path.join(git, 'HEAD'), 'utf8').trim()
      if (!head.startsWith('ref: ')) return head
      const ref = head.slice(5)
      try {
        return fs.readFileSync(path.join(git, ref), 'utf8').trim()
      } catch {
        const packed = fs.readFileSync(path.join(git, 'packed-refs'), 'utf8')
        return (
          packed
            .split('\n')
            .find((line) => line.endsWith(` ${ref}`))
            ?.split(' ')[0] ?? null
        )
      }
    } catch {
      dir = path.dirname(dir)
    }
  }
  return null
}
