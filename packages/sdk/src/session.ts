import type { Session, User } from '@openorch/contracts'

// Credentials of a signed-in user (decision 0011): a short-lived access token and a rotating refresh
// token. A refresh spends the refresh token, and a spent token presented again revokes the whole
// session — so refreshing is single-flight: however many requests fail at once, one refresh call
// goes out and every one of them retries with its result.

/**
 * What the client asks for a bearer token, and after a 401 for a fresh one.
 *
 * @example
 * const auth: Credentials = { getAccessToken: () => token, refresh: async () => undefined }
 */
export interface Credentials {
  /** The token to send now. */
  getAccessToken(): string | Promise<string>
  /**
   * Called once after `refused` got a 401: a token to retry with, or undefined when the session has
   * ended (the request then fails with its 401).
   */
  refresh(refused: string): Promise<string | undefined>
  /**
   * Called with a new session the server answered for this one (a changed password ends the old
   * pair): use it from now on. Static credentials (an API key) leave it out.
   */
  adopt?(session: Session): void
}

/**
 * A signed-in session as it is kept between page loads: the token pair, who it is, and when the
 * access token expires (ms since epoch).
 *
 * @example
 * const kept: SignedIn = { accessToken: 'eyJ…', refreshToken: 'oor_…', expiresAt: Date.now() + 900_000, user }
 */
export interface SignedIn {
  accessToken: string
  refreshToken: string
  expiresAt: number
  user: User
}

/** A login or refresh answer as a `SignedIn` (expiry from `expiresIn`, measured from `now`). */
export function signedInFrom(session: Session, now: number = Date.now()): SignedIn {
  return {
    accessToken: session.accessToken,
    refreshToken: session.refreshToken,
    expiresAt: now + session.expiresIn * 1000,
    user: session.user,
  }
}

export interface SessionCredentialsOptions {
  /** Server root, e.g. `http://localhost:8080`. */
  baseUrl: string
  session: SignedIn
  fetch?: typeof fetch
  /** Every new pair (keep it), and `null` once the server refused the refresh (the session ended). */
  onChange?: (session: SignedIn | null) => void
  /** Refresh ahead of expiry by this much, so a request rarely meets an expired token (default 30 s). */
  refreshAheadMs?: number
  now?: () => number
}

export type SessionCredentials = Credentials & {
  adopt(session: Session): void
  /** The pair in use, or null after the session ended. */
  current(): SignedIn | null
  /** Forget the pair (after signing out). */
  forget(): void
}

/**
 * Credentials for `createClient({ auth })` from a signed-in session: refreshes ahead of expiry and
 * after a 401, one refresh at a time.
 *
 * @example
 * const session = await createClient({ baseUrl, apiKey: '' }).auth.login({ email, password })
 * const auth = createSessionCredentials({ baseUrl, session: signedInFrom(session), onChange: save })
 * const client = createClient({ baseUrl, auth })
 */
export function createSessionCredentials(options: SessionCredentialsOptions): SessionCredentials {
  const base = options.baseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? fetch
  const now = options.now ?? (() => Date.now())
  const ahead = options.refreshAheadMs ?? 30_000
  let current: SignedIn | null = options.session
  let inflight: Promise<string | undefined> | null = null

  function refreshOnce(): Promise<string | undefined> {
    if (inflight) return inflight
    const spending = current
    if (!spending) return Promise.resolve(undefined)
    inflight = (async () => {
      try {
        const response = await doFetch(`${base}/api/v1/auth/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refreshToken: spending.refreshToken }),
        })
        // 401 (ended, spent, expired) and 400 (not a token) end the session; anything else — a
        // restart, a 5xx, no network — keeps it, so the next request can try again.
        if (response.status === 401 || response.status === 400) {
          if (current === spending) {
            current = null
            options.onChange?.(null)
          }
          return undefined
        }
        if (!response.ok) throw new Error(`refreshing the session: HTTP ${response.status}`)
        const next = signedInFrom((await response.json()) as Session, now())
        current = next
        options.onChange?.(next)
        return next.accessToken
      } finally {
        inflight = null
      }
    })()
    return inflight
  }

  return {
    async getAccessToken() {
      if (inflight) return (await inflight) ?? ''
      if (current && current.expiresAt - ahead <= now()) return (await refreshOnce()) ?? ''
      return current?.accessToken ?? ''
    },
    async refresh(refused) {
      if (inflight) return inflight
      if (!current) return undefined
      // Another request already refreshed while this one was under way: retry with the new token.
      if (current.accessToken !== refused) return current.accessToken
      return refreshOnce()
    },
    adopt(session) {
      const next = signedInFrom(session, now())
      current = next
      options.onChange?.(next)
    },
    current: () => current,
    forget() {
      current = null
    },
  }
}
