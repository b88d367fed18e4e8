import { randomBytes } from 'node:crypto'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { newId, sha256Hex } from '../platform/ids.ts'
import { workspaceRefusal } from '../tenants/tenants.ts'
import type { BotHooksTable } from './bot-hook.table.ts'

// Inbound webhooks (issue 14): a bot's URL that starts a run with the request's body as input. The
// token in the URL is the only credential, so it is long, shown once, kept only as its SHA-256,
// revocable and optionally expiring; each hook has its own rate limit. A disabled workspace's hooks
// start nothing: 403 `workspace_disabled`, as for its API keys (decision 0020).

export const hookTokenPrefix = 'ooh_'
/** Requests per hook and minute (per process). */
export const hookRequestsPerMinute = 60

export interface BotHook {
  id: string
  botId: string
  tokenHint: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
  createdAt: string
}

const iso = (ms: number | string | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

function toJson(row: BotHooksTable): BotHook {
  return {
    id: row.id,
    botId: row.bot_id,
    tokenHint: row.token_hint,
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    lastUsedAt: iso(row.last_used_at),
    createdAt: iso(row.created_at)!,
  }
}

export type BotHooks = ReturnType<typeof createBotHooks>

export function createBotHooks(deps: { database: Db; clock: Clock }) {
  const db = deps.database.db
  const windows = new Map<string, { start: number; count: number }>()

  return {
    async create(tenantId: string, botId: string, expiresInSeconds: number | null) {
      const token = `${hookTokenPrefix}${randomBytes(32).toString('base64url')}`
      const now = deps.clock.now()
      const row: BotHooksTable = {
        id: newId(),
        tenant_id: tenantId,
        bot_id: botId,
        token_hash: sha256Hex(token),
        token_hint: `${token.slice(0, 8)}…${token.slice(-4)}`,
        expires_at: expiresInSeconds === null ? null : now + expiresInSeconds * 1000,
        revoked_at: null,
        last_used_at: null,
        created_at: now,
      }
      await db.insertInto('bot_hooks').values(row).execute()
      return { hook: toJson(row), token }
    },

    async list(tenantId: string, botId: string): Promise<BotHook[]> {
      const rows = await db
        .selectFrom('bot_hooks')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('bot_id', '=', botId)
        .orderBy('created_at', 'desc')
        .execute()
      return rows.map(toJson)
    },

    async revoke(tenantId: string, botId: string, id: string): Promise<void> {
      const done = await db
        .updateTable('bot_hooks')
        .set({ revoked_at: deps.clock.now() })
        .where('tenant_id', '=', tenantId)
        .where('bot_id', '=', botId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      if (Number(done.numUpdatedRows) === 0)
        throw notFound('hook_not_found', `Bot ${botId} has no active inbound webhook ${id}.`)
    },

    /**
     * The hook a token opens, counted against its rate limit. Every refusal of the token reads the
     * same (404 `hook_not_found`): the answer does not tell a guessed token from a revoked or expired
     * one. A live token of a disabled workspace is 403 `workspace_disabled` — only its holder learns that.
     */
    async open(token: string): Promise<{ id: string; tenantId: string; botId: string }> {
      const gone = notFound(
        'hook_not_found',
        'No inbound webhook has this URL (it may have been revoked or expired).',
      )
      if (!token.startsWith(hookTokenPrefix) || token.length > 200) throw gone
      const row = await db
        .selectFrom('bot_hooks')
        .selectAll()
        .where('token_hash', '=', sha256Hex(token))
        .executeTakeFirst()
      const now = deps.clock.now()
      if (!row || row.revoked_at !== null || (row.expires_at !== null && Number(row.expires_at) <= now))
        throw gone
      const disabled = await workspaceRefusal(db, row.tenant_id)
      if (disabled) throw disabled
      const window = windows.get(row.id)
      if (!window || now - window.start >= 60_000) windows.set(row.id, { start: now, count: 1 })
      else if (++window.count > hookRequestsPerMinute) {
        const seconds = Math.max(1, Math.ceil((window.start + 60_000 - now) / 1000))
        throw new AppError(
          'rate_limited',
          `This webhook takes at most ${hookRequestsPerMinute} requests a minute. Try again in ${seconds} s.`,
          429,
          { retryAfterMs: seconds * 1000, headers: { 'retry-after': String(seconds) } },
        )
      }
      await db.updateTable('bot_hooks').set({ last_used_at: now }).where('id', '=', row.id).execute()
      return { id: row.id, tenantId: row.tenant_id, botId: row.bot_id }
    },
  }
}
