import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { AppError } from '../platform/errors.ts'
import { type AuthContext, challenge, howToSend } from '../platform/http/caller.ts'
import type { ApiKeyService } from './api-key.service.ts'

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

// The role check every domain's routes use lives in platform/ (decision 0026); re-exported for callers here.
export { requireRole } from '../platform/http/caller.ts'
