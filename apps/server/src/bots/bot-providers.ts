import type { CircuitBreaker } from '../providers/circuit-breaker.ts'
import { costUsd } from '../providers/prices.ts'
import type { ProviderService } from '../providers/provider.service.ts'
import { isProviderName } from '../providers/provider.types.ts'
import type { BotProviderAccess } from './bot.executor.ts'
import type { ProviderDirectory } from './bot.service.ts'

/** The provider service as the bots use it: which are set up, credentials, calls, prices, call outcomes. */
export function botProvidersOf(
  providers: ProviderService,
  /** The providers' circuit breakers; absent: every call goes out. */
  circuit?: CircuitBreaker,
): ProviderDirectory & BotProviderAccess {
  return {
    ...(circuit ? { circuit } : {}),
    list: (tenantId) => providers.list(tenantId),
    credentials: (tenantId, name) => providers.credentials(tenantId, name),
    generate: (credentials, request) => providers.generate(credentials, request),
    costUsd: (provider, model, tokensIn, tokensOut) =>
      isProviderName(provider) ? costUsd(provider, model, tokensIn, tokensOut) : null,
    recordCall: async (tenantId, name, error, runId) => {
      if (!isProviderName(name)) return
      await providers.recordCall(tenantId, name, error)
      await circuit?.record(tenantId, name, error, runId ?? null)
    },
  }
}
