/**
 * graphile-worker's cron on the scheduler suite's workload, on a throwaway schema `bench_gwcron_<random>`.
 *
 * N cron items `* * * * *` (graphile-worker's cron has minute granularity and no jitter), each with its
 * own identifier, all on one no-op task; `backfillPeriod` 0. At every minute the runner's cron adds the
 * N jobs in one statement and the workers (`concurrency`, stock settings otherwise) run them.
 * Lateness = handler start − the slot in the job's payload (`_cron.ts`).
 */
import { createRequire } from 'node:module'
import { Logger, parseCronItems, type Runner, run } from 'graphile-worker'
import { summarise } from '../scheduler/lateness.ts'
import {
  CRON_DRAIN_GRACE_MS,
  type CronPeerOptions,
  type CronPeerResult,
  minuteSlotsIn,
} from './cron.types.ts'
import { dropSchema, nowMs, randomSuffix } from './peer-support.ts'

const require = createRequire(import.meta.url)
const { version } = require('graphile-worker/package.json') as { version: string }

const TASK = 'bench_cron'
const silentLogger = new Logger(() => () => {})
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

export async function runCronPeer(options: CronPeerOptions): Promise<Omit<CronPeerResult, 'peakRssMb'>> {
  const { databaseUrl, schedules, seconds, concurrency } = options
  const schema = `bench_gwcron_${randomSuffix()}`
  const lateness: number[] = []
  let windowStart = 0
  let windowEnd = 0
  let runner: Runner | undefined
  try {
    const items = parseCronItems(
      Array.from({ length: schedules }, (_, i) => ({
        task: TASK,
        match: '* * * * *',
        identifier: `bench_${i}`,
        options: { backfillPeriod: 0 },
        payload: { i },
      })),
    )
    let startedInWindow = 0
    runner = await run({
      connectionString: databaseUrl,
      schema,
      logger: silentLogger,
      concurrency,
      maxPoolSize: concurrency + 10,
      noHandleSignals: true,
      parsedCronItems: items,
      taskList: {
        [TASK]: (payload) => {
          const startedAt = nowMs()
          const slot = Date.parse((payload as { _cron: { ts: string } })._cron.ts)
          if (slot >= windowStart && slot < windowEnd) {
            lateness.push(startedAt - slot)
            startedInWindow++
          }
        },
      },
    })
    windowStart = nowMs()
    windowEnd = windowStart + seconds * 1000
    const expected = schedules * minuteSlotsIn(windowStart, windowEnd).length
    await sleep(windowEnd - nowMs())
    const deadline = nowMs() + CRON_DRAIN_GRACE_MS
    while (startedInWindow < expected && nowMs() < deadline) await sleep(100)
    return {
      system: `graphile-worker ${version}`,
      schedules,
      ...summarise(lateness, expected, 0),
      notes: `${schedules} crontab items \`* * * * *\` (minute granularity, all fire at :00), concurrency ${concurrency}, stock settings otherwise (no local queue), maxPoolSize ${concurrency + 10}`,
    }
  } finally {
    try {
      await runner?.stop()
    } finally {
      await dropSchema(databaseUrl, schema)
    }
  }
}
