/**
 * pg-boss's `schedule()` on the scheduler suite's workload, on a throwaway schema `bench_pgbcron_<random>`.
 *
 * pg-boss 10 keys a schedule by its queue name, and every queue is a partition table of its own (seven
 * relations with its indexes): N schedules are N queues, each `schedule(name, '* * * * *')` (minute
 * granularity) with one `work()` polling loop. Everything else is pg-boss's defaults: the cron monitor
 * looks every 30 s (`cronMonitorIntervalSeconds`) and, for a schedule due in the current minute, puts a
 * job on its internal `__pgboss__send-it` queue; that queue's worker (every 5 s, 50 at a time) inserts
 * the real job, which a `work()` loop picks up (every 2 s).
 *
 * Lateness = handler start − the slot, the minute in which the monitor sent the schedule's send-it job
 * (read back from the send-it queue: the k-th job of a schedule, by creation, belongs to its k-th send-it).
 */
import { createRequire } from 'node:module'
import PgBoss from 'pg-boss'
import { summarise } from '../scheduler/lateness.ts'
import {
  CRON_DRAIN_GRACE_MS,
  type CronPeerOptions,
  type CronPeerResult,
  minuteSlotsIn,
} from './cron.types.ts'
import { dropSchema, nowMs, randomSuffix, withClient } from './peer-support.ts'

const require = createRequire(import.meta.url)
const { version } = require('pg-boss/package.json') as { version: string }

/** Above this, creating one partitioned queue per schedule does not fit the suite's time box. */
export const PG_BOSS_MAX_SCHEDULES = 1000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

export async function runCronPeer(options: CronPeerOptions): Promise<Omit<CronPeerResult, 'peakRssMb'>> {
  const { databaseUrl, schedules, seconds } = options
  const system = `pg-boss ${version}`
  if (schedules > PG_BOSS_MAX_SCHEDULES)
    return {
      system,
      schedules,
      ...summarise([], 0, 0),
      notes: '',
      notRun: `a pg-boss 10 schedule needs a queue of its own, and each queue is a partition table with six indexes (${schedules} queues = ${7 * schedules} relations); not feasible within the time box`,
    }
  const schema = `bench_pgbcron_${randomSuffix()}`
  const errors: string[] = []
  const boss = new PgBoss({ connectionString: databaseUrl, schema, max: 10 })
  boss.on('error', (error) => {
    errors.push(error.message)
  })
  // Jobs started, per schedule: when created (by the send-it worker) and when started.
  const made = new Map<string, Array<{ createdOn: number; startedAt: number }>>()
  let started = false
  try {
    await boss.start()
    started = true
    const names = Array.from({ length: schedules }, (_, i) => `bench_cron_${i}`)
    const setupStart = nowMs()
    for (const name of names) {
      await boss.createQueue(name)
      await boss.schedule(name, '* * * * *')
    }
    const setupSeconds = (nowMs() - setupStart) / 1000
    for (const name of names)
      await boss.work(name, { includeMetadata: true }, async ([job]) => {
        const startedAt = nowMs()
        const list = made.get(name) ?? []
        list.push({ createdOn: job!.createdOn.getTime(), startedAt })
        made.set(name, list)
      })
    const windowStart = nowMs()
    const windowEnd = windowStart + seconds * 1000
    const slots = minuteSlotsIn(windowStart, windowEnd)
    const expected = schedules * slots.length

    const db = boss.getDb()
    const measure = async () => {
      // The send-it jobs, in creation order per schedule (one partition: a literal name prunes the rest;
      // a query over all queues' partitions at once runs out of lock slots).
      const sent = await db.executeSql(
        `SELECT data->>'name' AS name, extract(epoch FROM created_on) * 1000 AS created
           FROM ${schema}.job WHERE name = '__pgboss__send-it' ORDER BY created_on`,
        [],
      )
      const slotsOf = new Map<string, number[]>()
      for (const row of sent.rows as Array<{ name: string; created: string }>) {
        const list = slotsOf.get(row.name) ?? []
        list.push(Math.floor(Number(row.created) / 60_000) * 60_000)
        slotsOf.set(row.name, list)
      }
      const lateness: number[] = []
      for (const [name, jobs] of made) {
        const slots = slotsOf.get(name) ?? []
        const ordered = [...jobs].sort((a, b) => a.createdOn - b.createdOn)
        ordered.forEach((job, k) => {
          const slot = slots[k]
          if (slot !== undefined && slot >= windowStart && slot < windowEnd)
            lateness.push(job.startedAt - slot)
        })
      }
      return lateness
    }

    await sleep(windowEnd - nowMs())
    const deadline = nowMs() + CRON_DRAIN_GRACE_MS
    let lateness = await measure()
    while (lateness.length < expected && nowMs() < deadline) {
      await sleep(1000)
      lateness = await measure()
    }
    if (errors.length > 0) process.stderr.write(`pg-boss reported errors: ${errors.slice(0, 3).join('; ')}\n`)
    return {
      system,
      schedules,
      ...summarise(lateness, expected, 0),
      notes: `${schedules} queues, each with schedule('* * * * *') and one work() loop; defaults otherwise (cronMonitorIntervalSeconds 30, cronWorkerIntervalSeconds 5, pollingIntervalSeconds 2, pool max 10); setting up the queues and schedules took ${setupSeconds.toFixed(1)} s`,
    }
  } finally {
    try {
      if (started) await boss.stop({ graceful: false, wait: true, close: true, timeout: 10_000 })
    } finally {
      await dropQueueTables(databaseUrl, schema)
      await dropSchema(databaseUrl, schema)
    }
  }
}

/** One DROP per queue table first: dropping a thousand partitions at once runs out of lock slots. */
async function dropQueueTables(databaseUrl: string, schema: string): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relispartition`,
      [schema],
    )
    for (const { name } of rows)
      await client.query(`DROP TABLE ${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`)
  })
}
