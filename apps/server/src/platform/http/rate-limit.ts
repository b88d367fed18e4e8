import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../errors.ts'

// Rate limits per caller and per tenant (issue 5), counted per process in memory over a sliding
// minute. Checked after authentication, so an anonymous flood is refused by the auth hook without
// touching the counters, and one caller cannot starve its workspace's other callers beyond the
// tenant limit. Issue 11, item 8 (decision 0017):
// - A person is one caller: their sessions and personal keys share one bucket, so minting keys buys
//   no extra requests. A service key is a caller of its own.
// - The last fifth of the workspace's minute is kept for owners and admins: editors and viewers
//   together cannot lock an owner out of revoking their keys.
// Sign-in (item 9) is limited per client address, before any password is hashed. The public
// Telegram webhook counts only refused requests per address, so strangers guessing its secret path
// cannot lock out Telegram's deliveries, which come from a few shared addresses for every workspace.

export interface RateLimits {
  perKeyPerMinute: number
  perTenantPerMinute: number
  /** Sign-in requests per client address (an IPv6 /64) and minute, right or wrong (default 20). */
  signInPerAddressPerMinute?: number
  /** Refused requests to the public Telegram webhook per client address and minute (default 600). */
  publicWebhookPerAddressPerMinute?: number
}

/** The share of the workspace's minute only owners and admins may use. */
export const adminReserveShare = 0.2
export const defaultSignInPerAddressPerMinute = 20
export const defaultPublicWebhookPerAddressPerMinute = 600

/** The callers' requests of one workspace editors and viewers may use; the rest is the admins' reserve. */
export function membersShare(perTenantPerMinute: number): number {
  const reserve = Math.max(1, Math.floor(perTenantPerMinute * adminReserveShare))
  return Math.max(1, perTenantPerMinute - reserve)
}

function limited(detail: string, ttlInSeconds: number, code = 'rate_limited'): AppError {
  const seconds = Math.max(1, ttlInSeconds)
  return new AppError(code, `${detail} Try again in ${seconds} s.`, 429, {
    retryAfterMs: seconds * 1000,
    headers: { 'retry-after': String(seconds) },
  })
}

/**
 * Registers the plugin (no global limit) on the root. Answers the hook for authenticated scopes and
 * the one for the sign-in route.
 */
export async function registerRateLimits(app: FastifyInstance, limits: RateLimits) {
  await app.register(rateLimit, { global: false })
  const perCaller = app.createRateLimit({
    max: limits.perKeyPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) =>
      request.auth.userId ? `user:${request.auth.userId}` : `key:${request.auth.keyId}`,
  })
  const perTenant = app.createRateLimit({
    max: limits.perTenantPerMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `tenant:${request.auth.tenantId}`,
  })
  const signInMax = limits.signInPerAddressPerMinute ?? defaultSignInPerAddressPerMinute
  // The default key is the client address with IPv6 grouped by /64 (users/client-address.ts: the same rule).
  const perAddress = app.createRateLimit({ max: signInMax, timeWindow: 60_000, ipv6Subnet: 64 })
  const membersMax = membersShare(limits.perTenantPerMinute)
  const publicMax = limits.publicWebhookPerAddressPerMinute ?? defaultPublicWebhookPerAddressPerMinute
  const perAddressPublic = app.createRateLimit({ max: publicMax, timeWindow: 60_000, ipv6Subnet: 64 })

  async function checkRateLimits(request: FastifyRequest): Promise<void> {
    if (!request.auth) return
    const caller = await perCaller(request)
    if (!caller.isAllowed && caller.isExceeded)
      throw limited(
        request.auth.userId
          ? `Too many requests for this person (their sessions and personal keys together): at most ${limits.perKeyPerMinute} per minute.`
          : `Too many requests for this API key: at most ${limits.perKeyPerMinute} per minute.`,
        caller.ttlInSeconds,
      )
    const { role } = request.auth
    if (role !== 'owner' && role !== 'admin') {
      // Read first: a refused member request must not eat into the reserve it is refused to protect.
      const now = await perTenant(request, { increment: false })
      if (!now.isAllowed && now.remaining <= limits.perTenantPerMinute - membersMax)
        throw limited(
          `Too many requests for this workspace from editors and viewers: at most ${membersMax} per minute; the other ${limits.perTenantPerMinute - membersMax} are kept for owners and admins.`,
          now.ttlInSeconds,
        )
    }
    const tenant = await perTenant(request)
    if (!tenant.isAllowed && tenant.isExceeded)
      throw limited(
        `Too many requests for this workspace: at most ${limits.perTenantPerMinute} per minute.`,
        tenant.ttlInSeconds,
      )
  }

  /** For the sign-in route: refuses an address's requests beyond the limit with 429 `login_throttled`. */
  async function checkSignInRate(request: FastifyRequest): Promise<void> {
    const address = await perAddress(request)
    if (!address.isAllowed && address.isExceeded)
      throw limited(
        `Too many sign-in attempts from this address: at most ${signInMax} per minute.`,
        address.ttlInSeconds,
        'login_throttled',
      )
  }

  /**
   * For public routes whose credential is a secret in the URL (Telegram's webhook). Only refused
   * requests count against the address. Without `outcome`: looks without counting and throws 429
   * when the address has used up its refusals (the route then lets through only the right secrets).
   * With `{ refused: true }`: counts this refused request and throws 429 once past the limit.
   */
  async function checkPublicWebhookRate(request: FastifyRequest, outcome?: { refused: true }): Promise<void> {
    const refused = outcome?.refused === true
    const address = await perAddressPublic(request, { increment: refused })
    if (address.isAllowed) return
    if (refused ? address.isExceeded : address.remaining === 0)
      throw limited(
        `Too many refused requests from this address: at most ${publicMax} per minute.`,
        address.ttlInSeconds,
      )
  }

  return { checkRateLimits, checkSignInRate, checkPublicWebhookRate }
}
