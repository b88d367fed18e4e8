import { costUsd } from '../providers/prices.ts'
import type { ProviderService } from '../providers/provider.service.ts'
import { isProviderName } from '../providers/provider.types.ts'
import type { BotProviderAccess } from './bot.executor.ts'
import type { ProviderDirectory } from './bot.service.ts'

/** The provider service as the bots use it: which are set up, credentials, calls, prices, call outcomes. */
export function botProvidersOf(providers: ProviderService): ProviderDirectory & BotProviderAccess {
  return {
    list: (tenantId) => providers.list(tenantId),
    credentials: (tenantId, name) => providers.credentials(tenantId, name),
    generate: (credentials, request) => providers.generate(credentials, request),
    costUsd: (provider, model, tokensIn, tokensOut) =>
      isProviderName(provider) ? costUsd(provider, model, tokensIn, tokensOut) : null,
    recordCall: (tenantId, name, error) =>
      isProviderName(name) ? providers.recordCall(tenantId, name, error) : Promise.resolve(),
  }
}
