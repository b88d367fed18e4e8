import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { Vault } from '../platform/crypto.ts'
import {
  createEgressPolicy,
  defaultEgressAllow,
  type EgressPolicy,
  egressFetch,
  parseEgressAllow,
} from '../platform/egress/egress.ts'
import { AppError, type FieldError } from '../platform/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { secretScrubber } from '../platform/secret-scrubber.ts'
import { generate } from './generate.ts'
import { maskApiKey } from './key-hint.ts'
import type { FetchFunction } from './language-model.ts'
import { listModels } from './list-models.ts'
import { baseUrlOf, providerCatalog } from './provider.catalog.ts'
import { ProviderError } from './provider.error.ts'
import {
  deleteProvider,
  findProvider,
  listProviders,
  type ProviderRow,
  setProviderStatus,
  upsertProvider,
} from './provider.store.ts'
import {
  type GenerateRequest,
  type GenerateResult,
  isProviderName,
  type ProviderConfigInput,
  type ProviderCredentials,
  type ProviderName,
  type ProviderStatus,
  type ProviderView,
} from './provider.types.ts'

// A workspace's LLM providers: keys checked with a real call before they are saved, kept
// encrypted, handed out decrypted only to the code that makes calls, never shown or logged.

export interface ProviderServiceDeps {
  database: Db
  clock: Clock
  log: Logger
  vault: Vault
  /** For every provider call (key checks and generation); fetch through the egress guard by default. */
  fetch?: FetchFunction
  /** What the default fetch may reach (OPENORCH_EGRESS_ALLOW); a local Ollama only by default. */
  egress?: EgressPolicy
  /** A key check gives up after this long (default 15 s). */
  validationTimeoutMs?: number
  /** A generation that receives nothing for this long fails as provider_timeout (default 120 s). */
  idleTimeoutMs?: number
}

export interface ProviderService {
  /** Checks the key with the provider's model list and saves it; throws a 422/429 AppError with the provider code when refused. */
  configure(
    tenantId: string,
    name: ProviderName,
    input: ProviderConfigInput,
  ): Promise<{ valid: true; models: string[] }>
  list(tenantId: string): Promise<ProviderView[]>
  /** Throws 404 `provider_not_configured`. */
  get(tenantId: string, name: ProviderName): Promise<ProviderView>
  /** Throws 404 `provider_not_configured`. */
  remove(tenantId: string, name: ProviderName): Promise<void>
  /** The decrypted key and settings a call needs. Throws 422 `provider_not_configured` when absent. */
  credentials(tenantId: string, name: string): Promise<ProviderCredentials>
  /** One streamed call; rejects with ProviderError, or with `request.signal.reason` once aborted. */
  generate(credentials: ProviderCredentials, request: GenerateRequest): Promise<GenerateResult>
  isConfigured(tenantId: string, name: string): Promise<boolean>
  /**
   * Tells the provider what a call with its saved key found: an error of a run (a refused key or no
   * credit marks it `failing`), or none (it is `valid` again). Transient failures change nothing.
   */
  recordCall(tenantId: string, name: ProviderName, error?: unknown): Promise<void>
}

const permanentCodes = new Set(['provider_auth', 'provider_quota'])

function viewOf(row: ProviderRow): ProviderView {
  const name = row.name as ProviderName
  return {
    name,
    label: providerCatalog[name]?.label ?? row.name,
    status: row.status as ProviderStatus,
    keyHint: row.key_hint,
    baseUrl: row.base_url,
    defaultModel: row.default_model,
    models: JSON.parse(row.models) as string[],
    lastCheckedAt: row.last_checked_at,
    lastErrorCode: row.last_error_code,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function notConfigured(name: string, status: number): AppError {
  const info = isProviderName(name) ? providerCatalog[name] : undefined
  if (!info) return new AppError('provider_not_configured', `There is no provider named "${name}".`, status)
  const how = info.needsKey
    ? `An admin saves a key with PUT /api/v1/providers/${name}`
    : `An admin sets it up with PUT /api/v1/providers/${name} (it needs no key, only its base URL)`
  return new AppError(
    'provider_not_configured',
    `${info.label} is not set up in this workspace. ${how}, or choose another provider.`,
    status,
  )
}

/** A refused key check: 429 to wait, 400 for a base URL nobody may call, 422 for the rest. */
const statusOfRefusal = (code: string) =>
  code === 'provider_rate_limited' ? 429 : code === 'egress_refused' ? 400 : 422

/** The scrubber slot of a workspace's provider key: one per provider, so a new key replaces the old. */
const scrubberSlot = (name: string) => `provider:${name}`

const normaliseBaseUrl = (url: string | null): string | null => (url ? url.replace(/\/+$/, '') : null)

const originOf = (url: string): string => new URL(url).origin

const validationFailed = (field: string, detail: string): AppError => {
  const errors: FieldError[] = [{ field, message: detail }]
  return new AppError('validation_failed', detail, 400, { errors })
}

const validRecordIntervalMs = 60_000

export function createProviderService(deps: ProviderServiceDeps): ProviderService {
  const { database, clock, log, vault } = deps
  const validationTimeoutMs = deps.validationTimeoutMs ?? 15_000
  const idleTimeoutMs = deps.idleTimeoutMs ?? 120_000
  // Every URL a provider is called at goes through the egress guard (decision 0016).
  const fetch =
    deps.fetch ?? egressFetch(deps.egress ?? createEgressPolicy(parseEgressAllow(defaultEgressAllow)))
  // The SDK would print its warnings to the console; generate() logs them through pino instead.
  globalThis.AI_SDK_LOG_WARNINGS = false
  /** When this process last wrote "valid" for a workspace's provider (see recordCall). */
  const recordedValid = new Map<string, number>()

  /** The saved key, registered with the scrubber under its workspace (a rotation replaces it). */
  function decryptKey(row: ProviderRow): string | null {
    const key = row.api_key_encrypted === null ? null : vault.decrypt(row.api_key_encrypted)
    secretScrubber.set(row.tenant_id, scrubberSlot(row.name), key)
    return key
  }

  async function savedKey(row: ProviderRow | undefined, name: ProviderName): Promise<string | null> {
    if (!row) return null
    try {
      return decryptKey(row)
    } catch (error) {
      log.warn({ provider: name, err: error }, 'saved provider key cannot be decrypted')
      return null
    }
  }

  return {
    async configure(tenantId, name, input) {
      const info = providerCatalog[name]
      const existing = await findProvider(database.db, tenantId, name)
      // A partial update: a field the request does not name keeps its saved value; null clears it.
      const baseUrl =
        input.baseUrl === undefined ? (existing?.base_url ?? null) : normaliseBaseUrl(input.baseUrl)
      const defaultModel =
        input.defaultModel === undefined
          ? (existing?.default_model ?? null)
          : input.defaultModel?.trim() || null
      const submittedKey = input.apiKey?.trim() || null
      if (!submittedKey && existing?.api_key_encrypted) {
        // A saved key is bound to the origin it was saved for: another origin needs the key again, or
        // whoever may change the URL could have the key sent to their own server (issue 11 item 2).
        const savedFor = originOf(baseUrlOf(name, existing.base_url))
        const wanted = originOf(baseUrlOf(name, baseUrl))
        if (savedFor !== wanted) {
          throw validationFailed(
            'apiKey',
            `The saved ${info.label} key was saved for ${savedFor}; it is not sent to ${wanted}. Send the key again as apiKey to use it with the new base URL.`,
          )
        }
      }
      const apiKey = submittedKey ?? (await savedKey(existing, name))
      if (info.needsKey && !apiKey) {
        throw validationFailed(
          'apiKey',
          `${info.label} needs an API key: create one at ${info.keysUrl} and send it as apiKey.`,
        )
      }
      const credentials: ProviderCredentials = { name, apiKey: apiKey ?? null, baseUrl, defaultModel }
      const providerLog = log.child({ tenantId, provider: name })

      let models: string[]
      try {
        models = await listModels(credentials, { fetch, timeoutMs: validationTimeoutMs })
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error
        providerLog.info({ code: error.code, status: error.status }, 'provider key check failed')
        // A refused key is not registered with the scrubber (only stored ones are); its quote in the
        // provider's message is replaced here, in this answer only.
        const message = apiKey ? error.message.replaceAll(apiKey, '[redacted]') : error.message
        throw new AppError(error.code, message, statusOfRefusal(error.code), {
          ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
        })
      }

      const now = clock.now()
      await upsertProvider(database.db, {
        tenant_id: tenantId,
        name,
        api_key_encrypted: apiKey ? vault.encrypt(apiKey) : null,
        key_hint: apiKey ? maskApiKey(apiKey) : null,
        base_url: baseUrl,
        default_model: defaultModel,
        models: JSON.stringify(models),
        status: 'valid',
        last_error_code: null,
        last_checked_at: now,
        created_at: existing?.created_at ?? now,
        updated_at: now,
      })
      // Stored, so known from here on: no answer of this workspace, log line or run error carries it.
      secretScrubber.set(tenantId, scrubberSlot(name), apiKey)
      providerLog.info({ models: models.length, customBaseUrl: baseUrl !== null }, 'provider configured')
      return { valid: true, models }
    },

    async list(tenantId) {
      return (await listProviders(database.db, tenantId)).map(viewOf)
    },

    async get(tenantId, name) {
      const row = await findProvider(database.db, tenantId, name)
      if (!row) throw notConfigured(name, 404)
      return viewOf(row)
    },

    async remove(tenantId, name) {
      if (!(await deleteProvider(database.db, tenantId, name))) throw notConfigured(name, 404)
      secretScrubber.set(tenantId, scrubberSlot(name), null)
      log.info({ tenantId, provider: name }, 'provider removed')
    },

    async credentials(tenantId, name) {
      const row = isProviderName(name) ? await findProvider(database.db, tenantId, name) : undefined
      if (!row) throw notConfigured(name, 422)
      const provider = name as ProviderName
      let apiKey: string | null
      try {
        apiKey = decryptKey(row)
      } catch (error) {
        throw new AppError(
          'provider_key_unreadable',
          `The saved ${providerCatalog[provider].label} key cannot be decrypted: ${(error as Error).message}`,
          500,
        )
      }
      return { name: provider, apiKey, baseUrl: row.base_url, defaultModel: row.default_model }
    },

    generate(credentials, request) {
      return generate(credentials, request, { fetch, idleTimeoutMs, log })
    },

    async isConfigured(tenantId, name) {
      return isProviderName(name) && (await findProvider(database.db, tenantId, name)) !== undefined
    },

    async recordCall(tenantId, name, error) {
      const now = clock.now()
      const key = `${tenantId}\u0000${name}`
      if (error === undefined) {
        // A write per successful call was one of a bot run's costliest statements: "valid" is
        // written at most once a minute per provider and process (a failure is written at once).
        if (now - (recordedValid.get(key) ?? Number.NEGATIVE_INFINITY) < validRecordIntervalMs) return
        recordedValid.set(key, now)
        await setProviderStatus(database.db, tenantId, name, { status: 'valid', lastErrorCode: null, now })
      } else if (error instanceof ProviderError && permanentCodes.has(error.code)) {
        recordedValid.delete(key)
        await setProviderStatus(database.db, tenantId, name, {
          status: 'failing',
          lastErrorCode: error.code,
          now,
        })
      }
    },
  }
}
