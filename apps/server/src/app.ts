import fs from 'node:fs'
import type { SecureContextOptions } from 'node:tls'
import { problemResponse } from '@openorch/contracts'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import { type Kysely, sql } from 'kysely'
import { approvalRoutes } from './approvals/approval.routes.ts'
import { countAllPending } from './approvals/approval.store.ts'
import type { Approvals } from './approvals/approvals.ts'
import { registerAuditTrail } from './audit/audit.hook.ts'
import { auditRoutes } from './audit/audit.routes.ts'
import { apiKeyRoutes, personalKeyRoutes } from './auth/api-key.routes.ts'
import { type ApiKeyService, createApiKeyService } from './auth/api-key.service.ts'
import { createAuthHook, createCredentialCheck, decorateAuth } from './auth/auth.hook.ts'
import { botRoutes } from './bots/bot.routes.ts'
import { botFileRoutes } from './bots/bot-files.routes.ts'
import { botHookRoutes, inboundHookRoutes } from './bots/bot-hooks.routes.ts'
import { type Bots, countBots } from './bots/bots.ts'
import {
  type ChannelsDomain,
  channelRoutes,
  telegramRoutes,
  telegramWebhookRoutes,
} from './channels/channels.ts'
import { type Push, pushRoutes } from './channels/push/push.ts'
import type { Db } from './database.ts'
import { deadLetterRoutes } from './events/dead-letters.routes.ts'
import { eventRoutes, type StreamLimits } from './events/events.routes.ts'
import { registerScrapeGauges } from './operations/scrape-gauges.ts'
import { type Pipelines, pipelineRoutes } from './pipelines/pipelines.ts'
import type { Bus } from './platform/bus.ts'
import type { Clock } from './platform/clock.ts'
import type { MigrationFactory } from './platform/db/migrator.ts'
import { refuseNulInUrl, registerJsonOnly } from './platform/http/body-parser.ts'
import { registerErrorHandling } from './platform/http/error-handler.ts'
import { registerHttpMetrics } from './platform/http/http-metrics.ts'
import { registerHttpTracing } from './platform/http/http-tracing.ts'
import { apiPrefix, openApiPath, registerOpenApi } from './platform/http/openapi.ts'
import { problemOf, sendProblem } from './platform/http/problem.ts'
import { type RateLimits, registerRateLimits } from './platform/http/rate-limit.ts'
import { genReqId, registerRequestIdEcho } from './platform/http/request-id.ts'
import { registerSecurityHeaders } from './platform/http/security-headers.ts'
import { registerShutdownRefusal } from './platform/http/shutdown.ts'
import { systemRoutes } from './platform/http/system.routes.ts'
import { registerTenantScope } from './platform/http/tenant-scope.hook.ts'
import { registerHsts } from './platform/http/tls.ts'
import { registerWebApp, type WebApp } from './platform/http/web-app.ts'
import type { Logger } from './platform/logger.ts'
import { addCollectedGauge, type Metrics } from './platform/metrics.ts'
import type { CircuitBreaker } from './providers/circuit-breaker.ts'
import { providerRoutes } from './providers/provider.routes.ts'
import type { ProviderService } from './providers/provider.service.ts'
import { quotaRoutes } from './quotas/quota.routes.ts'
import type { RunKernel } from './runs/kernel.ts'
import { runRoutes } from './runs/run.routes.ts'
import { countDeadLetters, countRunsByStatus, queueFigures } from './runs/run.store.ts'
import { runStatuses } from './runs/run.types.ts'
import { runJsonOf } from './runs/run-view.ts'
import { scheduleRoutes } from './schedules/schedule.routes.ts'
import type { OperatingModeService } from './system/operating-mode.ts'
import { systemInfoRoutes } from './system/system.routes.ts'
import type { SystemService } from './system/system.service.ts'
import { workspaceRefusal } from './tenants/tenant.store.ts'
import { type McpServers, mcpRoutes } from './tools/mcp/mcp.ts'
import { type SearchSettings, type ToolPolicies, type ToolRegistry, toolRoutes } from './tools/tools.ts'
import { usageRoutes } from './usage/usage.routes.ts'
import type { UsageService } from './usage/usage.service.ts'
import { sessionRoutes, userAdminRoutes, userRoutes } from './users/user.routes.ts'
import type { UserService } from './users/user.service.ts'
import { createUserAdmin } from './users/user-admin.ts'
import { setupRoutes, workspaceRoutes } from './workspaces/workspace.routes.ts'
import { createWorkspaceService } from './workspaces/workspace.service.ts'

// The HTTP application: error handling, request ids, metrics, OpenAPI, then the routes. It opens no
// port and starts nothing; main.ts listens, tests call inject() or listen on port 0.

export interface AppDeps {
  database: Db
  kernel: Pick<RunKernel, 'runs'> & Partial<Pick<RunKernel, 'unserved' | 'relay' | 'views'>>
  bus: Bus
  clock: Clock
  log: Logger
  config: {
    bodyLimitBytes: number
    /** Live-feed heartbeat interval (default 15 s); credentials are checked again at each. */
    sseHeartbeatMs?: number
    /** Live-feed limits (defaults in events.routes.ts): lifetime, streams per credential and workspace. */
    streams?: StreamLimits
    /** Node's request timeout: the whole request, body included, must arrive within it (default 30 s). */
    requestTimeoutMs?: number
    /** Requests per minute per API key and per workspace (default 600 and 3,000). */
    rateLimits?: RateLimits
    /** Browser origins allowed to call the API (CORS); default none. */
    corsOrigins?: readonly string[]
    /**
     * Which proxies' X-Forwarded-For gives the client address (OPENORCH_TRUST_PROXY, Fastify's
     * `trustProxy`): true, a hop count, or addresses/CIDRs. Default false: the socket's address.
     */
    trustProxy?: boolean | number | string[]
    /** Serve HTTPS with this certificate and key (platform/http/tls.ts); every answer then carries HSTS. */
    https?: SecureContextOptions
    /** Scrapes of /metrics within this time share the database figures (default 0: each scrape reads). */
    metricsMaxAgeMs?: number
  }
  /** A per-app registry (createMetrics()); buildApp adds the run gauges to it. */
  metrics: Metrics
  /** The migrations the code expects, for /ready. */
  migrations: Record<string, MigrationFactory>
  /** Defaults to one on `database` and `clock`. */
  apiKeys?: ApiKeyService
  /** LLM providers of each workspace (keys encrypted with the process's vault). */
  providers: ProviderService
  /** The bots domain; its routes are registered when given (main.ts always gives it). */
  bots?: Pick<Bots, 'service' | 'notes' | 'quotasOf' | 'files' | 'hooks'>
  usage?: UsageService
  /** The tool sets bots may use (GET /tools). */
  tools?: ToolRegistry
  /** The workspaces' web search set-up (GET/PUT/DELETE /tools/search). */
  search?: SearchSettings
  /** The workspaces' MCP servers (/mcp-servers). */
  mcp?: McpServers
  /** The workspaces' approval policies (GET/PUT /tools/policy). */
  toolPolicies?: ToolPolicies
  /** Tool calls waiting for a person (/approvals). */
  approvals?: Approvals
  /** The providers' circuit breakers, shown on GET /providers/{name}. */
  circuit?: CircuitBreaker
  /** Pipelines: chained bots as durable workflows (/pipelines). */
  pipelines?: Pipelines
  /** Notification channels, the bots' rules, the delivery history (/channels, /notifications). */
  channels?: ChannelsDomain
  /** Web Push: the VAPID public key and the browsers' subscriptions (/push). */
  push?: Push
  /** The dashboard's build (apps/web/dist); served at `/` when it holds an index.html. */
  webRoot?: string
  /** Dashboard users and sessions; without it only API keys authenticate. */
  users?: UserService
  /** GET /system and the operating mode (GET/PUT /system/mode). */
  system?: { service: SystemService; mode: OperatingModeService }
}

export type App = FastifyInstance

/** A route as registered, for the inventory test (every route of the API is in the OpenAPI document). */
export interface RouteEntry {
  method: string
  url: string
  hidden: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    routeInventory: RouteEntry[]
  }
}

export const serverVersion = (
  JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version

/** Figures read from the database on scrape (all tenants: metrics are operator data; decision 0035). */
function registerRunGauges(
  deps: Pick<AppDeps, 'database' | 'clock' | 'log' | 'metrics' | 'approvals' | 'circuit'> & {
    kernel: Partial<Pick<RunKernel, 'unserved'>>
    config: Pick<AppDeps['config'], 'metricsMaxAgeMs'>
  },
): void {
  const { database, clock, log, metrics } = deps
  const approvals = deps.approvals ? database.db : undefined
  registerScrapeGauges(metrics, {
    log,
    now: () => clock.now(),
    ...(deps.config.metricsMaxAgeMs !== undefined ? { maxAgeMs: deps.config.metricsMaxAgeMs } : {}),
    readers: {
      queue: (now) => queueFigures(database, now),
      runsByStatus: async () => {
        const counts = new Map((await countRunsByStatus(database.db)).map((row) => [row.status, row.n]))
        return runStatuses.map((status) => ({ status, value: counts.get(status) ?? 0 }))
      },
      deadLetters: () => countDeadLetters(database.db),
      ...(approvals ? { approvalsPending: () => countAllPending(approvals) } : {}),
      ping: () => sql`select 1`.execute(database.db),
    },
  })
  addCollectedGauge(metrics, {
    name: 'openorch_runs_unserved',
    help: 'Runs due for over 30 s whose kind no live worker process serves, by kind (they wait, not fail).',
    labelNames: ['kind'] as const,
    log,
    read: async () => [...(deps.kernel.unserved ?? [])].map(([kind, value]) => ({ labels: { kind }, value })),
  })
  if (deps.circuit) {
    const circuit = deps.circuit
    addCollectedGauge(metrics, {
      name: 'openorch_provider_circuits',
      help: 'Provider circuit breakers (workspaces) by provider and state; closed ones without failures are not stored.',
      labelNames: ['provider', 'state'] as const,
      log,
      read: async () =>
        (await circuit.countsByState()).map((row) => ({
          labels: { provider: row.provider, state: row.state },
          value: row.count,
        })),
    })
  }
}

/** Fastify's `trustProxy`; a hop count as the function proxy-addr makes of one (Fastify's types lack the number). */
function trustProxyOf(value: boolean | number | string[] | undefined) {
  return typeof value === 'number' ? (_address: string, hop: number) => hop < value : (value ?? false)
}

/** What an HTTP server of ours is made with: the connection limits, TLS, the logger, zod. */
function createFastify(deps: {
  log: Logger
  config: Pick<AppDeps['config'], 'bodyLimitBytes' | 'requestTimeoutMs' | 'trustProxy' | 'https'>
}) {
  // Node checks the timeouts below every `connectionsCheckingInterval` (30 s by default): more often.
  const httpOptions = {
    headersTimeout: Math.min(20_000, deps.config.requestTimeoutMs ?? 30_000),
    connectionsCheckingInterval: Math.min(5_000, (deps.config.requestTimeoutMs ?? 30_000) / 4),
  }
  // HTTPS: Node's https server takes the http options too; a client that never finishes its TLS
  // handshake is cut off like one that drips its headers. (Fastify types an instance by its options'
  // server; the instance is the same, its `server` an https.Server: tls.ts reloads its context.)
  const httpsOption = deps.config.https
    ? ({
        https: { ...httpOptions, handshakeTimeout: httpOptions.headersTimeout, ...deps.config.https },
      } as Record<never, never>)
    : {}
  const app = Fastify({
    ...httpsOption,
    // Fastify's logger type is narrower than pino's; the instance is the same pino logger.
    loggerInstance: deps.log as FastifyBaseLogger,
    genReqId,
    bodyLimit: deps.config.bodyLimitBytes,
    // A client that drips its request (headers or body) is cut off (issue 11 item 10): Node answers
    // 408 when the whole request has not arrived in time, the headers after at most 20 s. Answers and
    // live streams are not limited by it.
    requestTimeout: deps.config.requestTimeoutMs ?? 30_000,
    http: httpOptions,
    trustProxy: trustProxyOf(deps.config.trustProxy),
    // A bot file's name (up to 200 characters, percent-encoded up to three times longer) is a path
    // parameter: Fastify's default of 100 refused the longer ones with 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    // Fastify's own closing 503 is plain JSON; ours below is problem+json like every other error.
    return503OnClosing: false,
    // Router-level refusals (a malformed percent-encoding, a path parameter over 100 characters) never
    // reach the error handler: answer them as problem+json too.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      sendProblem(
        reply,
        problemOf(
          tooLong ? 414 : 400,
          tooLong ? 'uri_too_long' : 'bad_url',
          tooLong
            ? 'A part of the path is longer than 100 characters; ids are never that long.'
            : 'The path is not a valid URL (a broken %-encoding?). Encode it with encodeURIComponent.',
        ),
      )
    },
  }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  return app
}

/** What a process without the `api` role serves: its probes and metrics (decision 0036). */
export interface ProbeAppDeps
  extends Pick<AppDeps, 'database' | 'clock' | 'log' | 'metrics' | 'migrations' | 'approvals' | 'circuit'> {
  kernel: Partial<Pick<RunKernel, 'unserved'>>
  config: Pick<
    AppDeps['config'],
    'bodyLimitBytes' | 'requestTimeoutMs' | 'trustProxy' | 'https' | 'metricsMaxAgeMs'
  >
  /** The process's roles (OPENORCH_ROLES), named in the answer to any other route. */
  roles: readonly string[]
}

/**
 * The HTTP server of a process without the `api` role (a worker, a scheduler): GET /health, /ready
 * and /metrics as an API process serves them, so it can be probed and scraped on its own port;
 * anything else is 404 `api_not_served`, pointing at the API processes.
 */
export async function buildProbeApp(deps: ProbeAppDeps): Promise<App> {
  const app = createFastify(deps)
  registerHttpTracing(app)
  if (deps.config.https) registerHsts(app)
  const roles = deps.roles.join(',') || '(none)'
  registerErrorHandling(app, {
    notFound: (request, reply) =>
      sendProblem(
        reply,
        problemOf(
          404,
          'api_not_served',
          `This process does not serve the API (OPENORCH_ROLES=${roles}): it answers only GET /health, GET /ready and GET /metrics. Send ${request.method} ${request.url.split('?')[0]} to a process with the api role.`,
        ),
      ),
  })
  registerRequestIdEcho(app)
  await registerSecurityHeaders(app, { corsOrigins: [] })
  registerShutdownRefusal(app)
  registerJsonOnly(app)
  refuseNulInUrl(app)
  registerHttpMetrics(app, deps.metrics)
  registerRunGauges(deps)
  await app.register(systemRoutes, {
    database: { db: deps.database.db as unknown as Kysely<unknown>, dialect: deps.database.dialect },
    migrations: deps.migrations,
    metrics: deps.metrics,
  })
  return app
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = createFastify(deps)

  // First, so the hooks after it run inside the request's span (when tracing is on).
  registerHttpTracing(app)
  // Before any hook can answer: every answer over TLS carries Strict-Transport-Security.
  if (deps.config.https) registerHsts(app)
  // The dashboard's files are found at start; its SPA fallback answers before the 404 problem.
  let webApp: WebApp | undefined
  registerErrorHandling(app, { notFound: (request, reply) => webApp?.fallback(request, reply) ?? false })
  registerRequestIdEcho(app)
  await registerSecurityHeaders(app, { corsOrigins: deps.config.corsOrigins ?? [] })
  registerShutdownRefusal(app)
  registerJsonOnly(app)
  refuseNulInUrl(app)
  registerHttpMetrics(app, deps.metrics)
  registerRunGauges(deps)
  decorateAuth(app)
  const inventory: RouteEntry[] = []
  app.decorate('routeInventory', inventory)
  app.addHook('onRoute', (route) => {
    // Any API route can meet a database outage or a shutdown (decision 0015): say so in its contract.
    const responses = (route.schema as { response?: Record<string, unknown> } | undefined)?.response
    if (responses && route.url.startsWith('/api/v1/') && !('503' in responses))
      responses['503'] = problemResponse(
        'Cannot answer right now (`database_unavailable`, `database_busy`, `database_full`, `shutting_down`); try again after Retry-After seconds.',
      )
    for (const method of [route.method].flat())
      inventory.push({
        method,
        url: route.url,
        hidden: (route.schema as { hide?: boolean } | undefined)?.hide === true,
      })
  })
  await registerOpenApi(app, { version: serverVersion })
  const { checkRateLimits, checkSignInRate, checkPublicWebhookRate } = await registerRateLimits(
    app,
    deps.config.rateLimits ?? { perKeyPerMinute: 600, perTenantPerMinute: 3000 },
  )
  if (deps.webRoot) webApp = await registerWebApp(app, deps.webRoot)

  const apiKeys =
    deps.apiKeys ?? createApiKeyService({ database: deps.database, clock: deps.clock, log: deps.log })

  await app.register(systemRoutes, {
    database: { db: deps.database.db as unknown as Kysely<unknown>, dialect: deps.database.dialect },
    migrations: deps.migrations,
    metrics: deps.metrics,
  })

  await app.register(
    async (api) => {
      // The contract itself is public: clients and generators fetch it before they have a key.
      api.get(openApiPath.slice(apiPrefix.length), { schema: { hide: true } }, async () => app.swagger())

      if (deps.users) await api.register(sessionRoutes, { users: deps.users, checkSignInRate })
      const workspaces = deps.users
        ? createWorkspaceService({
            database: deps.database,
            clock: deps.clock,
            log: deps.log,
            users: deps.users,
          })
        : undefined
      if (workspaces) await api.register(setupRoutes, { workspaces })
      // Inbound webhooks carry their own credential (the token in the URL), not an API key.
      if (deps.bots)
        await api.register(inboundHookRoutes, { bots: deps.bots.service, hooks: deps.bots.hooks })
      // Telegram's webhook: a secret path and Telegram's secret-token header, not an API key.
      if (deps.channels?.telegram)
        await api.register(telegramWebhookRoutes, {
          telegram: deps.channels.telegram.service,
          checkRate: checkPublicWebhookRate,
        })
      await api.register(async (secured) => {
        const checkCredential = createCredentialCheck(
          apiKeys,
          deps.users?.authenticateAccessToken,
          (tenantId) => workspaceRefusal(deps.database.db, tenantId),
        )
        secured.addHook('onRequest', createAuthHook(checkCredential))
        secured.addHook('onRequest', checkRateLimits)
        registerTenantScope(secured)
        registerAuditTrail(secured, { database: deps.database, now: () => deps.clock.now() })
        await secured.register(auditRoutes, { database: deps.database })
        await secured.register(apiKeyRoutes, { apiKeys })
        await secured.register(personalKeyRoutes, { apiKeys })
        if (deps.users) {
          await secured.register(userRoutes, { users: deps.users })
          const userAdmin = createUserAdmin({
            database: deps.database,
            clock: deps.clock,
            log: deps.log,
            users: deps.users,
          })
          await secured.register(userAdminRoutes, { userAdmin })
        }
        if (workspaces) await secured.register(workspaceRoutes, { workspaces })
        await secured.register(runRoutes, {
          runs: deps.kernel.runs,
          database: deps.database,
          views: deps.kernel.views ?? [],
        })
        await secured.register(providerRoutes, {
          providers: deps.providers,
          ...(deps.circuit ? { circuit: deps.circuit } : {}),
        })
        if (deps.bots)
          await secured.register(botRoutes, {
            bots: deps.bots.service,
            runs: deps.kernel.runs,
            runJson: runJsonOf(deps.kernel.views ?? []),
            notes: deps.bots.notes,
            quotasOf: deps.bots.quotasOf,
          })
        if (deps.bots)
          await secured.register(botFileRoutes, { bots: deps.bots.service, files: deps.bots.files })
        if (deps.bots)
          await secured.register(botHookRoutes, { bots: deps.bots.service, hooks: deps.bots.hooks })
        if (deps.usage) await secured.register(usageRoutes, { usage: deps.usage })
        if (deps.bots)
          await secured.register(quotaRoutes, {
            database: deps.database,
            clock: deps.clock,
            quotasOf: deps.bots.quotasOf,
            countBots: (tenantId) => countBots(deps.database.db, tenantId),
          })
        await secured.register(scheduleRoutes, { clock: deps.clock })
        if (deps.tools)
          await secured.register(toolRoutes, {
            registry: deps.tools,
            ...(deps.search ? { search: deps.search } : {}),
            ...(deps.toolPolicies ? { policies: deps.toolPolicies } : {}),
          })
        if (deps.approvals) await secured.register(approvalRoutes, { approvals: deps.approvals })
        if (deps.pipelines)
          await secured.register(pipelineRoutes, {
            pipelines: deps.pipelines.service,
            runJson: runJsonOf(deps.kernel.views ?? []),
          })
        if (deps.channels)
          await secured.register(channelRoutes, {
            channels: deps.channels.service,
            runs: deps.kernel.runs,
            clock: deps.clock,
            egress: deps.channels.egress,
          })
        if (deps.channels?.telegram)
          await secured.register(telegramRoutes, { telegram: deps.channels.telegram.service })
        if (deps.push) await secured.register(pushRoutes, { push: deps.push.service, vapid: deps.push.vapid })
        if (deps.mcp) await secured.register(mcpRoutes, { mcp: deps.mcp.service })
        if (deps.system)
          await secured.register(systemInfoRoutes, { system: deps.system.service, mode: deps.system.mode })
        await secured.register(eventRoutes, {
          database: deps.database,
          bus: deps.bus,
          checkCredential,
          views: deps.kernel.views ?? [],
          ...(deps.config.sseHeartbeatMs !== undefined ? { heartbeatMs: deps.config.sseHeartbeatMs } : {}),
          ...deps.config.streams,
        })
        await secured.register(deadLetterRoutes, {
          database: deps.database,
          clock: deps.clock,
          views: deps.kernel.views ?? [],
          kick: () => deps.kernel.relay?.kick(),
          consumers: () => deps.kernel.relay?.consumerNames() ?? [],
        })
      })
    },
    { prefix: apiPrefix },
  )

  return app
}
