// Who is signed in. Today: an API key. Later: a user session (JWT) — the `kind` keeps room for it.
//
// The key lives in sessionStorage: it survives a reload of the tab but not closing it, is not shared
// with other tabs, and is never written to localStorage, a cookie or a URL. An XSS could still read
// it (as it could read memory); the CSP without inline scripts and sanitised Markdown keep that out.

export type Session = { kind: 'apiKey'; apiKey: string }

const storageKey = 'openorch.session'

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(storageKey)
    if (!raw) return null
    const parsed = JSON.parse(raw) as Session
    return parsed.kind === 'apiKey' && typeof parsed.apiKey === 'string' ? parsed : null
  } catch {
    return null
  }
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(storageKey, JSON.stringify(session))
  else sessionStorage.removeItem(storageKey)
}
