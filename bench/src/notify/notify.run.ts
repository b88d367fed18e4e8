// One notification measurement in its own process (issue 14): bot runs as production runs them (the
// real bot executor against the OpenAI-wire stand-in, each run with its bot's concurrency key), the
// channels domain composed as apps/server/src/main.ts composes it — the `channels` outbox consumer
// and the `notification` executor with the real webhook and e-mail adapters — and, when `channels`
// is set, every bot linked with rule `always` to a webhook channel and an e-mail channel whose
// receivers run in the bench's main process (notify.suite.ts), which timestamps each arrival.
// Talks to its parent over IPC: first { secret } (the webhook's signing secret, for the receiver to
// verify), last { result, finished } (each reported event's id with its run's finishedAt).
// Usage: node bench/dist/notify.run.js <sqlite|postgres> <json options>   (with an IPC channel)

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { botRunRequest } from '../../../apps/server/src/bots/bot.service.ts'
import type { BotRow } from '../../../apps/server/src/bots/bot.table.ts'
import { botProvidersOf } from '../../../apps/server/src/bots/bot-providers.ts'
import { createBots } from '../../../apps/server/src/bots/bots.ts'
import { closeEmailTransports, emailAdapter } from '../../../apps/server/src/channels/adapters/email.ts'
import { webhookAdapter } from '../../../apps/server/src/channels/adapters/webhook.ts'
import { type ChannelAdapter, createChannels } from '../../../apps/server/src/channels/channels.ts'
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

export interface NotifyOptions {
  runs: number
  bots: number
  batchSize: number
  concurrency: number
  /** Link every bot to both channels (rule `always`); false: the same composition, no links. */
  channels: boolean
  /** Single runs on an idle system after the burst, one at a time (completion → delivery latency). */
  idleSamples: number
  /**
   * `poll`: the worker as shipped. `settle`: the bench also nudges the worker after every settlement
   * (kernel.worker.nudge()), as a settlement that frees a concurrency key does not: a worker that
   * found only runs behind busy keys goes idle until its poll (OPENORCH_POLL_INTERVAL_MS, 1 s).
   */
  wake: 'poll' | 'settle'
  databaseUrl: string
  /** The OpenAI-wire stand-in. */
  baseUrl: string
  apiKey: string
  webhookUrl: string
  smtpPort: number
}

export interface NotifyResult {
  name: string
  channels: boolean
  wake: 'poll' | 'settle'
  runs: number
  /** Kernel start → the last bot run settled. */
  botSeconds: number
  botRunsPerSecond: number
  /** Kernel start → the last notification settled (delivered); null without channels. */
  allSeconds: number | null
  notifications: number
  notificationsPerSecond: number | null
  /** The last bot run settled → the last notification settled. */
  tailSeconds: number | null
  failedNotifications: number
  peakRssMb: number
}

/** What the child sends its parent. */
export type NotifyMessage =
  | { type: 'secret'; secret: string }
  | {
      type: 'result'
      result: NotifyResult
      /** [event id, the reported run's finishedAt ms, 'burst' | 'idle'] for every run.completed event. */
      finished: Array<[string, number, 'burst' | 'idle']>
    }

const dialect = process.argv[2] as 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as NotifyOptions
tuneHeapForServer()
const log = pino({ level: 'silent' })
const now = () => performance.timeOrigin + performance.now()
const send = (message: NotifyMessage) =>
  new Promise<void>((resolve, reject) =>
    process.send!(message, (error: Error | null) => (error ? reject(error) : resolve())),
  )

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-notify-'))
  const schema = `bench_notify_${randomBytes(4).toString('hex')}`
  const location =
    dialect === 'sqlite'
      ? { sqlitePath: path.join(dir, 'bench.db'), sqliteSynchronous: 'NORMAL' as const }
      : { url: options.databaseUrl, schema }
  const database = await openDatabase<Tables>({ ...location, poolSize: options.concurrency + 4 })
  try {
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

    // The product's defaults (config.ts) for claims, the local queue and settlement batches; the
    // concurrency of the production benchmark.
    const defaults = loadConfig({}).worker
    let botsSettled = 0
    let notificationsSettled = 0
    let failedNotifications = 0
    let waiter: { bots: number; notifications: number; resolve(): void } | undefined
    const check = () => {
      if (waiter && botsSettled >= waiter.bots && notificationsSettled >= waiter.notifications) {
        const { resolve } = waiter
        waiter = undefined
        resolve()
      }
    }
    const until = (bots: number, notifications: number) =>
      new Promise<void>((resolve) => {
        waiter = { bots, notifications, resolve }
        check()
      })
    let lastBotAt = 0
    let lastNotificationAt = 0
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
        ...(defaults.claimBatchSize !== undefined ? { claimBatchSize: defaults.claimBatchSize } : {}),
        localQueueSize: defaults.localQueueSize,
        settleBatchSize: defaults.settleBatchSize,
        onSettled: (run, settlement, accepted) => {
          if (options.wake === 'settle') kernel.worker.nudge()
          if (!accepted) return
          if (run.kind === 'notification') {
            if (settlement.outcome === 'completed') {
              notificationsSettled++
              lastNotificationAt = now()
            } else if (settlement.outcome === 'retry') process.stderr.write('notification retried\n')
            else {
              failedNotifications++
              process.stderr.write(`notification settled as ${settlement.outcome}\n`)
            }
          } else if (settlement.outcome === 'completed') {
            botsSettled++
            lastBotAt = now()
          } else process.stderr.write(`bot run settled as ${settlement.outcome}\n`)
          check()
        },
      },
    })
    const vault = createVault({ dataDir: dir })
    // The stand-in, the webhook receiver and the SMTP server listen on loopback.
    const egress = createEgressPolicy(parseEgressAllow('127.0.0.1'))
    const providers = createProviderService({ database, clock: systemClock, log, vault, egress })
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
    // As main.ts composes it (its other adapters are not used here).
    const channels = createChannels({
      database,
      clock: systemClock,
      vault,
      kernel,
      egress,
      adapters: [webhookAdapter, emailAdapter] as unknown as ChannelAdapter[],
      botOf: bots.botOf,
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
    if (options.channels) {
      const webhook = await channels.service.create('default', {
        type: 'webhook',
        name: 'Bench webhook',
        config: { url: options.webhookUrl },
      })
      const email = await channels.service.create('default', {
        type: 'email',
        name: 'Bench e-mail',
        config: {
          host: '127.0.0.1',
          port: options.smtpPort,
          security: 'none',
          from: 'openOrchestrator <bots@bench.example>',
          to: ['person@bench.example'],
        },
      })
      await send({ type: 'secret', secret: webhook.secret! })
      for (const row of rows) {
        await channels.service.link('default', row.id, webhook.id, 'always', 'short')
        await channels.service.link('default', row.id, email.id, 'always', 'short')
      }
    }
    const perRun = options.channels ? 2 : 0

    // As "run now" does: each run with its bot's concurrency key (bot:<id>, one at a time per bot).
    const requests = Array.from({ length: options.runs }, (_, i) =>
      botRunRequest(rows[i % rows.length]!, 'api', null, null),
    )
    for (let i = 0; i < requests.length; i += options.batchSize)
      await kernel.runs.enqueueMany(requests.slice(i, i + options.batchSize))

    const start = now()
    kernel.start()
    await kernel.relay.whenReady()
    await until(options.runs, options.runs * perRun)
    const botSeconds = (lastBotAt - start) / 1000
    const allSeconds = perRun > 0 ? (lastNotificationAt - start) / 1000 : null
    const burstEnd = systemClock.now()

    // Idle latency: one run at a time, the next once both notifications of the last are delivered.
    for (let i = 0; i < options.idleSamples; i++) {
      await kernel.runs.enqueueMany([botRunRequest(rows[i % rows.length]!, 'api', null, null)])
      await until(options.runs + i + 1, (options.runs + i + 1) * perRun)
    }

    const events = await database.db
      .selectFrom('run_events')
      .innerJoin('runs', 'runs.id', 'run_events.run_id')
      .select(['run_events.id as id', 'runs.finished_at as finishedAt'])
      .where('run_events.type', '=', 'run.completed')
      .where('runs.kind', '=', 'bot')
      .execute()
    const finished = events.map((event): [string, number, 'burst' | 'idle'] => [
      String(event.id),
      Number(event.finishedAt),
      Number(event.finishedAt) <= burstEnd ? 'burst' : 'idle',
    ])
    await kernel.stop(5000)
    closeEmailTransports()
    await bus.close()
    const notifications = options.runs * perRun
    await send({
      type: 'result',
      result: {
        name: dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL',
        channels: options.channels,
        wake: options.wake,
        runs: options.runs,
        botSeconds: Number(botSeconds.toFixed(3)),
        botRunsPerSecond: Math.round(options.runs / botSeconds),
        allSeconds: allSeconds === null ? null : Number(allSeconds.toFixed(3)),
        notifications,
        notificationsPerSecond: allSeconds === null ? null : Math.round(notifications / allSeconds),
        tailSeconds: allSeconds === null ? null : Number((allSeconds - botSeconds).toFixed(3)),
        failedNotifications,
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      },
      finished,
    })
  } finally {
    await database.close()
    await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  }
}

await main()
process.exit(0)
