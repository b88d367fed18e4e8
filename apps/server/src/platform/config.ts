import { isIP } from 'node:net'
import path from 'node:path'
import { z } from 'zod'
import { defaultEgressAllow, type EgressAllowEntry, parseEgressAllow } from './egress/egress.ts'
import { wantsPrettyLogs } from './logger.ts'
import { defaultQuotas, type Quotas } from './quota-limits.ts'
import { type TracingConfig, tracingConfigOf } from './tracing.ts'

// Every environment variable the server reads, parsed once. Services receive the slice they need.
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

const otlpEndpoint = z
  .string()
  .trim()
  .refine((value) => /^https?:\/\/[^/]/.test(value) && URL.canParse(value), {
    error: 'must be an http:// or https:// URL of an OTLP receiver, e.g. http://localhost:4318',
  })

const boolFrom = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes')

const envSchema = z.object({
  PORT: intFrom(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  OPENORCH_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must start with postgres:// or postgresql://')
    .optional(),
  OPENORCH_API_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  OPENORCH_MASTER_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  OPENORCH_EXTRA_MASTER_KEYS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().min(32, 'every key must be at least 32 characters'))),
  OPENORCH_CONCURRENCY: intFrom(1, 1000).default(3),
  OPENORCH_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OPENORCH_SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  OPENORCH_LEASE_SECONDS: intFrom(2, 3600).default(30),
  OPENORCH_POLL_INTERVAL_MS: intFrom(10, 60_000).default(1000),
  OPENORCH_QUEUE_WARN_PENDING: intFrom(0, 10_000_000).default(10),
  OPENORCH_QUEUE_DROP_PENDING: intFrom(0, 10_000_000).default(20),
  OPENORCH_SHUTDOWN_GRACE_SECONDS: intFrom(0, 3600).default(25),
  OPENORCH_BODY_LIMIT_BYTES: intFrom(1024, 100 * 1024 * 1024).default(1024 * 1024),
  OPENORCH_RUN_RETENTION_DAYS: intFrom(1, 36500).default(90),
  OPENORCH_AUDIT_RETENTION_DAYS: intFrom(1, 36500).default(365),
  // What each workspace may hold and ask for (decision 0019).
  OPENORCH_MAX_BOTS: intFrom(1, 1_000_000).default(defaultQuotas.bots),
  OPENORCH_MAX_NOTES_PER_BOT: intFrom(0, 100_000).default(defaultQuotas.notesPerBot),
  OPENORCH_MAX_NOTE_BYTES_PER_BOT: intFrom(0, 1024 ** 3).default(defaultQuotas.noteBytesPerBot),
  OPENORCH_MAX_INPUT_BYTES: intFrom(2, 16 * 1024 ** 2).default(defaultQuotas.inputBytes),
  OPENORCH_MIN_SCHEDULE_SECONDS: intFrom(1, 86_400).default(defaultQuotas.minScheduleSeconds),
  OPENORCH_DEFAULT_DAILY_BUDGET_USD: z.coerce
    .number()
    .min(0)
    .max(1_000_000)
    .default(defaultQuotas.dailyBudgetUsd!),
  OPENORCH_CLAIM_BATCH_SIZE: intFrom(1, 10_000).optional(),
  OPENORCH_LOCAL_QUEUE_SIZE: intFrom(0, 100_000).default(0),
  OPENORCH_SETTLE_BATCH_SIZE: intFrom(1, 10_000).default(100),
  // Unset: every kind this process has an executor for; else only these (comma-separated).
  OPENORCH_RUN_KINDS: z
    .string()
    .optional()
    .transform((v) =>
      v === undefined || v.trim() === ''
        ? undefined
        : v
            .split(',')
            .map((k) => k.trim())
            .filter(Boolean),
    )
    .pipe(
      z.array(z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must be run kind names such as bot')).optional(),
    ),
  OPENORCH_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .url({ protocol: /^https?$/ })
          .refine(
            (o) => URL.canParse(o) && new URL(o).origin === o,
            'must be an origin such as https://app.example.com (no path)',
          ),
      ),
    ),
  // The address people reach the dashboard at: absolute links in notifications, Telegram's webhook, VAPID.
  OPENORCH_PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .refine(
      (value) => URL.canParse(value) && !new URL(value).search && !new URL(value).hash,
      'must be an address such as https://orch.example.com (no query)',
    )
    .transform((value) => value.replace(/\/+$/, ''))
    .optional(),
  // A provider's circuit opens after this many transient failures in a row, for this long (decision 0034).
  OPENORCH_CIRCUIT_FAILURES: intFrom(1, 1000).default(5),
  OPENORCH_CIRCUIT_COOLDOWN_SECONDS: intFrom(1, 86_400).default(30),
  OPENORCH_RATE_LIMIT_PER_KEY: intFrom(1, 10_000_000).default(600),
  OPENORCH_RATE_LIMIT_PER_TENANT: intFrom(1, 10_000_000).default(3000),
  OPENORCH_ROLES: z
    .string()
    .default('api,scheduler,worker')
    .transform((value) => value.split(',').map((role) => role.trim()))
    .pipe(z.array(z.enum(['api', 'scheduler', 'worker'])).min(1)),
  OPENORCH_PRETTY_LOGS: boolFrom.optional(),
  // Traces (decision 0038): the SDK reads every OTEL_* itself; a wrong endpoint is said here, at start.
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint.optional(),
  // stdio MCP servers run programs on this machine: off unless the operator says so.
  OPENORCH_MCP_STDIO: boolFrom.optional(),
  // The browser tool set: Chromium to start (unset: /usr/bin/chromium and the like) and pages at once.
  OPENORCH_CHROMIUM_PATH: z
    .string()
    .trim()
    .refine((value) => path.isAbsolute(value), 'must be an absolute path such as /usr/bin/chromium')
    .optional(),
  OPENORCH_BROWSER_CONCURRENCY: intFrom(1, 64).default(2),
  OPENORCH_CODE_WORKERS: intFrom(1, 64).default(2),
  // Unset (or empty): a local Ollama on its default port is open; `none`: nothing private is.
  OPENORCH_EGRESS_ALLOW: z
    .string()
    .default(defaultEgressAllow)
    .transform((value, ctx) => {
      try {
        return parseEgressAllow(value)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
        return z.NEVER
      }
    }),
  // HTTPS on PORT (decision 0039): PEM files, both or neither; read at start and again on SIGHUP.
  OPENORCH_TLS_CERT: z.string().trim().min(1).optional(),
  OPENORCH_TLS_KEY: z.string().trim().min(1).optional(),
  OPENORCH_TLS_CA: z.string().trim().min(1).optional(),
  OPENORCH_TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value, ctx) => {
      const trimmed = value.trim()
      if (trimmed === 'true' || trimmed === 'false') return trimmed === 'true'
      if (/^\d+$/.test(trimmed)) return Number(trimmed)
      const entries = trimmed
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean)
      const bad = entries.filter((entry) => !isProxyAddress(entry))
      if (bad.length > 0)
        ctx.addIssue({
          code: 'custom',
          message: `must be true, false, a hop count, or addresses/CIDRs such as 10.0.0.0/8,::1 (not ${bad.join(', ')})`,
        })
      return entries
    }),
})

/** An entry of OPENORCH_TRUST_PROXY: an address, a CIDR, or one of proxy-addr's names. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true
  const [address = '', prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}

/** OPENORCH_TLS_CERT and OPENORCH_TLS_KEY come as a pair; OPENORCH_TLS_CA only with them. */
function tlsProblemOf(e: {
  OPENORCH_TLS_CERT?: string | undefined
  OPENORCH_TLS_KEY?: string | undefined
  OPENORCH_TLS_CA?: string | undefined
}): string | undefined {
  if (e.OPENORCH_TLS_CERT && !e.OPENORCH_TLS_KEY)
    return `OPENORCH_TLS_KEY is not set, but OPENORCH_TLS_CERT is: HTTPS needs both. Set OPENORCH_TLS_KEY to the certificate's private key (PEM), or unset OPENORCH_TLS_CERT for plain HTTP.`
  if (e.OPENORCH_TLS_KEY && !e.OPENORCH_TLS_CERT)
    return `OPENORCH_TLS_CERT is not set, but OPENORCH_TLS_KEY is: HTTPS needs both. Set OPENORCH_TLS_CERT to the certificate (PEM, with its chain), or unset OPENORCH_TLS_KEY for plain HTTP.`
  if (e.OPENORCH_TLS_CA && !e.OPENORCH_TLS_CERT)
    return `OPENORCH_TLS_CA is set without OPENORCH_TLS_CERT and OPENORCH_TLS_KEY: it only adds intermediates to a certificate. Set both, or unset OPENORCH_TLS_CA.`
  return undefined
}

export type Env = z.infer<typeof envSchema>

export interface Config {
  http: {
    port: number
    host: string
    bodyLimitBytes: number
    /** Requests per minute, per process. */
    rateLimits: { perKeyPerMinute: number; perTenantPerMinute: number }
    /** Origins allowed to call the API from a browser (CORS); empty = closed. */
    corsOrigins: string[]
    /**
     * Whose X-Forwarded-For gives the client address (sign-in throttling, audit): false = the socket's
     * address; true = any proxy (only behind one that overwrites the header); a hop count; or the
     * proxies' addresses/CIDRs.
     */
    trustProxy: boolean | number | string[]
    /** HTTPS on the port (OPENORCH_TLS_CERT, OPENORCH_TLS_KEY, OPENORCH_TLS_CA; absolute paths); undefined: plain HTTP. */
    tls: { certFile: string; keyFile: string; caFile: string | undefined } | undefined
  }
  /** The dashboard's public address without a trailing slash (OPENORCH_PUBLIC_URL); undefined: paths only. */
  publicUrl: string | undefined
  /** The providers' circuit breakers: transient failures in a row that open one, and its cool-down. */
  circuit: { failures: number; cooldownMs: number }
  /** What outbound calls may reach although it is not on the internet (OPENORCH_EGRESS_ALLOW). */
  egressAllow: EgressAllowEntry[]
  /**
   * The same for the bots' tools, whose URLs come from the model (and so from any page it read):
   * only what OPENORCH_EGRESS_ALLOW names, never the local Ollama opened by default for providers.
   */
  toolEgressAllow: EgressAllowEntry[]
  /** Whether stdio MCP servers (programs on this machine) may be registered and started (OPENORCH_MCP_STDIO). */
  mcpStdio: boolean
  /** The browser tool set's Chromium (OPENORCH_CHROMIUM_PATH; undefined: found) and pages per process. */
  browser: { executablePath: string | undefined; concurrency: number }
  /** The code tool set's sandboxes that run at once per process (OPENORCH_CODE_WORKERS). */
  codeWorkers: number
  dataDir: string
  database: { url: string | undefined; sqlitePath: string; sqliteSynchronous: 'NORMAL' | 'FULL' }
  auth: { bootstrapApiKey: string | undefined }
  masterKey: string | undefined
  /** Keys secrets may also be decrypted with (rotation). */
  extraMasterKeys: string[]
  worker: {
    concurrency: number
    leaseMs: number
    pollIntervalMs: number
    shutdownGraceMs: number
    /** Runs per claim (default: every free slot); leased runs held ahead of free slots; completions per write. */
    claimBatchSize: number | undefined
    /** Only these run kinds are claimed here (OPENORCH_RUN_KINDS); undefined: every kind with an executor. */
    kinds: string[] | undefined
    localQueueSize: number
    settleBatchSize: number
  }
  backpressure: { warnPending: number; dropPending: number }
  /** Finished runs older than this are pruned (the last run of each bot is kept). */
  retention: { runsMs: number; auditMs: number }
  roles: ReadonlyArray<'api' | 'scheduler' | 'worker'>
  log: { level: Env['OPENORCH_LOG_LEVEL']; pretty: boolean }
  /** What each workspace may hold and ask for. */
  quotas: Quotas
  /** OpenTelemetry traces: on when an OTLP endpoint is set (the SDK reads the other OTEL_* itself). */
  tracing: TracingConfig
}

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** Parses the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  // Empty strings count as unset, so `PORT= npm start` behaves like no PORT at all.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  )
  const parsed = envSchema.safeParse(cleaned)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment')
      return `${name}=${JSON.stringify(cleaned[name] ?? '')}: ${issue.message}`
    })
    throw new ConfigError(problems)
  }
  const e = parsed.data
  if (e.OPENORCH_QUEUE_DROP_PENDING < e.OPENORCH_QUEUE_WARN_PENDING) {
    throw new ConfigError([
      `OPENORCH_QUEUE_DROP_PENDING=${e.OPENORCH_QUEUE_DROP_PENDING}: must not be below OPENORCH_QUEUE_WARN_PENDING (${e.OPENORCH_QUEUE_WARN_PENDING})`,
    ])
  }
  const tlsProblem = tlsProblemOf(e)
  if (tlsProblem) throw new ConfigError([tlsProblem])
  const dataDir = path.resolve(e.OPENORCH_DATA_DIR)
  return {
    http: {
      port: e.PORT,
      host: e.HOST,
      bodyLimitBytes: e.OPENORCH_BODY_LIMIT_BYTES,
      rateLimits: {
        perKeyPerMinute: e.OPENORCH_RATE_LIMIT_PER_KEY,
        perTenantPerMinute: e.OPENORCH_RATE_LIMIT_PER_TENANT,
      },
      corsOrigins: e.OPENORCH_CORS_ORIGINS,
      trustProxy: e.OPENORCH_TRUST_PROXY,
      tls:
        e.OPENORCH_TLS_CERT && e.OPENORCH_TLS_KEY
          ? {
              certFile: path.resolve(e.OPENORCH_TLS_CERT),
              keyFile: path.resolve(e.OPENORCH_TLS_KEY),
              caFile: e.OPENORCH_TLS_CA ? path.resolve(e.OPENORCH_TLS_CA) : undefined,
            }
          : undefined,
    },
    publicUrl: e.OPENORCH_PUBLIC_URL,
    circuit: {
      failures: e.OPENORCH_CIRCUIT_FAILURES,
      cooldownMs: e.OPENORCH_CIRCUIT_COOLDOWN_SECONDS * 1000,
    },
    egressAllow: e.OPENORCH_EGRESS_ALLOW,
    toolEgressAllow: 'OPENORCH_EGRESS_ALLOW' in cleaned ? e.OPENORCH_EGRESS_ALLOW : [],
    mcpStdio: e.OPENORCH_MCP_STDIO ?? false,
    browser: { executablePath: e.OPENORCH_CHROMIUM_PATH, concurrency: e.OPENORCH_BROWSER_CONCURRENCY },
    codeWorkers: e.OPENORCH_CODE_WORKERS,
    dataDir,
    database: {
      url: e.DATABASE_URL,
      sqlitePath: path.join(dataDir, 'openorch.db'),
      sqliteSynchronous: e.OPENORCH_SQLITE_SYNCHRONOUS,
    },
    auth: { bootstrapApiKey: e.OPENORCH_API_KEY },
    masterKey: e.OPENORCH_MASTER_KEY,
    extraMasterKeys: e.OPENORCH_EXTRA_MASTER_KEYS,
    worker: {
      concurrency: e.OPENORCH_CONCURRENCY,
      leaseMs: e.OPENORCH_LEASE_SECONDS * 1000,
      pollIntervalMs: e.OPENORCH_POLL_INTERVAL_MS,
      shutdownGraceMs: e.OPENORCH_SHUTDOWN_GRACE_SECONDS * 1000,
      claimBatchSize: e.OPENORCH_CLAIM_BATCH_SIZE,
      kinds: e.OPENORCH_RUN_KINDS,
      localQueueSize: e.OPENORCH_LOCAL_QUEUE_SIZE,
      settleBatchSize: e.OPENORCH_SETTLE_BATCH_SIZE,
    },
    backpressure: { warnPending: e.OPENORCH_QUEUE_WARN_PENDING, dropPending: e.OPENORCH_QUEUE_DROP_PENDING },
    retention: {
      runsMs: e.OPENORCH_RUN_RETENTION_DAYS * 86_400_000,
      auditMs: e.OPENORCH_AUDIT_RETENTION_DAYS * 86_400_000,
    },
    roles: e.OPENORCH_ROLES,
    quotas: {
      bots: e.OPENORCH_MAX_BOTS,
      notesPerBot: e.OPENORCH_MAX_NOTES_PER_BOT,
      noteBytesPerBot: e.OPENORCH_MAX_NOTE_BYTES_PER_BOT,
      inputBytes: e.OPENORCH_MAX_INPUT_BYTES,
      minScheduleSeconds: e.OPENORCH_MIN_SCHEDULE_SECONDS,
      // 0: no workspace budget.
      dailyBudgetUsd: e.OPENORCH_DEFAULT_DAILY_BUDGET_USD === 0 ? null : e.OPENORCH_DEFAULT_DAILY_BUDGET_USD,
    },
    log: { level: e.OPENORCH_LOG_LEVEL, pretty: wantsPrettyLogs(e.OPENORCH_PRETTY_LOGS) },
    tracing: tracingConfigOf(cleaned),
  }
}
