import { type Client, createClient, createSessionCredentials, type SessionCredentials } from '@openorch/sdk'
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
