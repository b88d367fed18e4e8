import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { App } from '../src/app.ts'
import { buildApp } from '../src/app.ts'
import { type Approvals, createApprovals } from '../src/approvals/approvals.ts'
import { type ApiKeyService, createApiKeyService } from '../src/auth/api-key.service.ts'
import type { Role } from '../src/auth/role.ts'
import type { BotProviderAccess } from '../src/bots/bot.executor.ts'
import type { ProviderDirectory } from '../src/bots/bot.service.ts'
import { botProvidersOf } from '../src/bots/bot-providers.ts'
import { type Bots, createBots } from '../src/bots/bots.ts'
import { builtInChannelAdapters } from '../src/channels/adapters/index.ts'
import { type ChannelAdapter, type ChannelsDomain, createChannels } from '../src/channels/channels.ts'
import { createPush, type Push } from '../src/channels/push/push.ts'
import type { Db } from '../src/database.ts'
import type { StreamLimits } from '../src/events/events.routes.ts'
import { systemServiceOf, telegramPeopleOf } from '../src/main.ts'
import { migrations } from '../src/migrations/index.ts'
import { createPipelines, type Pipelines } from '../src/pipelines/pipelines.ts'
import type { Clock } from '../src/platform/clock.ts'
import { createVault, type Vault } from '../src/platform/crypto.ts'
import type { DialectName } from '../src/platform/db/database.ts'
import { createEgressPolicy, parseEgressAllow } from '../src/platform/egress/egress.ts'
import type { RateLimits } from '../src/platform/http/rate-limit.ts'
import { createLogger, type Logger } from '../src/platform/logger.ts'
import { createMetrics, type Metrics } from '../src/platform/metrics.ts'
import {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  createCircuitBreaker,
} from '../src/providers/circuit-breaker.ts'
import {
  createProviderService,
  type ProviderService,
  type ProviderServiceDeps,
} from '../src/providers/provider.service.ts'
import { defaultQuotas, type Quotas } from '../src/quotas/quotas.ts'
import { createSchedules } from '../src/schedules/schedules.ts'
import { createClusterPresence } from '../src/system/cluster-processes.ts'
import { createOperatingMode } from '../src/system/operating-mode.ts'
import { createMcpServers, type McpServers } from '../src/tools/mcp/mcp.ts'
import {
  createBrowserPool,
  createSearchSettings,
  createToolPolicies,
  createToolRegistry,
} from '../src/tools/tools.ts'
import { createUsageService } from '../src/usage/usage.service.ts'
import { createUserService, type UserService } from '../src/users/user.service.ts'
import { createTestDatabase, type TestDatabase } from './databases.ts'
import { createTestKernel, testLog } from './kernel-harness.ts'
import { captureDir, recordAnswer, recordSecret } from './output-capture.ts'

export interface TestApp {
  app: App
  database: Db
  kernel: ReturnType<typeof createTestKernel>
  apiKeys: ApiKeyService
  providers: ProviderService
  /** The vault the providers' keys are encrypted with (its master key lives in a temp dir). */
  vault: Vault
  metrics: Metrics
  bots: Bots
  /** The workspaces' MCP servers (their connections are closed with the app). */
  mcp: McpServers
  approvals: Approvals
  /** The providers' circuit breakers (decision 0034). */
  circuit: CircuitBreaker
  pipelines: Pipelines
  channels: ChannelsDomain
  /** Web Push: VAPID keys and the browsers' subscriptions. */
  push: Push
  users: UserService
  /** The data directory (notes), a fresh temporary folder. */
  dataDir: string
  /** Another connection (pool) to the same database, as a second process would have; closed with the app. */
  openSecond(): Promise<Db>
  /** Plain keys of the default tenant, one per role, and an owner key of a second tenant. */
  keys: Record<Role, string> & { otherTenant: string }
  /** Starts the kernel's worker and outbox relay (stopped again by close). */
  startKernel(): void
  close(): Promise<void>
}

export const otherTenantId = 'other'

/** A fresh migrated database, a kernel on it and the app, with one API key per role. */
export async function createTestApp(
  dialect: DialectName,
  options: {
    bodyLimitBytes?: number
    sseHeartbeatMs?: number
    /** Quotas of the bots (default: defaultQuotas, schedules down to 1 s, no workspace budget). */
    quotas?: Partial<Quotas>
    /** Live-feed limits (lifetime, streams per credential and workspace). */
    streams?: StreamLimits
    /** Node's request timeout (only for a listening app). */
    requestTimeoutMs?: number
    defaultMetrics?: boolean
    log?: Logger
    /** Overrides of the provider service (timeouts, fetch). */
    providers?: Partial<Pick<ProviderServiceDeps, 'fetch' | 'validationTimeoutMs' | 'idleTimeoutMs'>>
    /** OPENORCH_EGRESS_ALLOW for the bots' tools (default: loopback, where the tests' servers are). */
    toolEgressAllow?: string
    /** Channel types besides the built-in ones (a test's own recording adapter). */
    channelAdapters?: readonly ChannelAdapter[]
    /** OPENORCH_MCP_STDIO (default false), and the MCP tools' call timeout (default 60 s). */
    mcp?: { stdio?: boolean; callTimeoutMs?: number }
    /** What the bots use to reach providers (default: the provider service above). */
    botProviders?: (database: Db) => ProviderDirectory & BotProviderAccess
    kernel?: Parameters<typeof createTestKernel>[1]
    rateLimits?: RateLimits
    /** The providers' circuit breakers (default: 5 failures, a minute's cool-down). */
    circuit?: CircuitBreakerOptions
    corsOrigins?: string[]
    /** OPENORCH_TRUST_PROXY as parsed (default false: the socket's address is the client's). */
    trustProxy?: boolean | number | string[]
    /** A dashboard build to serve at `/`. */
    webRoot?: string
    /** How the app opens the test database (default: directly); e.g. through a TCP proxy. */
    open?: (testDatabase: TestDatabase) => Promise<Db>
  } = {},
): Promise<TestApp> {
  const testDatabase = await createTestDatabaseWithRetry(dialect)
  const database = await (options.open ? options.open(testDatabase) : testDatabase.open())
  const kernel = createTestKernel(database, { relayIntervalMs: 50, ...options.kernel })
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? false })
  const apiKeys = createApiKeyService({ database, clock: kernel.clock, log: testLog })
  const vaulted = createTestProviderService(database, kernel.clock, options.log ?? testLog, options.providers)
  await database.db
    .insertInto('tenants')
    .values({ tenant_id: otherTenantId, name: 'Other workspace', created_at: Date.now() })
    .execute()
  const keyFor = async (role: Role, tenantId = 'default') =>
    (await apiKeys.createApiKey({ tenantId, name: `${role} key`, role })).key
  const keys = {
    owner: await keyFor('owner'),
    admin: await keyFor('admin'),
    editor: await keyFor('editor'),
    viewer: await keyFor('viewer'),
    otherTenant: await keyFor('owner', otherTenantId),
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-test-'))
  const schedules = createSchedules({
    database,
    bus: kernel.bus,
    clock: kernel.clock,
    log: options.log ?? testLog,
    runs: kernel.runs,
  })
  // Tools reach the local stand-ins (shops, MCP servers) on loopback; everything else stays refused.
  const toolEgress = createEgressPolicy(parseEgressAllow(options.toolEgressAllow ?? '127.0.0.0/8,::1'))
  const search = createSearchSettings({
    database,
    vault: vaulted.vault,
    clock: kernel.clock,
    egress: toolEgress,
    log: options.log ?? testLog,
  })
  // Chromium starts only when a test's bot opens a page.
  const browser = createBrowserPool({ log: options.log ?? testLog })
  const toolRegistry = createToolRegistry({ search, browser })
  const mcp = createMcpServers({
    database,
    vault: vaulted.vault,
    clock: kernel.clock,
    egress: toolEgress,
    log: options.log ?? testLog,
    stdio: options.mcp?.stdio ?? false,
    ...(options.mcp?.callTimeoutMs !== undefined ? { callTimeoutMs: options.mcp.callTimeoutMs } : {}),
  })
  toolRegistry.addSource(mcp.source)
  const approvals = createApprovals({ database, clock: kernel.clock, runs: kernel.runs })
  kernel.relay.consume('approvals', approvals.onEvents)
  const toolPolicies = createToolPolicies({ database, clock: kernel.clock, registry: toolRegistry })
  const circuit = createCircuitBreaker({
    database,
    clock: kernel.clock,
    runs: kernel.runs,
    ...(options.circuit ?? { cooldownMs: 60_000 }),
  })
  const bots = createBots({
    database,
    schedules,
    tools: { registry: toolRegistry, egress: toolEgress },
    approvals: { service: approvals, policies: toolPolicies },
    bus: kernel.bus,
    clock: kernel.clock,
    log: options.log ?? testLog,
    kernel,
    providers: options.botProviders?.(database) ?? botProvidersOf(vaulted.providers, circuit),
    streamFlushMs: 20,
    // Tests schedule every second and spend freely unless they test the quotas themselves.
    quotas: { ...defaultQuotas, minScheduleSeconds: 1, dailyBudgetUsd: null, ...options.quotas },
  })
  const pipelines = createPipelines({
    database,
    clock: kernel.clock,
    log: options.log ?? testLog,
    kernel,
    schedules,
    steps: bots.steps,
    approvals,
    triggers: bots.triggers,
    quotasOf: bots.quotasOf,
  })
  const push = createPush({
    database,
    clock: kernel.clock,
    vault: vaulted.vault,
    channels: () => channels.service,
  })
  const channels = createChannels({
    database,
    clock: kernel.clock,
    vault: vaulted.vault,
    kernel,
    egress: toolEgress,
    adapters: [...builtInChannelAdapters, push.adapter, ...(options.channelAdapters ?? [])],
    botOf: bots.botOf,
    summarize: bots.summarize,
    retryBaseMs: 20,
    // `users` is made below; its functions are called only once requests come.
    telegram: {
      log: options.log ?? testLog,
      people: telegramPeopleOf({ bots, approvals, users: { me: (id) => users.me(id) } }),
      polling: { leaseMs: 6_000, scanIntervalMs: 100, longPollSeconds: 1 },
    },
  })
  const users = createUserService({
    database,
    clock: kernel.clock,
    log: options.log ?? testLog,
    signingKey: vaulted.vault.deriveKey('openorch session signing v1'),
  })
  const createUser = users.createUser
  users.createUser = (input) => {
    recordSecret(input.password)
    return createUser(input)
  }
  // The operating mode and the process list as GET /system shows them (not started: no timers).
  const mode = createOperatingMode({
    database,
    bus: kernel.bus,
    clock: kernel.clock,
    log: options.log ?? testLog,
  })
  const presence = createClusterPresence({
    database,
    clock: kernel.clock,
    log: options.log ?? testLog,
    roles: ['api', 'scheduler', 'worker'],
    version: 'test',
  })
  const app = await buildApp({
    database,
    kernel,
    bus: kernel.bus,
    clock: kernel.clock,
    log: options.log ?? testLog,
    config: {
      bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
      ...(options.sseHeartbeatMs !== undefined ? { sseHeartbeatMs: options.sseHeartbeatMs } : {}),
      ...(options.streams ? { streams: options.streams } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
      ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
      ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    },
    metrics,
    migrations,
    apiKeys,
    providers: vaulted.providers,
    circuit,
    bots,
    usage: createUsageService({ database, clock: kernel.clock }),
    tools: toolRegistry,
    search,
    mcp,
    toolPolicies,
    approvals,
    pipelines,
    channels,
    push,
    users,
    system: {
      service: systemServiceOf({
        database,
        sqlitePath: null,
        migrations,
        mode,
        presence,
        providers: vaulted.providers,
        circuit,
        channels,
      }),
      mode,
    },
    ...(options.webRoot ? { webRoot: options.webRoot } : {}),
  })
  recordingAnswers(app)
  let started = false
  let closed = false
  const seconds: Db[] = []
  return {
    app,
    database,
    kernel,
    apiKeys,
    providers: vaulted.providers,
    vault: vaulted.vault,
    metrics,
    bots,
    mcp,
    approvals,
    circuit,
    pipelines,
    channels,
    push,
    users,
    dataDir,
    keys,
    async openSecond() {
      const second = await testDatabase.open()
      seconds.push(second)
      return second
    },
    startKernel() {
      started = true
      kernel.start()
    },
    async close() {
      // Idempotent: a failed beforeEach leaves the previous test's app in place for afterEach.
      if (closed) return
      closed = true
      await app.close()
      await schedules.stop()
      await channels.telegram?.poller.stop()
      await browser.close()
      await mcp.close()
      if (started) await kernel.stop(1000)
      for (const second of seconds) await second.close()
      await kernel.bus.close()
      await database.close()
      await testDatabase.cleanup()
      fs.rmSync(dataDir, { recursive: true, force: true })
      vaulted.cleanup()
    },
  }
}

/** A provider service whose vault keeps its generated master key in a temp dir (removed by cleanup). */
export function createTestProviderService(
  database: Db,
  clock: Clock,
  log: Logger = testLog,
  overrides: Partial<Pick<ProviderServiceDeps, 'fetch' | 'validationTimeoutMs' | 'idleTimeoutMs'>> = {},
): { providers: ProviderService; vault: Vault; cleanup(): void } {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-vault-'))
  const vault = recordingSecrets(createVault({ dataDir }))
  recordSecret(fs.readFileSync(path.join(dataDir, 'master.key'), 'utf8').trim())
  // The tests' provider stand-ins listen on loopback: opened here, as an operator would
  // (OPENORCH_EGRESS_ALLOW); egress tests build their own service with the default.
  const egress = createEgressPolicy(parseEgressAllow('127.0.0.0/8,::1'))
  const providers = createProviderService({ database, clock, log, vault, egress, ...overrides })
  return { providers, vault, cleanup: () => fs.rmSync(dataDir, { recursive: true, force: true }) }
}

/**
 * Kysely's PostgreSQL migrator introspects every schema of the database; when another test file
 * drops its schema at that moment, PostgreSQL reports `schema "t_…" does not exist`. Only that
 * error is retried (the race belongs to test/databases.ts, shared with the kernel tests).
 */
export async function createTestDatabaseWithRetry(dialect: DialectName) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createTestDatabase(dialect)
    } catch (error) {
      const raced = error instanceof Error && /^schema "t_[0-9a-f]+" does not exist$/.test(error.message)
      if (!raced || attempt >= 5) throw error
    }
  }
}

/** A vault that records every plaintext it is given, for the full-run grep (test/output-capture.ts). */
function recordingSecrets(vault: Vault): Vault {
  return {
    ...vault,
    keyId: vault.keyId,
    encrypt(plain) {
      recordSecret(plain)
      return vault.encrypt(plain)
    },
    decrypt: (stored) => vault.decrypt(stored),
    needsRotation: (stored) => vault.needsRotation(stored),
    deriveKey: (purpose) => vault.deriveKey(purpose),
  }
}

/** Keeps every in-process answer for the full-run grep (test/output-capture.ts). */
function recordingAnswers(app: FastifyInstance): void {
  if (!captureDir) return
  const inject = app.inject.bind(app) as (options: InjectOptions) => Promise<LightMyRequestResponse>
  ;(app as { inject: unknown }).inject = async (options: InjectOptions | string) => {
    const request = typeof options === 'string' ? { url: options } : options
    const response = await inject(request)
    recordAnswer(String(request.method ?? 'GET'), String(request.url ?? ''), response.body)
    return response
  }
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/** A logger that keeps its JSON lines, for tests that check what was logged. */
export function createCapturingLog(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = []
  // The production logger (its redaction and secret scrubbing), writing into memory.
  const log = createLogger({ level: 'info', destination: { write: (line: string) => void raw.push(line) } })
  return { log, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) }
}

/**
 * Providers as the bots see them, read straight from the providers table: enough for tests of bot
 * settings and schedules. Tests that call a model pass the real provider service instead.
 */
export function tableProviders(database: Db): ProviderDirectory & BotProviderAccess {
  return {
    async list(tenantId) {
      const rows = await database.db
        .selectFrom('providers')
        .select(['name', 'default_model'])
        .where('tenant_id', '=', tenantId)
        .execute()
      return rows.map((r) => ({ name: r.name, defaultModel: r.default_model }))
    },
    async credentials() {
      throw new Error('tableProviders cannot call a model; pass the provider service to createTestApp')
    },
    async generate() {
      throw new Error('tableProviders cannot call a model; pass the provider service to createTestApp')
    },
    costUsd: () => null,
  }
}

/** Marks a provider as configured for a tenant (a row as the provider service writes it, no key). */
export async function insertProviderRow(
  database: Db,
  name: string,
  options: { tenantId?: string; defaultModel?: string | null; apiKeyEncrypted?: string | null } = {},
): Promise<void> {
  const now = Date.now()
  await database.db
    .insertInto('providers')
    .values({
      tenant_id: options.tenantId ?? 'default',
      name,
      api_key_encrypted: options.apiKeyEncrypted ?? null,
      key_hint: null,
      base_url: null,
      default_model: options.defaultModel ?? null,
      models: '[]',
      status: 'valid',
      last_error_code: null,
      last_checked_at: now,
      created_at: now,
      updated_at: now,
    })
    .execute()
}
