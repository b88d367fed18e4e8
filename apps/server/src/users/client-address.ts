import { normalizeIP } from '@fastify/rate-limit'

// Sign-in throttling counts failures per client address (issue 11, item 9; decision 0017). One
// client is one IPv4 address or one IPv6 /64: a home or office network gets a /64, so a client can
// choose among 2^64 addresses of its own and must not get a fresh count with each of them. The rule
// is @fastify/rate-limit's own, so the per-address request limit (platform/http/rate-limit.ts) and
// the failure counts in the database see the same clients.

export const ipv6ClientPrefix = 64

/** The client a request came from, as sign-in throttling counts it: `192.0.2.1`, `2001:db8:1:2::`. */
export function clientOf(ip: string | undefined): string {
  if (!ip) return 'unknown'
  try {
    return normalizeIP(ip.split('%')[0]!, ipv6ClientPrefix)
  } catch {
    return ip.toLowerCase()
  }
}
