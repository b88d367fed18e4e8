import type {
  FastifyInstance,
  FastifyRequest,
  onRequestAsyncHookHandler,
  preHandlerAsyncHookHandler,
} from 'fastify'
import { AppError } from '../platform/errors.ts'
import type { ApiKeyService, AuthContext } from './api-key.service.ts'
import { hasRole, type Role } from './role.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling. Set by the auth hook before any handler of an authenticated scope runs. */
    auth: AuthContext
  }
}

const howToSend = 'Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.'
const challenge = { 'www-authenticate': 'Bearer realm="openorch"' }

/** The key a request carries: `Authorization: Bearer <key>` first, then `X-API-Key`. */
export function apiKeyOf(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (match) return match[1]
  }
  const header = request.headers['x-api-key']
  if (typeof header === 'string' && header.trim()) return header.trim()
  return undefined
}

/** Declares `request.auth` on the instance; call once, at the root. */
export function decorateAuth(app: FastifyInstance): void {
  app.decorateRequest('auth', null as unknown as AuthContext)
}

/** Resolves a dashboard access token (a JWT) to its caller; undefined when it is not valid (any more). */
export type AccessTokenAuthenticator = (token: string) => Promise<AuthContext | undefined>

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/**
 * Who a credential belongs to right now, or the AppError that refuses it (unknown, revoked, expired,
 * its workspace disabled). The auth hook asks it once per request; a live stream asks again at every
 * heartbeat, so a revoked key, a disabled user or a changed password ends it (decision 0018).
 */
export type CredentialCheck = (key: string) => Promise<AuthContext | AppError>

export function createCredentialCheck(
  apiKeys: ApiKeyService,
  accessTokens?: AccessTokenAuthenticator,
  /** Refuses valid credentials of a workspace that may not be used (disabled: decision 0020). */
  refuseWorkspace?: (tenantId: string) => Promise<AppError | undefined>,
): CredentialCheck {
  return async (key) => {
    const auth =
      jwtShape.test(key) && accessTokens ? await accessTokens(key) : await apiKeys.authenticate(key)
    if (!auth)
      return new AppError(
        'unauthorized',
        `The API key or session is unknown, revoked or expired. ${howToSend}`,
        401,
        { headers: challenge },
      )
    return (await refuseWorkspace?.(auth.tenantId)) ?? auth
  }
}

/** An onRequest hook: runs before the body is read, so anonymous callers cost us no parsing. */
export function createAuthHook(check: CredentialCheck): onRequestAsyncHookHandler {
  return async (request) => {
    const key = apiKeyOf(request)
    if (!key) {
      const detail = request.headers.authorization
        ? `The Authorization header is not a Bearer token. ${howToSend}`
        : `This endpoint needs an API key. ${howToSend}`
      throw new AppError('unauthorized', detail, 401, { headers: challenge })
    }
    const auth = await check(key)
    if (auth instanceof AppError) throw auth
    request.auth = auth
    request.log = request.log.child({ tenantId: auth.tenantId, keyId: auth.keyId })
  }
}

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
