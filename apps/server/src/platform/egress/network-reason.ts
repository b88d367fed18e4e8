// Why an outbound call got no HTTP answer at all, in words for people: the innermost known code of a
// "fetch failed" chain (refused, DNS, reset, TLS), and whether it was a transport timeout. One table
// for every caller (providers, the search tool).

const networkCodes: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
}
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** The innermost readable reason of a network failure (`connection refused`), and whether it was a timeout. */
export function networkFailureReason(error: unknown): { reason: string; timedOut: boolean } {
  let current: unknown = error
  let reason = error instanceof Error ? error.message : String(error)
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code
    if (code && timeoutCodes.has(code)) return { reason: 'no answer in time', timedOut: true }
    if (code && networkCodes[code]) return { reason: networkCodes[code], timedOut: false }
    if (current.name === 'TimeoutError') return { reason: 'no answer in time', timedOut: true }
    if (current.message && current.message !== 'fetch failed') reason = current.message
    current = current.cause
  }
  return { reason, timedOut: false }
}
