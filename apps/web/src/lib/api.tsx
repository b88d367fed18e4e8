import { type Client, createClient } from '@openorch/sdk'
import { createContext, type ReactNode, useContext, useMemo } from 'react'
import type { Session } from './session.ts'

// The typed client of packages/sdk, bound to the signed-in session and to this page's origin.

const ClientContext = createContext<Client | null>(null)

export function ClientProvider({ session, children }: { session: Session; children: ReactNode }) {
  const client = useMemo(
    () => createClient({ baseUrl: window.location.origin, apiKey: session.apiKey }),
    [session.apiKey],
  )
  return <ClientContext.Provider value={client}>{children}</ClientContext.Provider>
}

export function useClient(): Client {
  const client = useContext(ClientContext)
  if (!client) throw new Error('useClient outside ClientProvider')
  return client
}
