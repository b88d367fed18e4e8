import type https from 'node:https'
import { fileURLToPath } from 'node:url'
import type { Bot } from '@openorch/contracts'
import { buildApp, buildProbeApp, serverVersion } from './app.ts'
import { type Approvals, createApprovals } from './approvals/approvals.ts'
import { createApiKeyService } from './auth/api-key.service.ts'
import { botRunsToKeep } from './bots/bot.retention.ts'
import { importNoteFiles } from './bots/bot-notes.import.ts'
import { botProvidersOf } from './bots/bot-providers.ts'
import { type Bots, createBots } from './bots/bots.ts'
import { closeAmqpConnections } from './channels/adapters/amqp.ts'
import { closeEmailTransports } from './channels/adapters/email.ts'
import { builtInChannelAdapters } from './channels/adapters/index.ts'
import { closeNatsConnections } from './channels/adapters/nats.ts'
import { type ChannelsDomain, createChannels, type TelegramInboundPeople } from './channels/channels.ts'
import { createPush } from './channels/push/push.ts'
import type { Db, Tables } from './database.ts'
import { migrations } from './migrations/index.ts'
import { createOperationsMetrics } from './operations/operations-metrics.ts'
import { createPipelines } from './pipelines/pipelines.ts'
import { type Bus, createLocalBus, createPostgresBus } from './platform/bus.ts'
import { systemClock } from './platform/clock.ts'
import type { Config } from './platform/config.ts'
import { createVault } from './platform/crypto.ts'
import { openDatabase } from './platform/db/database.ts'
import { type MigrationFactory, migrateToLatest } from './platform/db/migrator.ts'
import { postgresTlsNotice } from './platform/db/postgres-tls.ts'
import { createEgressPolicy } from './platform/egress/egress.ts'
import { AppError, toError } from './platform/errors.ts'
import { certificateFields, readTlsMaterial, reloadTls, secureContextOptionsOf } from './platform/http/tls.ts'
import { createLogger, type Logger } from './platform/logger.ts'
import { createMetrics } from './platform/metrics.ts'
import { ensurePrivateDir } from './platform/private-files.ts'
import { startTracing } from './platform/tracing.ts'
import { type CircuitBreaker, createCircuitBreaker } from './providers/circuit-breaker.ts'
import { createProviderService, type ProviderService } from './providers/provider.service.ts'
import { RetentionJob } from './retention/retention.job.ts'
import { createRunKernel, type RunKernel } from './runs/kernel.ts'
import { countDeadLetters, queueFigures } from './runs/run.store.ts'
import { activeRunCounts } from './runs/run-counts.ts'
import { slotOfKey } from './schedules/schedule.store.ts'
import { createSchedules } from './schedules/schedules.ts'
import { type ClusterPresence, createClusterPresence } from './system/cluster-processes.ts'
import { createOperatingMode, type OperatingModeService } from './system/operating-mode.ts'
import { commitOf, createSystemService, type SystemService } from './system/system.service.ts'
import { createMcpServers } from './tools/mcp/mcp.ts'
import {
  closeCodeWorkers,
  configureCodeWorkers,
  createBrowserPool,
  createSearchSettings,
  createToolPolicies,
  createToolRegistry,
} from './tools/tools.ts'
import { createUsageService } from './usage/usage.service.ts'
import { createUserService, type UserService } from './users/user.service.ts'

// The composition root: the only place that reads config and wires things together.

export interface Server {
  /** Where it listens: the API, or without the api role only /health, /ready and /metrics. */
  url: string
  kernel: RunKernel
  /** Generated (or bootstrapped) owner key when the database was new; undefined otherwise. */
  ownerKey: string | undefined
  /** Graceful stop: no new requests or claims, running runs finish within the grace period. */
  close(): Promise<void>
  /**
   * Reads OPENORCH_TLS_CERT and OPENORCH_TLS_KEY again for new connections (SIGHUP); a pair that
   * cannot be used is logged and the one in use stays. False when nothing was reloaded.
   */
  reloadTls(): boolean
}

export async function openServerDatabase(config: Config) {
  return openDatabase<Tables>({
    url: config.database.url,
    sqlitePath: config.database.sqlitePath,
    sqliteSynchronous: config.database.sqliteSynchronous,
    poolSize: config.worker.concurrency + 10,
  })
}

export async function startServer(config: Config, log: Logger = createLogger(config.log)): Promise<Server> {
  // Before anything writes into it (database, master key, notes): a new data directory is 0700.
  const dataDir = ensurePrivateDir(config.dataDir)
  if (dataDir.isOpenToOthers)
    log.warn(
      { dataDir: config.dataDir, mode: dataDir.mode.toString(8) },
      'the data directory can be read by other users of this machine; restrict it with chmod 700',
    )
  // Before anything makes spans; the SDK is not even loaded unless an OTLP endpoint is set.
  const tracing = await startTracing({ config: config.tracing, version: serverVersion, log })
  // Before the database: a certificate that cannot be used stops the start with what to do. Every
  // process listens (without the api role only for its probes and metrics), so every one serves TLS.
  const tlsFiles = config.http.tls
  const tls = tlsFiles ? readTlsMaterial(tlsFiles) : undefined
  if (tls) {
    for (const warning of tls.warnings) log.warn(warning)
    log.info({ certificate: certificateFields(tls.certificate) }, 'serving HTTPS')
  }
  const databaseNotice = config.database.url ? postgresTlsNotice(config.database.url) : undefined
  if (databaseNotice) log.warn(databaseNotice)
  const database = await openServerDatabase(config)
  const applied = await migrateToLatest(database.db, database.dialect, migrations)
  if (applied.length > 0) log.info({ applied }, 'database migrated')
  // Notes kept as files before migration 0022 move into the database (once; nothing to do after).
  await importNoteFiles(database, config.dataDir, log)

  const bus: Bus =
    database.dialect === 'postgres'
      ? createPostgresBus({
          pool: database.pool!,
          clientConfig: database.pgClientConfig!,
          namespace: undefined,
          log,
        })
      : createLocalBus()
  await bus.ready()

  const metrics = createMetrics()
  // Counted where things happen (decision 0035); the database's figures are read on scrape (app.ts).
  const operations = createOperationsMetrics(metrics)

  // The operating mode (decision 0039) gates what workers claim: read before the worker starts.
  const mode = createOperatingMode({ database, bus, clock: systemClock, log })
  await mode.start()
  const kernel = createRunKernel({
    database,
    bus,
    clock: systemClock,
    log,
    backpressure: config.backpressure,
    onDropped: (request) => operations.runDropped(request.kind),
    worker: {
      concurrency: config.worker.concurrency,
      leaseMs: config.worker.leaseMs,
      pollIntervalMs: config.worker.pollIntervalMs,
      ...(config.worker.claimBatchSize !== undefined ? { claimBatchSize: config.worker.claimBatchSize } : {}),
      ...(config.worker.kinds !== undefined ? { kinds: config.worker.kinds } : {}),
      localQueueSize: config.worker.localQueueSize,
      settleBatchSize: config.worker.settleBatchSize,
      admission: () => mode.admission(),
      onClaimed: (rows) => {
        const now = systemClock.now()
        for (const row of rows)
          operations.runClaimed(
            {
              kind: row.kind,
              trigger: row.trigger,
              attempt: Number(row.attempt),
              runAt: Number(row.run_at),
              slot: slotOfKey(row.idempotency_key),
            },
            now,
          )
      },
      onSettled: (run, settlement, accepted) => {
        if (!accepted) return
        operations.runSettled({
          kind: run.kind,
          outcome: settlement.outcome,
          durationMs: 'durationMs' in settlement ? settlement.durationMs : undefined,
          deadLetter: 'deadLetter' in settlement && settlement.deadLetter,
          errorCode: 'error' in settlement ? settlement.error.code : undefined,
        })
      },
      onRescued: (rows) => {
        for (const row of rows)
          operations.runRescued({ kind: row.kind, deadLettered: row.dead_lettered_at !== null })
      },
    },
  })

  kernel.relay.onParked = (consumer) => operations.eventParked(consumer)

  const apiKeys = createApiKeyService({ database, clock: systemClock, log })
  const ownerKey = await apiKeys.bootstrapOwnerKey(config.auth.bootstrapApiKey)
  // Without OPENORCH_MASTER_KEY the vault generates one into <data>/master.key (0600) on first start.
  const vault = createVault({
    masterKey: config.masterKey,
    dataDir: config.dataDir,
    extraKeys: config.extraMasterKeys,
  })
  const providers = createProviderService({
    database,
    clock: systemClock,
    log,
    vault,
    egress: createEgressPolicy(config.egressAllow, {
      onRefused: (refusal) => operations.egressRefused('providers', refusal.range),
    }),
  })
  const schedules = createSchedules({ database, bus, clock: systemClock, log, runs: kernel.runs })
  const toolEgress = createEgressPolicy(config.toolEgressAllow, {
    onRefused: (refusal) => operations.egressRefused('tools', refusal.range),
  })
  const search = createSearchSettings({ database, vault, clock: systemClock, egress: toolEgress, log })
  // Chromium starts at the first browser call, not here; a machine without it answers browser_missing.
  const browser = createBrowserPool({
    log: log.child({ component: 'browser' }),
    concurrency: config.browser.concurrency,
    ...(config.browser.executablePath !== undefined ? { executablePath: config.browser.executablePath } : {}),
  })
  configureCodeWorkers(config.codeWorkers)
  const tools = createToolRegistry({ search, browser })
  // MCP servers are connected to at their first use, never before an admin enables them.
  const mcp = createMcpServers({
    database,
    vault,
    clock: systemClock,
    egress: toolEgress,
    log,
    stdio: config.mcpStdio,
  })
  tools.addSource(mcp.source)
  const approvals = createApprovals({ database, clock: systemClock, runs: kernel.runs })
  kernel.relay.consume('approvals', approvals.onEvents)
  const toolPolicies = createToolPolicies({ database, clock: systemClock, registry: tools })
  const circuit = createCircuitBreaker({ database, clock: systemClock, runs: kernel.runs, ...config.circuit })
  const bots = createBots({
    database,
    bus,
    clock: systemClock,
    log,
    kernel,
    schedules,
    tools: { registry: tools, egress: toolEgress },
    approvals: { service: approvals, policies: toolPolicies },
    providers: botProvidersOf(providers, circuit, (call) => operations.modelCalled(call)),
    quotas: config.quotas,
    observe: {
      toolCalled: (call) => operations.toolCalled(call),
      budgetUsed: (tenantId, share, at) => operations.budgetUsed(tenantId, share, at),
    },
  })

  const pipelines = createPipelines({
    database,
    clock: systemClock,
    log,
    kernel,
    schedules,
    steps: bots.steps,
    approvals,
    triggers: bots.triggers,
    quotasOf: bots.quotasOf,
  })
  const push = createPush({
    database,
    clock: systemClock,
    vault,
    channels: () => channels.service,
    publicUrl: config.publicUrl,
  })
  const users = createUserService({
    database,
    clock: systemClock,
    log,
    signingKey: vault.deriveKey('openorch session signing v1'),
  })
  const channels = createChannels({
    database,
    clock: systemClock,
    vault,
    kernel,
    egress: toolEgress,
    telegram: { log, people: telegramPeopleOf({ bots, approvals, users }) },
    adapters: [...builtInChannelAdapters, push.adapter],
    botOf: bots.botOf,
    summarize: bots.summarize,
    publicUrl: config.publicUrl,
    onNotified: (channelType, outcome) => operations.notified({ channelType, outcome }),
  })

  // Every process says it is alive with its roles (GET /api/v1/system lists them).
  const presence = createClusterPresence({
    database,
    clock: systemClock,
    log,
    roles: config.roles,
    version: serverVersion,
  })
  await presence.start()
  const system = systemServiceOf({
    database,
    sqlitePath: database.dialect === 'sqlite' ? config.database.sqlitePath : null,
    migrations,
    mode,
    presence,
    providers,
    circuit,
    channels,
  })
  // A mode that widens (paused → normal, a lower level) lets the worker claim at once.
  mode.onChange(() => kernel.worker.nudge())

  const http = {
    database,
    kernel,
    clock: systemClock,
    log,
    metrics,
    migrations,
    approvals,
    circuit,
    config: {
      bodyLimitBytes: config.http.bodyLimitBytes,
      trustProxy: config.http.trustProxy,
      // A scrape every few seconds by several Prometheus servers costs one set of queries.
      metricsMaxAgeMs: 5_000,
      ...(tls ? { https: secureContextOptionsOf(tls) } : {}),
    },
  }
  // Without the api role the port serves only /health, /ready and /metrics (decision 0036): a worker
  // is probed and scraped where its work is counted, and serves no API.
  const app = config.roles.includes('api')
    ? await buildApp({
        ...http,
        bus,
        config: {
          ...http.config,
          rateLimits: config.http.rateLimits,
          corsOrigins: config.http.corsOrigins,
        },
        apiKeys,
        providers,
        bots,
        usage: createUsageService({ database, clock: systemClock }),
        tools,
        search,
        mcp,
        toolPolicies,
        pipelines,
        channels,
        push,
        // apps/web/dist, from src/main.ts (tsx) and from dist/cli.js (the esbuild bundle) alike.
        webRoot: fileURLToPath(new URL('../../web/dist', import.meta.url)),
        users,
        system: { service: system, mode },
      })
    : await buildProbeApp({ ...http, roles: config.roles })
  await app.listen({ port: config.http.port, host: config.http.host })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.http.port
  const wildcard = config.http.host === '0.0.0.0' || config.http.host === '::'
  const url = `${tls ? 'https' : 'http'}://${wildcard ? 'localhost' : config.http.host}:${port}`
  kernel.start({ worker: config.roles.includes('worker') })
  // Approvals past their expiry count as rejected; every worker process looks every 15 s (fenced).
  if (config.roles.includes('worker'))
    approvals.startSweeping(15_000, (error) =>
      log.error({ err: toError(error) }, 'approval expiry sweep failed'),
    )
  // Providers whose circuit cooled down with runs parked for them: one run is woken as the probe.
  let circuitSweep: NodeJS.Timeout | undefined
  if (config.roles.includes('worker')) {
    circuitSweep = setInterval(
      () => void circuit.sweep().catch((error) => log.error({ err: toError(error) }, 'circuit sweep failed')),
      5_000,
    )
    circuitSweep.unref()
  }
  // Telegram channels without a webhook: every worker process competes for each channel's polling lease.
  if (config.roles.includes('worker')) channels.telegram?.poller.start()
  const retention = new RetentionJob({
    database,
    clock: systemClock,
    log,
    runsMs: config.retention.runsMs,
    auditMs: config.retention.auditMs,
    keepers: [...botRunsToKeep],
  })
  if (config.roles.includes('scheduler')) {
    schedules.start()
    retention.start()
  }

  let closing: Promise<void> | undefined
  return {
    url,
    kernel,
    ownerKey,
    reloadTls() {
      if (!tlsFiles) {
        log.warn('SIGHUP: this process serves no HTTPS (OPENORCH_TLS_CERT unset), nothing to reload')
        return false
      }
      return reloadTls(app.server as unknown as https.Server, tlsFiles, log)
    },
    close() {
      closing ??= (async () => {
        log.info({ graceMs: config.worker.shutdownGraceMs }, 'shutting down: no new work is claimed')
        await app.close()
        await schedules.stop()
        await retention.stop()
        approvals.stopSweeping()
        clearInterval(circuitSweep)
        await channels.telegram?.poller.stop()
        await kernel.stop(config.worker.shutdownGraceMs)
        // The code sandbox's worker threads: nothing runs in them once the runs are stopped.
        await closeCodeWorkers()
        await browser.close()
        // Pooled SMTP connections of the e-mail channels.
        closeEmailTransports()
        // The AMQP and NATS channels' kept connections.
        await Promise.all([closeAmqpConnections(), closeNatsConnections()])
        // Stdio MCP servers' process groups, and the live HTTP connections.
        await mcp.close()
        mode.stop()
        await presence.stop()
        await bus.close()
        await database.close()
        // The spans of the last runs and requests are sent before the process exits.
        await tracing.shutdown()
        log.info('stopped')
      })()
      return closing
    },
  }
}

/** What Telegram's inbound commands may do in other domains, as plain functions (channels import none of them). */
export function telegramPeopleOf(deps: {
  bots: Pick<Bots, 'service'>
  approvals: Pick<Approvals, 'decide' | 'get'>
  users: Pick<UserService, 'me'>
}): TelegramInboundPeople {
  const unless = async <T>(code: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read()
    } catch (error) {
      if (error instanceof AppError && error.code === code) return undefined
      throw error
    }
  }
  return {
    userOf: (userId) => unless('user_not_found', () => deps.users.me(userId)),
    async listBots(tenantId) {
      const all: Bot[] = []
      let cursor: string | undefined
      do {
        const page = await deps.bots.service.list(tenantId, { limit: 100, cursor })
        all.push(...page.items)
        cursor = page.nextCursor ?? undefined
      } while (cursor && all.length < 1_000)
      return all
    },
    async runBot(tenantId, botId, idempotencyKey) {
      const result = await deps.bots.service.runNow(tenantId, botId, { trigger: 'channel', idempotencyKey })
      return result.status === 'dropped' ? { dropped: result.reason } : { runId: result.run.id }
    },
    async setBotEnabled(tenantId, botId, enabled) {
      await deps.bots.service.update(tenantId, botId, { enabled })
    },
    async decideApproval(tenantId, approvalId, decision, decider) {
      await deps.approvals.decide(tenantId, approvalId, decision, decider, null)
    },
    async approvalOf(tenantId, approvalId) {
      const row = await unless('approval_not_found', () => deps.approvals.get(tenantId, approvalId))
      return row
        ? {
            status: row.status,
            decidedByType: row.decided_by_type,
            decidedById: row.decided_by_id,
            expiresAt: row.expires_at === null ? null : Number(row.expires_at),
          }
        : undefined
    },
  }
}

/** GET /api/v1/system's service, with what it reads of the other domains (also the tests' app). */
export function systemServiceOf(deps: {
  database: Db
  /** The SQLite file, for its size; null on PostgreSQL. */
  sqlitePath: string | null
  migrations: Record<string, MigrationFactory>
  mode: OperatingModeService
  presence: ClusterPresence
  providers: Pick<ProviderService, 'list'>
  circuit: Pick<CircuitBreaker, 'state'>
  channels: { service: Pick<ChannelsDomain['service'], 'list'> }
}): SystemService {
  const { database, providers, circuit, channels } = deps
  return createSystemService({
    database,
    clock: systemClock,
    version: serverVersion,
    migrations: deps.migrations,
    presence: deps.presence,
    mode: deps.mode,
    sqlitePath: deps.sqlitePath,
    commit: commitOf(process.env, fileURLToPath(new URL('.', import.meta.url))),
    async queue(now) {
      const [due, active, deadLetters] = await Promise.all([
        queueFigures(database, now),
        activeRunCounts(database),
        countDeadLetters(database.db),
      ])
      return { due: due.depth, oldestDueAt: due.oldestRunAt, ...active, deadLetters }
    },
    async providers(tenantId) {
      return Promise.all(
        (await providers.list(tenantId)).map(async (provider) => ({
          name: provider.name,
          status: provider.status,
          circuit: (await circuit.state(tenantId, provider.name)).state,
        })),
      )
    },
    async channels(tenantId) {
      return (await channels.service.list(tenantId)).map((channel) => ({
        id: channel.id,
        name: channel.name,
        type: channel.type,
        status: channel.status,
      }))
    },
  })
}
