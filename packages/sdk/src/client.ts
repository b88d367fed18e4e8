import type {
  ApiKey,
  ApiKeyCreate,
  ApiKeyCreated,
  Approval,
  ApprovalDecision,
  Bot,
  BotCreate,
  BotExport,
  BotExportDocument,
  BotUpdate,
  McpServer,
  McpServerCreate,
  McpServerUpdate,
  Note,
  NoteSummary,
  OperatingMode,
  OperatingModeUpdate,
  Page,
  Pipeline,
  PipelineCreate,
  PipelineRunStep,
  PipelineStep,
  PipelineUpdate,
  Problem,
  Provider,
  ProviderConfig,
  ProviderName,
  ProviderValidation,
  QuotaOverrides,
  Quotas,
  RunEventPayload,
  RunLog,
  RunSearchSnippet,
  RunStatus,
  SchedulePreview,
  SearchSettings,
  SearchSettingsPut,
  Session,
  SetupState,
  SystemInfo,
  ToolPolicy,
  ToolSet,
  Usage,
  User,
  UserCreate,
  UserUpdate,
  Workspace,
  WorkspaceCreate,
  WorkspaceCreated,
  WorkspaceUpdate,
} from '@openorch/contracts'
import type { Credentials } from './session.ts'

/** A run as the API returns it (see `@openorch/contracts` runSchema). */
export interface ApiRun {
  id: string
  kind: string
  botId: string | null
  /** For runs of kind `pipeline`: the pipeline; null otherwise. */
  pipelineId: string | null
  parentRunId: string | null
  status: RunStatus
  trigger: string
  input: unknown
  output: unknown
  outputHash: string | null
  isNew: boolean | null
  attempt: number
  maxAttempts: number
  priority: number
  tokensIn: number | null
  tokensOut: number | null
  costUsd: number | null
  durationMs: number | null
  error: { code: string; message: string } | null
  waitReason: string | null
  correlationKey: string | null
  waitUntil: string | null
  deadLettered: boolean
  /** The OpenTelemetry trace the run belongs to; null when tracing is off or unknown. */
  traceId: string | null
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  /** Only in search results (`runs.list({ q })`): where the output matched, as text and offsets. */
  snippet?: RunSearchSnippet
  /** A pipeline run read with `runs.get`: the version it runs. */
  pipelineVersion?: number
  /** A pipeline run read with `runs.get`: where each of its steps stands. */
  steps?: PipelineRunStep[]
}

/**
 * A run of a pipeline (kind `pipeline`): a run plus the version it keeps to and its steps, each a bot
 * run whose parent is this run.
 *
 * @example
 * const run: ApiPipelineRun = await client.pipelines.run(pipelineId)
 * const waiting = run.steps.filter((step) => step.status === 'approval').map((step) => step.key)
 */
export interface ApiPipelineRun extends ApiRun {
  pipelineId: string
  pipelineVersion: number
  steps: PipelineRunStep[]
}

/**
 * One stored version of a pipeline's steps (every edit adds one; a run keeps the version it started on).
 *
 * @example
 * const { items } = await client.pipelines.versions(pipelineId)
 * const current = items[0] // newest first
 */
export interface ApiPipelineVersion {
  version: number
  steps: PipelineStep[]
  errorPolicy: Pipeline['errorPolicy']
  maxRuntimeSeconds: number
  createdAt: string
}

/** One message of the live feed (`GET /api/v1/events`). `id` is null for live-only events. */
export interface LiveEvent {
  id: number | null
  type: string
  payload: RunEventPayload
}

/**
 * An error answer of the API, carrying its RFC 9457 problem.
 *
 * @example
 * try { await client.runs.get('nope') } catch (e) { if (e instanceof ApiError && e.code === 'run_not_found') … }
 */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly problem: Problem | undefined
  /** From `Retry-After` (429, 503): how long to wait before trying again. */
  readonly retryAfterMs: number | undefined

  constructor(status: number, problem: Problem | undefined, fallback: string, retryAfterMs?: number) {
    super(problem?.detail ?? fallback)
    this.name = 'ApiError'
    this.status = status
    this.code = problem?.code ?? 'http_error'
    this.problem = problem
    this.retryAfterMs = retryAfterMs
  }
}

/** Builds the ApiError of a refused response (problem body, Retry-After). */
export async function apiErrorOf(response: Response, fallback: string): Promise<ApiError> {
  const text = await response.text().catch(() => '')
  let problem: Problem | undefined
  try {
    problem = text ? (JSON.parse(text) as Problem) : undefined
  } catch {
    problem = undefined
  }
  const retryAfter = Number(response.headers.get('retry-after'))
  return new ApiError(
    response.status,
    problem,
    fallback,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
  )
}

/**
 * Where the client gets its credentials: a static API key, or `auth` — a provider of access tokens
 * that can be refreshed (a signed-in user, see `createSessionCredentials`).
 *
 * @example
 * createClient({ baseUrl, apiKey: 'oo_…' })
 * createClient({ baseUrl, auth: createSessionCredentials({ baseUrl, session }) })
 */
export type ClientOptions = {
  /** Server root, e.g. `http://localhost:8080`. */
  baseUrl: string
  fetch?: typeof fetch
  /**
   * Requests that are safe to repeat — reads, and writes sent with an idempotency key — are sent
   * again when the server answers 429 or 503 (a database outage, a restart) or cannot be reached,
   * after `Retry-After` or a backoff with jitter. Default: 3 retries, waiting at most 30 s at a time;
   * a longer `Retry-After` is thrown at once (`ApiError.retryAfterMs` says how long). `false`: never.
   */
  retry?: RetryOptions | false
} & ({ apiKey: string; auth?: undefined } | { auth: Credentials; apiKey?: undefined })

export interface RetryOptions {
  /** Retries after the first attempt (default 3). */
  retries?: number
  /** The longest wait before one retry (default 30,000 ms). */
  maxDelayMs?: number
}

const retriedStatuses = new Set([429, 503])

/** Waits `ms`, or rejects at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A page of a list: up to `limit` items after `cursor` (the previous page's `nextCursor`). */
export interface ListQuery {
  limit?: number
  cursor?: string
}

export interface RunListQuery {
  status?: RunStatus
  botId?: string
  /** Full-text search (2–200 characters): runs whose output has every word, the last one as a prefix; newest first, each with a `snippet`. */
  q?: string
  limit?: number
  cursor?: string
}

/**
 * Typed client of the openOrchestrator HTTP API.
 *
 * @example
 * const client = createClient({ baseUrl: 'http://localhost:8080', apiKey: process.env.OPENORCH_API_KEY! })
 * const { items } = await client.runs.list({ status: 'failed' })
 * for await (const event of client.events({ signal })) console.log(event.type, event.payload.runId)
 */
export function createClient(options: ClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const apiKey = options.apiKey
  const credentials: Credentials = options.auth ?? {
    getAccessToken: () => apiKey ?? '',
    refresh: async () => undefined,
  }

  /**
   * Sends with the current token; a 401 asks the credentials for a fresh token once and retries.
   * `public` requests (sign-in, refresh) carry no token.
   */
  async function send(
    url: string | URL,
    init: RequestInit & { headers: Record<string, string> },
    access: 'token' | 'public' = 'token',
  ): Promise<Response> {
    if (access === 'public') return doFetch(url, init)
    const token = await credentials.getAccessToken()
    const response = await doFetch(url, {
      ...init,
      headers: { ...init.headers, authorization: `Bearer ${token}` },
    })
    if (response.status !== 401 || !options.auth) return response
    // A wrong password in the body (changing the password) is not a stale token: refreshing would
    // only spend the refresh token.
    const code = await response
      .clone()
      .json()
      .then((problem: Problem) => problem.code)
      .catch(() => undefined)
    if (code === 'invalid_credentials') return response
    const fresh = await credentials.refresh(token)
    if (fresh === undefined) return response
    await response.body?.cancel().catch(() => {})
    return doFetch(url, { ...init, headers: { ...init.headers, authorization: `Bearer ${fresh}` } })
  }

  const retries = options.retry === false ? 0 : Math.max(0, options.retry?.retries ?? 3)
  const maxDelayMs = options.retry === false ? 0 : (options.retry?.maxDelayMs ?? 30_000)

  /**
   * `send`, again after 429/503 or a failed connection while the request is safe to repeat (a read,
   * or a write with an idempotency key): after Retry-After when the server gives one, else 0.5 s,
   * 1 s, 2 s… with full jitter.
   */
  async function sendRetrying(
    url: string | URL,
    init: RequestInit & { headers: Record<string, string> },
    access: 'token' | 'public',
  ): Promise<Response> {
    const method = (init.method ?? 'GET').toUpperCase()
    const repeatable = method === 'GET' || method === 'HEAD' || 'idempotency-key' in init.headers
    for (let attempt = 0; ; attempt++) {
      const last = !repeatable || attempt >= retries
      let response: Response
      try {
        response = await send(url, init, access)
      } catch (error) {
        // fetch rejects on a refused or broken connection (TypeError), not on an HTTP status.
        if (last || !(error instanceof TypeError) || init.signal?.aborted) throw error
        await sleep(Math.random() * Math.min(maxDelayMs, 500 * 2 ** attempt), init.signal)
        continue
      }
      if (last || !retriedStatuses.has(response.status)) return response
      // Seconds; absent (Number(null) would be 0) or an HTTP date: our own backoff.
      const header = response.headers.get('retry-after')
      const retryAfter = header === null || header.trim() === '' ? Number.NaN : Number(header)
      const delay =
        Number.isFinite(retryAfter) && retryAfter >= 0
          ? retryAfter * 1000
          : Math.random() * Math.min(maxDelayMs, 500 * 2 ** attempt)
      if (delay > maxDelayMs) return response
      await response.body?.cancel().catch(() => {})
      await sleep(delay, init.signal)
    }
  }

  async function request<T>(
    method: string,
    path: string,
    query?: Record<string, unknown>,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
    access: 'token' | 'public' = 'token',
  ): Promise<T> {
    const url = new URL(`${base}/api/v1${path}`)
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value))
    }
    const response = await sendRetrying(
      url,
      {
        method,
        headers: {
          ...extraHeaders,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      },
      access,
    )
    if (!response.ok) throw await apiErrorOf(response, `${method} ${path}: HTTP ${response.status}`)
    const text = await response.text()
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** Sign-in and sessions of users (decision 0011). */
  const auth = {
    /** Signs in; wrong credentials throw `invalid_credentials` (401), too many `login_throttled` (429, `retryAfterMs`). */
    login: (body: { email: string; password: string }) =>
      request<Session>('POST', '/auth/login', undefined, body, {}, 'public'),
    /** Spends the refresh token for a new pair; a spent one used again ends the whole session. */
    refresh: (refreshToken: string) =>
      request<Session>('POST', '/auth/refresh', undefined, { refreshToken }, {}, 'public'),
    /** Ends the session of this refresh token. */
    logout: (refreshToken: string) =>
      request<void>('POST', '/auth/logout', undefined, { refreshToken }, {}, 'public'),
    /** Ends every session of the signed-in user, this one included. */
    logoutEverywhere: () => request<void>('POST', '/auth/logout-everywhere'),
    /** The signed-in user (403 `not_a_user` with an API key). */
    me: () => request<User>('GET', '/auth/me'),
    /** Public: whether the installation has users yet (none: sign in with the owner key). */
    setup: () => request<SetupState>('GET', '/auth/setup', undefined, undefined, {}, 'public'),
    /**
     * Changes the signed-in user's password. Every other session ends; the answer is a new session
     * for this one, which the client's credentials switch to at once. A refused new password throws
     * `validation_failed` (400) with the reason in `problem.errors`; a wrong current one 401.
     */
    changePassword: async (body: { currentPassword: string; newPassword: string }) => {
      const session = await request<Session>('POST', '/auth/password', undefined, body)
      credentials.adopt?.(session)
      return session
    },
    /** The signed-in user's personal API keys: they act as the user, with at most the user's role. */
    keys: {
      list: (query: ListQuery = {}) => request<Page<ApiKey>>('GET', '/auth/keys', { ...query }),
      /** The answer holds the key itself this once. */
      create: (body: ApiKeyCreate) => request<ApiKeyCreated>('POST', '/auth/keys', undefined, body),
      revoke: (id: string) => request<ApiKey>('DELETE', `/auth/keys/${encodeURIComponent(id)}`),
    },
  }

  /** The workspace's users (admins): nobody grants or touches a role above their own. */
  const users = {
    list: (query: ListQuery = {}) => request<Page<User>>('GET', '/users', { ...query }),
    /** With an initial password; a refused one throws `validation_failed` with the reason. */
    create: (body: UserCreate) => request<User>('POST', '/users', undefined, body),
    /** A new role and/or disabled; the last enabled owner throws `last_owner` (409). */
    update: (id: string, patch: UserUpdate) =>
      request<User>('PATCH', `/users/${encodeURIComponent(id)}`, undefined, patch),
    remove: (id: string) => request<void>('DELETE', `/users/${encodeURIComponent(id)}`),
  }

  /**
   * The installation's workspaces (installation admins: owners of the default workspace). A disabled
   * workspace's keys and sessions are refused with `workspace_disabled` (403).
   */
  const workspaces = {
    list: (query: ListQuery = {}) => request<Page<Workspace>>('GET', '/workspaces', { ...query }),
    get: (id: string) => request<Workspace>('GET', `/workspaces/${encodeURIComponent(id)}`),
    /** With its first owner's e-mail and initial password; a refused password throws `validation_failed`. */
    create: (body: WorkspaceCreate) => request<WorkspaceCreated>('POST', '/workspaces', undefined, body),
    /** Rename, or `{ disabled: true | false }`; the default workspace throws `default_workspace_protected`. */
    update: (id: string, patch: WorkspaceUpdate) =>
      request<Workspace>('PATCH', `/workspaces/${encodeURIComponent(id)}`, undefined, patch),
    /** The workspace's own quotas; a field left out or null takes the installation's value. */
    setQuotas: (id: string, overrides: QuotaOverrides) =>
      request<Quotas>('PUT', `/workspaces/${encodeURIComponent(id)}/quotas`, undefined, overrides),
  }

  /**
   * The installation (issue 16): `info` for admins of the default workspace, `mode` for everyone
   * signed in, `setMode` for its owners (`{ mode: 'degraded', minPriority: 5, reason }`).
   */
  const system = {
    info: () => request<SystemInfo>('GET', '/system'),
    mode: () => request<OperatingMode>('GET', '/system/mode'),
    setMode: (body: OperatingModeUpdate) => request<OperatingMode>('PUT', '/system/mode', undefined, body),
  }

  /**
   * The workspace's API keys (admins): `list` shows service keys and, with their `userId`, the
   * personal keys of its people (an admin may revoke any); `create` makes a service key. Your own
   * personal keys are `auth.keys`.
   */
  const keys = {
    list: (query: ListQuery = {}) => request<Page<ApiKey>>('GET', '/keys', { ...query }),
    /** The answer holds the key itself this once. */
    create: (body: ApiKeyCreate) => request<ApiKeyCreated>('POST', '/keys', undefined, body),
    revoke: (id: string) => request<ApiKey>('DELETE', `/keys/${encodeURIComponent(id)}`),
  }

  const runs = {
    list: (query: RunListQuery = {}) => request<Page<ApiRun>>('GET', '/runs', { ...query }),
    get: (id: string) => request<ApiRun>('GET', `/runs/${encodeURIComponent(id)}`),
    cancel: (id: string) => request<ApiRun>('POST', `/runs/${encodeURIComponent(id)}/cancel`),
    retry: (id: string) => request<ApiRun>('POST', `/runs/${encodeURIComponent(id)}/retry`),
    deadLetters: (query: Omit<RunListQuery, 'status'> = {}) =>
      request<Page<ApiRun>>('GET', '/runs/dead-letters', { ...query }),
    log: (id: string) => request<RunLog>('GET', `/runs/${encodeURIComponent(id)}/log`),
  }

  const bot = (id: string) => `/bots/${encodeURIComponent(id)}`
  const bots = {
    list: (query: { limit?: number; cursor?: string } = {}) =>
      request<Page<Bot>>('GET', '/bots', { ...query }),
    get: (id: string) => request<Bot>('GET', bot(id)),
    create: (body: BotCreate) => request<Bot>('POST', '/bots', undefined, body),
    update: (id: string, patch: BotUpdate) => request<Bot>('PATCH', bot(id), undefined, patch),
    remove: (id: string) => request<void>('DELETE', bot(id)),
    duplicate: (id: string) => request<Bot>('POST', `${bot(id)}/duplicate`),
    export: (id: string) => request<BotExportDocument>('GET', `${bot(id)}/export`),
    import: (document: BotExport) => request<Bot>('POST', '/bots/import', undefined, document),
    /** Starts a run now; the same `idempotencyKey` within 24 h returns the first run. */
    run: (
      id: string,
      body: { input?: unknown; trigger?: 'manual' | 'api' } = {},
      opts: { idempotencyKey?: string } = {},
    ) =>
      request<ApiRun>(
        'POST',
        `${bot(id)}/runs`,
        undefined,
        body,
        opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
      ),
    runs: (id: string, query: { limit?: number; cursor?: string } = {}) =>
      request<Page<ApiRun>>('GET', `${bot(id)}/runs`, { ...query }),
    notes: {
      list: (id: string) => request<{ items: NoteSummary[] }>('GET', `${bot(id)}/notes`),
      get: (id: string, name: string) => request<Note>('GET', `${bot(id)}/notes/${encodeURIComponent(name)}`),
      put: (id: string, name: string, content: string) =>
        request<Note>('PUT', `${bot(id)}/notes/${encodeURIComponent(name)}`, undefined, { content }),
      remove: (id: string, name: string) =>
        request<void>('DELETE', `${bot(id)}/notes/${encodeURIComponent(name)}`),
    },
  }

  const pipeline = (id: string) => `/pipelines/${encodeURIComponent(id)}`
  /**
   * Pipelines (bots chained as a durable workflow). An invalid definition throws ApiError
   * `pipeline_invalid` (400) whose `problem.errors` name each step's field (`steps[2].dependsOn`).
   */
  const pipelines = {
    list: (query: ListQuery = {}) => request<Page<Pipeline>>('GET', '/pipelines', { ...query }),
    get: (id: string) => request<Pipeline>('GET', pipeline(id)),
    create: (body: PipelineCreate) => request<Pipeline>('POST', '/pipelines', undefined, body),
    /** Every change stores a new version; runs in flight finish on the version they started with. */
    update: (id: string, patch: PipelineUpdate) => request<Pipeline>('PATCH', pipeline(id), undefined, patch),
    /** Its schedule stops and its runs still going are cancelled; finished runs stay. */
    remove: (id: string) => request<void>('DELETE', pipeline(id)),
    /** A copy named "… (copy)", its schedule disabled. */
    duplicate: (id: string) => request<Pipeline>('POST', `${pipeline(id)}/duplicate`),
    /** Every version of its steps, newest first. */
    versions: (id: string) => request<{ items: ApiPipelineVersion[] }>('GET', `${pipeline(id)}/versions`),
    /**
     * Queues a run of the current version; `input` is given to the first steps as the previous
     * output. The same `idempotencyKey` within 24 h returns the first run.
     */
    run: (
      id: string,
      body: { input?: unknown; trigger?: 'api' | 'manual' } = {},
      opts: { idempotencyKey?: string } = {},
    ) =>
      request<ApiPipelineRun>(
        'POST',
        `${pipeline(id)}/runs`,
        undefined,
        body,
        opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {},
      ),
    /** Its runs, newest first, each with its version and steps. */
    runs: (id: string, query: ListQuery = {}) =>
      request<Page<ApiPipelineRun>>('GET', `${pipeline(id)}/runs`, { ...query }),
  }

  const usage = (
    query: {
      from?: string
      to?: string
      groupBy?: 'bot' | 'provider' | 'model' | 'day'
      timezone?: string
      botId?: string
    } = {},
  ) => request<Usage>('GET', '/usage', { ...query })

  /** The workspace's quotas and what it uses of them. */
  const quotas = () => request<Quotas>('GET', '/quotas')

  const provider = (name: ProviderName) => `/providers/${encodeURIComponent(name)}`
  const providers = {
    list: () => request<Page<Provider>>('GET', '/providers'),
    get: (name: ProviderName) => request<Provider>('GET', provider(name)),
    /** Checks the key with a real call and saves it; a refusal throws ApiError with `provider_auth`, … */
    configure: (name: ProviderName, config: ProviderConfig) =>
      request<ProviderValidation>('PUT', provider(name), undefined, config),
    remove: (name: ProviderName) => request<void>('DELETE', provider(name)),
  }

  const tools = {
    /** The tool sets a bot may be given, with each function's JSON Schema. */
    list: () => request<{ items: ToolSet[] }>('GET', '/tools'),
    /** Built-in functions whose calls wait for a person, and how long an approval may wait. */
    policy: () => request<ToolPolicy>('GET', '/tools/policy'),
    /** Needs admin. Unknown function names are refused (400). */
    setPolicy: (policy: ToolPolicy) => request<ToolPolicy>('PUT', '/tools/policy', undefined, policy),
    /** The workspace's web search set-up (the key masked); ApiError `search_not_configured` without one. */
    search: () => request<SearchSettings>('GET', '/tools/search'),
    /** Checks the provider with a real search first; a refusal throws ApiError (`search_unauthorized`, …). */
    setSearch: (settings: SearchSettingsPut) =>
      request<SearchSettings>('PUT', '/tools/search', undefined, settings),
    removeSearch: () => request<void>('DELETE', '/tools/search'),
  }

  const mcpServer = (id: string) => `/mcp-servers/${encodeURIComponent(id)}`
  const mcpServers = {
    /** Needs admin. Stored status only: listing connects to nothing. */
    list: () => request<{ items: McpServer[] }>('GET', '/mcp-servers'),
    /** Connects to an enabled server (or uses its connection) and reports status and tools. */
    get: (id: string) => request<McpServer>('GET', mcpServer(id)),
    /** Disabled unless `enabled: true`; stdio needs OPENORCH_MCP_STDIO and an installation admin. */
    create: (server: McpServerCreate) => request<McpServer>('POST', '/mcp-servers', undefined, server),
    update: (id: string, changes: McpServerUpdate) =>
      request<McpServer>('PATCH', mcpServer(id), undefined, changes),
    remove: (id: string) => request<void>('DELETE', mcpServer(id)),
  }

  const approval = (id: string) => `/approvals/${encodeURIComponent(id)}`
  const approvals = {
    /** Newest first; `status: 'pending'` is the inbox. */
    list: (query: { status?: Approval['status']; runId?: string; limit?: number; cursor?: string } = {}) =>
      request<Page<Approval>>('GET', '/approvals', { ...query }),
    get: (id: string) => request<Approval>('GET', approval(id)),
    /** The run goes on and the call is made once. Someone deciding first throws ApiError `approval_decided` (409). */
    approve: (id: string, decision: ApprovalDecision = {}) =>
      request<Approval>('POST', `${approval(id)}/approve`, undefined, decision),
    /** The model is told "rejected by a person: <comment>". */
    reject: (id: string, decision: ApprovalDecision = {}) =>
      request<Approval>('POST', `${approval(id)}/reject`, undefined, decision),
  }

  const schedules = {
    /** The next fire times of a schedule in a time zone (the dashboard's cron helper). */
    preview: (query: { schedule: string; timezone?: string; count?: number }) =>
      request<SchedulePreview>('GET', '/schedules/preview', { ...query }),
  }

  /**
   * The live feed as an async iterator; pass `lastEventId` to replay what was missed. `onOpen` is
   * called once the server accepted the stream (before any event).
   */
  async function* events(
    opts: { signal?: AbortSignal; lastEventId?: number; onOpen?: () => void } = {},
  ): AsyncGenerator<LiveEvent> {
    const response = await send(`${base}/api/v1/events`, {
      headers: {
        accept: 'text/event-stream',
        ...(opts.lastEventId !== undefined ? { 'last-event-id': String(opts.lastEventId) } : {}),
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    if (!response.ok || !response.body) throw await apiErrorOf(response, 'event stream refused')
    opts.onOpen?.()
    const decoder = new TextDecoder()
    let buffer = ''
    // A reader rather than `for await` over the body: browsers without async-iterable streams work too.
    const reader = response.body.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += decoder.decode(value, { stream: true })
        let end = buffer.indexOf('\n\n')
        while (end >= 0) {
          const message = parseSseMessage(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          if (message) yield message
          end = buffer.indexOf('\n\n')
        }
      }
    } finally {
      // A consumer that stops iterating closes the stream, so the server lets go of it too.
      await reader.cancel().catch(() => {})
    }
  }

  return {
    auth,
    users,
    keys,
    workspaces,
    system,
    runs,
    bots,
    pipelines,
    providers,
    schedules,
    tools,
    approvals,
    mcpServers,
    usage,
    quotas,
    events,
  }
}

export type Client = ReturnType<typeof createClient>

/** Parses one SSE message block; comments (heartbeats) and messages without data give undefined. */
export function parseSseMessage(block: string): LiveEvent | undefined {
  let id: number | null = null
  let type = 'message'
  const data: string[] = []
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'id') id = Number(value)
    else if (field === 'event') type = value
    else if (field === 'data') data.push(value)
  }
  if (data.length === 0) return undefined
  return { id, type, payload: JSON.parse(data.join('\n')) as RunEventPayload }
}
