import type { Role } from '@openorch/contracts'
import { useSignedIn } from './api.tsx'

// Who may do what, as far as the dashboard knows: a user's role comes with the session; an API
// key's role is not known to the dashboard, so pages offer its actions and show a refusal in words.

export const roleRank: Record<Role, number> = { viewer: 0, editor: 1, admin: 2, owner: 3 }

/** The signed-in user's role as the server last said it (undefined for an API key). */
export function useMyRole(): Role | undefined {
  const { session, credentials } = useSignedIn()
  if (session.kind !== 'jwt') return undefined
  return credentials?.current()?.user.role ?? session.user.role
}

export const isAdminRole = (role: Role | undefined) => role === 'admin' || role === 'owner'

/** Whether a role (undefined: an API key, role unknown) is offered actions that need `needed`. */
export function mayOffer(role: Role | undefined, needed: Role): boolean {
  return role === undefined || roleRank[role] >= roleRank[needed]
}
