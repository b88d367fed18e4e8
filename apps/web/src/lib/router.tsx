import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react'

// A tiny History-API router: the server answers every dashboard path with index.html, so deep links
// and reloads work. A few kB less than a router library, and enough for a dozen pages.

const changed = 'openorch:navigate'

function subscribe(callback: () => void): () => void {
  window.addEventListener('popstate', callback)
  window.addEventListener(changed, callback)
  return () => {
    window.removeEventListener('popstate', callback)
    window.removeEventListener(changed, callback)
  }
}

const snapshot = () => window.location.pathname + window.location.search

/**
 * Calls `callback` after every navigation, also one that changes only the #fragment (which
 * `useLocation` does not report); returns the unsubscribe.
 */
export const onNavigation = subscribe

export interface Location {
  path: string
  query: URLSearchParams
}

export function useLocation(): Location {
  const href = useSyncExternalStore(subscribe, snapshot, () => '/')
  const url = new URL(href, 'http://x')
  return { path: url.pathname, query: url.searchParams }
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === snapshot()) return
  if (options.replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  window.dispatchEvent(new Event(changed))
  // A new page starts at its top, and its heading is announced (see Main in app.tsx).
  window.scrollTo(0, 0)
}

/** Matches `/bots/:id` against a path; returns the params or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const a = pattern.split('/').filter(Boolean)
  const b = path.split('/').filter(Boolean)
  if (a.length !== b.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < a.length; i++) {
    const part = a[i]!
    const value = b[i]!
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(value)
    else if (part !== value) return undefined
  }
  return params
}

export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const { href, onClick, ...rest } = props
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event)
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
      return
    event.preventDefault()
    navigate(href)
  }
  return <a href={href} onClick={handle} {...rest} />
}
