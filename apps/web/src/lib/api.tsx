import {
  apiErrorOf,
  type Client,
  createClient,
  createSessionCredentials,
  type SessionCredentials,
} from '@openorch/sdk'
import { createContext, type ReactNode, useContext } from 'react'
import { type Session, saveSession } from './session.ts'

// The typed client of packages/sdk, bound to the signed-in session and to this page's origin.

export interface SignedInClient {
  client: Client
  session: Session
  /** A user session's credentials (they refresh themselves); undefined for an API key. */
  credentials?: SessionCredentials
}

/**
 * A client for a session. A user session refreshes its access token ahead of expiry and after a
 * 401, stores each new pair, and calls `onEnded` when the server refuses the refresh.
 */
// TanStack Query retries the page's reads itself and a person sees a refused write with its words at
// once, so the client does not retry on its own: a page should not sit silent through a Retry-After.
const retry = false

export function clientFor(session: Session, onEnded: () => void): SignedInClient {
  const baseUrl = window.location.origin
  if (session.kind === 'apiKey')
    return { client: createClient({ baseUrl, apiKey: session.apiKey, retry }), session }
  const credentials = createSessionCredentials({
    baseUrl,
    session,
    onChange: (next) => {
      if (next) saveSession({ kind: 'jwt', ...next })
      else onEnded()
    },
  })
  return { client: createClient({ baseUrl, auth: credentials, retry }), session, credentials }
}

const ClientContext = createContext<SignedInClient | null>(null)

export function ClientProvider({ value, children }: { value: SignedInClient; children: ReactNode }) {
  return <ClientContext.Provider value={value}>{children}</ClientContext.Provider>
}

export function useSignedIn(): SignedInClient {
  const value = useContext(ClientContext)
  if (!value) throw new Error('useClient outside ClientProvider')
  return value
}

export function useClient(): Client {
  return useSignedIn().client
}

/**
 * A request the SDK has no method for yet (MCP servers, the search set-up, bot files), with the same
 * credentials: a user session's token, refreshed once after a 401, or the API key. A refusal throws
 * the SDK's ApiError with its problem, like the client does.
 */
export async function authorizedFetch(
  signedIn: SignedInClient,
  path: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<Response> {
  const url = `${window.location.origin}/api/v1${path}`
  const { session, credentials } = signedIn
  const send = (token: string) =>
    fetch(url, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } })
  const token = session.kind === 'apiKey' ? session.apiKey : await (credentials?.getAccessToken() ?? '')
  const response = await send(token)
  if (response.status !== 401 || !credentials) return response
  const fresh = await credentials.refresh(token)
  if (fresh === undefined) return response
  await response.body?.cancel().catch(() => {})
  return send(fresh)
}

/** A JSON request through `authorizedFetch`; the answer's JSON (undefined for 204). */
export async function requestJson<T>(
  signedIn: SignedInClient,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await authorizedFetch(signedIn, path, {
    method,
    ...(body !== undefined
      ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
      : {}),
  })
  if (!response.ok) throw await apiErrorOf(response, `${method} ${path}: HTTP ${response.status}`)
  const text = await response.text()
  return (text ? JSON.parse(text) : undefined) as T
}
