import type { SignedIn } from '@openorch/sdk'

// Who is signed in: a user (e-mail and password → a JWT access token and a rotating refresh token,
// decision 0011) or an API key.
//
// Both live in sessionStorage: they survive a reload of the tab but not closing it, are not shared
// with other tabs, and are never written to localStorage, a cookie or a URL. An XSS could still read
// them (as it could read memory); the CSP without inline scripts and sanitised Markdown keep that
// out. A user session's pair is rewritten here on every refresh, so a reload continues with the
// newest refresh token (an older one would end the whole session: it is spent).

export type Session = { kind: 'apiKey'; apiKey: string } | ({ kind: 'jwt' } & SignedIn)

const storageKey = 'openorch.session'

function isSession(value: unknown): value is Session {
  if (!value || typeof value !== 'object') return false
  const s = value as Record<string, unknown>
  if (s.kind === 'apiKey') return typeof s.apiKey === 'string'
  if (s.kind === 'jwt') {
    const user = s.user as Record<string, unknown> | undefined
    return (
      typeof s.accessToken === 'string' &&
      typeof s.refreshToken === 'string' &&
      typeof s.expiresAt === 'number' &&
      typeof user?.email === 'string'
    )
  }
  return false
}

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(storageKey)
    if (!raw) return null
    const parsed: unknown = JSON.parse(raw)
    return isSession(parsed) ? parsed : null
  } catch {
    return null
  }
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(storageKey, JSON.stringify(session))
  else sessionStorage.removeItem(storageKey)
}
