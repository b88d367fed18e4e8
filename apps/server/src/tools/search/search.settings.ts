import type { SearchSettingsPut } from '@openorch/contracts'
import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import type { Vault } from '../../platform/crypto.ts'
import { type EgressPolicy, egressFetch } from '../../platform/egress/egress.ts'
import { AppError, notFound } from '../../platform/errors.ts'
import type { Logger } from '../../platform/logger.ts'
import { secretScrubber } from '../../platform/secret-scrubber.ts'
import { maskApiKey } from '../../providers/key-hint.ts'
import { checkSearchConfig, type SearchConfig, SearchError } from './search.ts'

// A workspace's web search provider (PUT /api/v1/tools/search): checked with a real search before it
// is saved, the key encrypted by the vault, never returned, registered with the scrubber once stored.

const name = 'search'
const scrubberSlot = 'tool:search'

export interface SearchSettingsView {
  provider: SearchConfig['provider']
  keyHint: string | null
  baseUrl: string | null
  updatedAt: number
}

export type SearchSettings = ReturnType<typeof createSearchSettings>

export function createSearchSettings(deps: {
  database: Db
  vault: Vault
  clock: Pick<Clock, 'now'>
  egress: EgressPolicy
  log: Logger
}) {
  const db = deps.database.db
  const fetch = egressFetch(deps.egress)

  const row = (tenantId: string) =>
    db
      .selectFrom('tool_settings')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst()

  return {
    fetch,
    async get(tenantId: string): Promise<SearchSettingsView> {
      const found = await row(tenantId)
      if (!found)
        throw notFound(
          'search_not_configured',
          'Web search is not set up in this workspace: PUT /api/v1/tools/search first.',
        )
      return {
        provider: found.provider as SearchConfig['provider'],
        keyHint: found.key_hint,
        baseUrl: found.base_url,
        updatedAt: Number(found.updated_at),
      }
    },
    /** The config a search call needs, key decrypted; undefined when the workspace has none. */
    async configOf(tenantId: string): Promise<SearchConfig | undefined> {
      const found = await row(tenantId)
      if (!found) return undefined
      const apiKey = found.secret_encrypted === null ? undefined : deps.vault.decrypt(found.secret_encrypted)
      secretScrubber.set(tenantId, scrubberSlot, apiKey ?? null)
      return {
        provider: found.provider as SearchConfig['provider'],
        ...(apiKey ? { apiKey } : {}),
        ...(found.base_url ? { baseUrl: found.base_url } : {}),
      }
    },
    async put(tenantId: string, input: SearchSettingsPut): Promise<SearchSettingsView> {
      const config: SearchConfig = {
        provider: input.provider,
        ...(input.apiKey ? { apiKey: input.apiKey } : {}),
        ...(input.baseUrl ? { baseUrl: input.baseUrl } : {}),
      }
      try {
        await checkSearchConfig(config, { signal: AbortSignal.timeout(20_000), fetch })
      } catch (error) {
        if (error instanceof SearchError || (error as { name?: string }).name === 'ToolError') {
          const code = (error as SearchError).code
          const status = code === 'egress_refused' ? 400 : code === 'search_rate_limited' ? 429 : 422
          throw new AppError(code, (error as Error).message, status)
        }
        throw error
      }
      const now = deps.clock.now()
      const values = {
        provider: input.provider,
        base_url: input.baseUrl ?? null,
        secret_encrypted: input.apiKey ? deps.vault.encrypt(input.apiKey) : null,
        key_hint: input.apiKey ? maskApiKey(input.apiKey) : null,
        updated_at: now,
      }
      await db
        .insertInto('tool_settings')
        .values({ tenant_id: tenantId, name, ...values })
        .onConflict((oc) => oc.columns(['tenant_id', 'name']).doUpdateSet(values))
        .execute()
      // Stored, so known from here on: no answer of this workspace, log line or run error carries it.
      secretScrubber.set(tenantId, scrubberSlot, input.apiKey ?? null)
      deps.log.info({ tenantId, provider: input.provider }, 'web search configured')
      return { provider: input.provider, keyHint: values.key_hint, baseUrl: values.base_url, updatedAt: now }
    },
    async remove(tenantId: string): Promise<void> {
      const result = await db
        .deleteFrom('tool_settings')
        .where('tenant_id', '=', tenantId)
        .where('name', '=', name)
        .executeTakeFirst()
      if (Number(result.numDeletedRows) === 0)
        throw notFound('search_not_configured', 'Web search is not set up in this workspace.')
      secretScrubber.set(tenantId, scrubberSlot, null)
    },
    async configured(tenantId: string): Promise<boolean> {
      return (await row(tenantId)) !== undefined
    },
  }
}
