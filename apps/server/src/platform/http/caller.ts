import type { preHandlerAsyncHookHandler } from 'fastify'
import { AppError } from '../errors.ts'

// Who is calling and what they may do. Every domain's routes check it, so it lives in platform/ rather
// than in auth/ (which decides who a credential belongs to and only writes the answer here): a domain
// whose routes need a role then does not depend on auth/, and auth/ may use such a domain (it writes
// the audit trail) without an import cycle (decision 0026).

/** Roles, from most to least powerful. A role may do everything the roles below it may. */
export type Role = 'owner' | 'admin' | 'editor' | 'viewer'

export const roles: readonly Role[] = ['owner', 'admin', 'editor', 'viewer']

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value)
}

/** True when `role` is `required` or above it. */
export function hasRole(role: Role, required: Role): boolean {
  return roles.indexOf(role) <= roles.indexOf(required)
}

/** Who is calling: attached to every authenticated request as `request.auth`. */
export interface AuthContext {
  tenantId: string
  role: Role
  keyId: string
  /** The person a session or personal key belongs to; absent for a service key. */
  userId?: string | null
  /** The user who created a service key (null: bootstrap, CLI or older keys); absent otherwise. */
  creatorId?: string | null
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling. Set by the auth hook before any handler of an authenticated scope runs. */
    auth: AuthContext
  }
}

export const howToSend = 'Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.'
export const challenge = { 'www-authenticate': 'Bearer realm="openorch"' }

/**
 * Refuses callers below `role` with 403 `forbidden`. Used as a preValidation hook: the role is checked
 * before the body is validated, so a caller without the role learns nothing from validation errors.
 */
export function requireRole(role: Role): preHandlerAsyncHookHandler {
  return async (request) => {
    if (!request.auth)
      throw new AppError('unauthorized', `This endpoint needs an API key. ${howToSend}`, 401, {
        headers: challenge,
      })
    if (!hasRole(request.auth.role, role)) {
      throw new AppError(
        'forbidden',
        `This needs the ${role} role or above; the API key has the ${request.auth.role} role.`,
        403,
      )
    }
  }
}
