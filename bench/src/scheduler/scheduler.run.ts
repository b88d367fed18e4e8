// One scheduler-precision measurement of openOrchestrator in its own process (so peak RSS is its own).
// Prints one JSON line. Usage: node dist/scheduler.run.js <sqlite|postgres> <json SchedulerOptions>
//
// N enabled bots with `@every 60s` and jitterSeconds 60: each fires once a minute, at an instant spread
// over the minute by the scheduler's own deterministic jitter, so the load is a steady N/60 slots a
// second. The real Scheduler (schedules/) runs on its own timer with the system clock (`start()`), the real run
// kernel claims the runs, and a no-op executor for run kind `bot` records when each run started.
// Lateness of a slot = executor start − the slot's fire time (slot + jitterOf), both from the system clock.

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import pino from 'pino'
import { botScheduleOwner } from '../../../apps/server/src/bots/bot.schedule-owner.ts'
import { botRunKind } from '../../../apps/server/src/bots/bot.service.ts'
import type { BotRow } from '../../../apps/server/src/bots/bot.table.ts'
import { scheduleOfBot } from '../../../apps/server/src/bots/bot-schedule.ts'
import type { Tables } from '../../../apps/server/src/database.ts'
import { migrations } from '../../../apps/server/src/migrations/index.ts'
import { createLocalBus, createPostgresBus } from '../../../apps/server/src/platform/bus.ts'
import { systemClock } from '../../../apps/server/src/platform/clock.ts'
import { openDatabase } from '../../../apps/server/src/platform/db/database.ts'
import { migrateToLatest } from '../../../apps/server/src/platform/db/migrator.ts'
import { newId } from '../../../apps/server/src/platform/ids.ts'
import { createRunKernel } from '../../../apps/server/src/runs/kernel.ts'
import { nextFireOf } from '../../../apps/server/src/schedules/schedule.store.ts'
import type { ScheduleRow } from '../../../apps/server/src/schedules/schedule.table.ts'
import { jitterOf } from '../../../apps/server/src/schedules/schedule-spec.ts'
import { Scheduler } from '../../../apps/server/src/schedules/scheduler.ts'
import { removeBenchPlace } from '../bench-place.ts'
import { type Lateness, summarise } from './lateness.ts'

export interface SchedulerOptions {
  schedules: number
  seconds: number
  concurrency: number
  databaseUrl: string
}

export interface SchedulerResult extends Lateness {
  system: string
  schedules: number
  seconds: number
  insertSeconds: number
  peakRssMb: number
  notes: string
}

const SCHEDULE = '@every 60s'
const JITTER_SECONDS = 60
/** Slots started later than this after the window count as missed. */
const DRAIN_GRACE_MS = 30_000

const dialect = process.argv[2] as 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as SchedulerOptions
const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' })
const now = () => Date.now()

function botRow(id: string, index: number, createdAt: number): BotRow {
  return {
    id,
    tenant_id: 'default',
    name: `bench-${index}`,
    description: '',
    emoji: null,
    prompt: 'noop',
    provider: 'none',
    model: 'none',
    schedule: SCHEDULE,
    timezone: 'UTC',
    enabled: 1,
    max_runtime_seconds: 60,
    max_retries: 0,
    retry_delay_seconds: 1,
    // The API's defaults: an overlapping slot is skipped, a missed one ignored.
    missed_run_policy: 'ignore',
    overlap_policy: 'skip',
    pause_after_failures: null,
    jitter_seconds: JITTER_SECONDS,
    max_cost_per_run_usd: null,
    daily_budget_usd: null,
    max_output_tokens: null,
    tools: '[]',
    fallbacks: '[]',
    on_complete: '[]',
    priority: 0,
    max_tool_iterations: 10,
    output_schema: null,
    consecutive_failures: 0,
    paused_reason: null,
    budget_warned_day: null,
    created_at: createdAt,
    updated_at: createdAt,
  }
}

async function main(): Promise<SchedulerResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-'))
  const schema = `bench_oo_${randomBytes(4).toString('hex')}`
  const location =
    dialect === 'sqlite'
      ? { sqlitePath: path.join(dir, 'bench.db'), sqliteSynchronous: 'NORMAL' as const }
      : { url: options.databaseUrl, schema }
  const database = await openDatabase<Tables>({ ...location, poolSize: options.concurrency + 10 })
  await migrateToLatest(database.db, dialect, migrations)

  // The window opens once every row is in: the first slots are placed after it, so nothing is
  // missed at start and the load is steady from the first second.
  const leadMs = 5000 + options.schedules * (dialect === 'sqlite' ? 0.05 : 0.2)
  const windowStart = now() + leadMs
  const windowEnd = windowStart + options.seconds * 1000
  const insertStart = now()
  const chunk = 1000
  for (let first = 0; first < options.schedules; first += chunk) {
    const rows: BotRow[] = []
    const schedules: ScheduleRow[] = []
    for (let i = first; i < Math.min(first + chunk, options.schedules); i++) {
      const row = botRow(newId(), i, insertStart)
      const settings = scheduleOfBot(row)!
      // The first slot whose fire time (jitter included) is after the window opens.
      let next = nextFireOf(settings, windowStart - 60_000)
      while (next.next_fire_at !== null && next.next_fire_at <= windowStart)
        next = nextFireOf(settings, next.next_slot_at!)
      rows.push(row)
      schedules.push({
        owner_kind: settings.ownerKind,
        owner_id: settings.ownerId,
        tenant_id: settings.tenantId,
        spec: settings.spec,
        timezone: settings.timezone,
        jitter_seconds: settings.jitterSeconds,
        missed_policy: settings.missedPolicy,
        overlap_policy: settings.overlapPolicy,
        ...next,
        updated_at: insertStart,
      })
    }
    await database.db.insertInto('bots').values(rows).execute()
    await database.db.insertInto('schedules').values(schedules).execute()
  }
  const insertSeconds = (now() - insertStart) / 1000
  if (dialect === 'postgres')
    for (const table of ['bots', 'schedules']) await sql`ANALYZE ${sql.table(table)}`.execute(database.db)
  if (now() > windowStart)
    process.stderr.write(`warning: inserting took ${insertSeconds.toFixed(1)} s, past the window start\n`)

  const bus =
    dialect === 'sqlite'
      ? createLocalBus()
      : createPostgresBus({
          pool: database.pool!,
          clientConfig: database.pgClientConfig!,
          namespace: schema,
          log,
        })
  await bus.ready()
  const starts = new Map<string, number>()
  const kernel = createRunKernel({
    database,
    bus,
    clock: systemClock,
    log,
    // Far above anything this workload queues: the bench measures the scheduler, not load shedding.
    backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
    // The engine suite's "batched" worker: claims and completions of up to 500 at a time, so that
    // 100,000 schedules (1,667 runs a second) do not queue behind one claim per free slot.
    worker: {
      concurrency: options.concurrency,
      leaseMs: 30_000,
      pollIntervalMs: 1000,
      claimBatchSize: 500,
      localQueueSize: 500,
      settleBatchSize: 500,
    },
  })
  kernel.executors.register(botRunKind, async ({ run }) => {
    starts.set(run.id, now())
    return {}
  })
  const scheduler = new Scheduler({
    database,
    clock: systemClock,
    log: log.child({ component: 'scheduler' }),
    runs: kernel.runs,
  })
  scheduler.own(botRunKind, botScheduleOwner)
  kernel.start()
  scheduler.start()

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
  await sleep(windowEnd - now())
  // Slots of the window may still be firing or queued: give them a grace to start (the scheduler
  // keeps firing; later slots do not count).
  const expected = countExpected(database, windowStart, windowEnd)
  const deadline = now() + DRAIN_GRACE_MS
  let runs = await firedRuns(database, windowStart, windowEnd)
  while (
    now() < deadline &&
    runs.filter((r) => r.status !== 'pending' && r.status !== 'running').length < (await expected)
  ) {
    await sleep(500)
    runs = await firedRuns(database, windowStart, windowEnd)
  }
  await scheduler.stop()
  await kernel.stop(5000)
  await bus.close()

  const lateness: number[] = []
  // Where the lateness comes from: the scheduler (fire time → run row created) or the worker (→ start).
  const enqueueLag: number[] = []
  let skipped = 0
  for (const run of runs) {
    const started = starts.get(run.id)
    if (started !== undefined) {
      lateness.push(started - run.fireAt)
      enqueueLag.push(run.createdAt - run.fireAt)
    } else if (run.status === 'cancelled') skipped++
  }
  const lag = summarise(enqueueLag, 0, 0)
  const expectedSlots = await expected
  await database.close()
  await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  return {
    system: dialect === 'sqlite' ? 'openOrchestrator SQLite' : 'openOrchestrator PostgreSQL',
    schedules: options.schedules,
    seconds: options.seconds,
    insertSeconds: Number(insertSeconds.toFixed(2)),
    ...summarise(lateness, expectedSlots, skipped),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    notes:
      `${SCHEDULE}, jitterSeconds ${JITTER_SECONDS}, overlapPolicy skip; kernel concurrency ${options.concurrency}, batched claims/local queue/settles of 500; ` +
      `fire time → run enqueued p50 ${lag.p50Ms} ms, p99 ${lag.p99Ms} ms`,
  }
}

/** Slots due in [from, to): every bot fires once a minute, at slot + jitterOf(slot). */
async function countExpected(
  database: Awaited<ReturnType<typeof openDatabase<Tables>>>,
  from: number,
  to: number,
): Promise<number> {
  const ids = await database.db.selectFrom('bots').select('id').execute()
  let count = 0
  for (const { id } of ids) {
    for (let slot = Math.floor(from / 60_000) * 60_000 - 60_000; slot < to; slot += 60_000) {
      const fireAt = slot + jitterOf(id, slot, JITTER_SECONDS * 1000)
      if (fireAt >= from && fireAt < to) count++
    }
  }
  return count
}

/** Runs of slots whose fire time falls in [from, to), with that fire time from the idempotency key. */
async function firedRuns(
  database: Awaited<ReturnType<typeof openDatabase<Tables>>>,
  from: number,
  to: number,
): Promise<Array<{ id: string; status: string; fireAt: number; createdAt: number }>> {
  const rows = await database.db
    .selectFrom('runs')
    .select(['id', 'status', 'subject_id', 'idempotency_key', 'created_at'])
    .where('kind', '=', botRunKind)
    .execute()
  const result = []
  for (const row of rows) {
    const slot = Number(row.idempotency_key!.slice(row.idempotency_key!.lastIndexOf(':') + 1))
    const fireAt = slot + jitterOf(row.subject_id!, slot, JITTER_SECONDS * 1000)
    if (fireAt >= from && fireAt < to)
      result.push({ id: row.id, status: row.status, fireAt, createdAt: Number(row.created_at) })
  }
  return result
}

const result = await main()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
