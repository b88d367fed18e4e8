// One production-shaped measurement in its own process (issue 12): bot runs through the real bot
// executor, provider service and the bots' event handler, against an OpenAI-wire stand-in in another
// process (stand-in.child.ts). Every run carries its bot's concurrency key, as production does.
// Prints one JSON line.
// Usage: node bench/dist/production.run.js <sqlite|postgres> <json options>

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { botRunRequest } from '../../../apps/server/src/bots/bot.service.ts'
import type { BotRow } from '../../../apps/server/src/bots/bot.table.ts'
import { botProvidersOf } from '../../../apps/server/src/bots/bot-providers.ts'
import { createBots } from '../../../apps/server/src/bots/bots.ts'
import type { Tables } from '../../../apps/server/src/database.ts'
import { migrations } from '../../../apps/server/src/migrations/index.ts'
import { createLocalBus, createPostgresBus } from '../../../apps/server/src/platform/bus.ts'
import { systemClock } from '../../../apps/server/src/platform/clock.ts'
import { loadConfig } from '../../../apps/server/src/platform/config.ts'
import { createVault } from '../../../apps/server/src/platform/crypto.ts'
import { openDatabase } from '../../../apps/server/src/platform/db/database.ts'
import { migrateToLatest } from '../../../apps/server/src/platform/db/migrator.ts'
import { createEgressPolicy, parseEgressAllow } from '../../../apps/server/src/platform/egress/egress.ts'
import { tuneHeapForServer } from '../../../apps/server/src/platform/heap.ts'
import { createProviderService } from '../../../apps/server/src/providers/provider.service.ts'
import { defaultQuotas } from '../../../apps/server/src/quotas/quotas.ts'
import { createRunKernel } from '../../../apps/server/src/runs/kernel.ts'
import { createSchedules } from '../../../apps/server/src/schedules/schedules.ts'
import { removeBenchPlace } from '../bench-place.ts'
import { markCpu, reportCpu } from '../machine-cpu.ts'

export interface ProductionOptions {
  runs: number
  bots: number
  batchSize: number
  concurrency: number
  /** one-by-one: claims and settles one at a time; defaults: the product's defaults (config.ts). */
  mode: 'one-by-one' | 'defaults'
  databaseUrl: string
  baseUrl: string
  apiKey: string
}

export interface ProductionResult {
  name: string
  mode: string
  runs: number
  bots: number
  seconds: number
  runsPerSecond: number
  completed: number
  peakRssMb: number
}

const dialect = process.argv[2] as 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as ProductionOptions
tuneHeapForServer()
const log = pino({ level: 'silent' })
const now = () => performance.timeOrigin + performance.now()

async function main(): Promise<ProductionResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-prod-'))
  const schema = `bench_prod_${randomBytes(4).toString('hex')}`
  const location =
    dialect === 'sqlite'
      ? { sqlitePath: path.join(dir, 'bench.db'), sqliteSynchronous: 'NORMAL' as const }
      : { url: options.databaseUrl, schema }
  const database = await openDatabase<Tables>({ ...location, poolSize: options.concurrency + 4 })
  await migrateToLatest(database.db, dialect, migrations)
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

  const defaults = loadConfig({}).worker
  const oneByOne = options.mode === 'one-by-one'
  let completed = 0
  let done: (() => void) | undefined
  const kernel = createRunKernel({
    database,
    bus,
    clock: systemClock,
    log,
    backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
    worker: {
      concurrency: options.concurrency,
      leaseMs: defaults.leaseMs,
      pollIntervalMs: defaults.pollIntervalMs,
      ...(oneByOne
        ? { claimBatchSize: 1, localQueueSize: 0, settleBatchSize: 1 }
        : {
            ...(defaults.claimBatchSize !== undefined ? { claimBatchSize: defaults.claimBatchSize } : {}),
            localQueueSize: defaults.localQueueSize,
            settleBatchSize: defaults.settleBatchSize,
          }),
      onSettled: (_run, settlement) => {
        if (settlement.outcome !== 'completed') {
          process.stderr.write(`run settled as ${settlement.outcome}\n`)
          return
        }
        completed++
        if (completed === options.runs) done?.()
      },
    },
  })
  const vault = createVault({ dataDir: dir })
  const providers = createProviderService({
    database,
    clock: systemClock,
    log,
    vault,
    // The stand-in listens on loopback.
    egress: createEgressPolicy(parseEgressAllow('127.0.0.1')),
  })
  await providers.configure('default', 'openai', {
    apiKey: options.apiKey,
    baseUrl: options.baseUrl,
    defaultModel: 'gpt-4o-mini',
  })
  const bots = createBots({
    database,
    schedules: createSchedules({ database, bus, clock: systemClock, log, runs: kernel.runs }),
    bus,
    clock: systemClock,
    log,
    kernel,
    providers: botProvidersOf(providers),
    quotas: { ...defaultQuotas, bots: options.bots, dailyBudgetUsd: null },
  })
  const rows: BotRow[] = []
  for (let i = 0; i < options.bots; i++) {
    const bot = await bots.service.create('default', {
      name: `Scout ${i}`,
      prompt: 'Look for new offers of Nike Air Max 90 under 40 €.',
      provider: 'openai',
    })
    rows.push(await bots.service.load('default', bot.id))
  }
  // As "run now" does: each run with its bot's concurrency key (bot:<id>, one at a time per bot).
  const requests = Array.from({ length: options.runs }, (_, i) =>
    botRunRequest(rows[i % rows.length]!, 'api', null, null),
  )
  for (let i = 0; i < requests.length; i += options.batchSize)
    await kernel.runs.enqueueMany(requests.slice(i, i + options.batchSize))

  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const cpuMark = markCpu()
  const start = now()
  kernel.start()
  await finished
  const seconds = (now() - start) / 1000
  reportCpu(`openOrchestrator ${dialect} production ${options.mode}`, cpuMark, options.runs)
  await kernel.stop(5000)
  await bus.close()
  await database.close()
  await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  return {
    name: dialect === 'sqlite' ? 'openOrchestrator SQLite' : 'openOrchestrator PostgreSQL',
    mode: `production ${options.mode}`,
    runs: options.runs,
    bots: options.bots,
    seconds: Number(seconds.toFixed(3)),
    runsPerSecond: Math.round(options.runs / seconds),
    completed,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }
}

const result = await main()
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
