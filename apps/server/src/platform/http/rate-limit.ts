import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../errors.ts'

// Rate limits per API key and per tenant (issue 5), counted per process in memory over a sliding
// minute. Checked after authentication, so an anonymous flood is refused by the auth hook without
// touching the counters, and one key cannot starve its workspace's other keys beyond the tenant limit.

export interface RateLimits {
  perKeyPerMinute: number
  perTenantPerMinute: number
}

/** Registers the plugin (no global limit) on the root; returns the hook for authenticated scopes. */
export async function registerRateLimits(app: FastifyInstance, limits: RateLimits) {
  await app.register(rateLimit, { global: false })
  const perKey = app.createRateLimit({
    max: limits.perKeyPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `key:${request.auth.keyId}`,
  })
  const perTenant = app.createRateLimit({
    max: limits.perTenantPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `tenant:${request.auth.tenantId}`,
  })
  return async function checkRateLimits(request: FastifyRequest): Promise<void> {
    if (!request.auth) return
    for (const [check, scope, max] of [
      [perKey, 'API key', limits.perKeyPerMinute],
      [perTenant, 'workspace', limits.perTenantPerMinute],
    ] as const) {
      const result = await check(request)
      if (!result.isAllowed && result.isExceeded) {
        const seconds = Math.max(1, result.ttlInSeconds)
        throw new AppError(
          'rate_limited',
          `Too many requests for this ${scope}: at most ${max} per minute. Try again in ${seconds} s.`,
          429,
          { retryAfterMs: seconds * 1000, headers: { 'retry-after': String(seconds) } },
        )
      }
    }
  }
}
