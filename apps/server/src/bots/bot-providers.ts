import type { CircuitBreaker } from '../providers/circuit-breaker.ts'
import { costUsd } from '../providers/prices.ts'
import { ProviderError } from '../providers/provider.error.ts'
import type { ProviderService } from '../providers/provider.service.ts'
import { type GenerateResult, isProviderName } from '../providers/provider.types.ts'
import type { BotProviderAccess } from './bot.executor.ts'
import type { ProviderDirectory } from './bot.service.ts'

/** A model call as it ended: the configured model, `ok` or the provider's error code, usage and cost. */
export interface ModelCallReport {
  provider: string
  model: string
  outcome: string
  durationMs: number
  tokensIn: number
  tokensOut: number
  /** USD by the price table; null when the model has no price. */
  costUsd: number | null
}

/** The provider service as the bots use it: which are set up, credentials, calls, prices, call outcomes. */
export function botProvidersOf(
  providers: ProviderService,
  /** The providers' circuit breakers; absent: every call goes out. */
  circuit?: CircuitBreaker,
  /** Told of every model call as it ends (metrics). */
  onCall?: (call: ModelCallReport) => void,
): ProviderDirectory & BotProviderAccess {
  return {
    ...(circuit ? { circuit } : {}),
    list: (tenantId) => providers.list(tenantId),
    credentials: (tenantId, name) => providers.credentials(tenantId, name),
    generate: onCall
      ? async (credentials, request) => {
          const started = performance.now()
          const report = (outcome: string, result?: GenerateResult) =>
            onCall({
              provider: credentials.name,
              model: request.model,
              outcome,
              durationMs: performance.now() - started,
              tokensIn: result?.tokensIn ?? 0,
              tokensOut: result?.tokensOut ?? 0,
              costUsd: result
                ? costUsd(credentials.name, result.model || request.model, result.tokensIn, result.tokensOut)
                : null,
            })
          try {
            const result = await providers.generate(credentials, request)
            report('ok', result)
            return result
          } catch (error) {
            report(
              error instanceof ProviderError ? error.code : request.signal?.aborted ? 'aborted' : 'error',
            )
            throw error
          }
        }
      : (credentials, request) => providers.generate(credentials, request),
    costUsd: (provider, model, tokensIn, tokensOut) =>
      isProviderName(provider) ? costUsd(provider, model, tokensIn, tokensOut) : null,
    recordCall: async (tenantId, name, error, runId) => {
      if (!isProviderName(name)) return
      await providers.recordCall(tenantId, name, error)
      await circuit?.record(tenantId, name, error, runId ?? null)
    },
  }
}
