import {
  problemResponse,
  telegramInboundPutSchema,
  telegramInboundSchema,
  telegramLinkCodeSchema,
} from '@openorch/contracts'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AppError } from '../../platform/errors.ts'
import { hasRole, requireRole } from '../../platform/http/caller.ts'
import type { TelegramInboundService, TelegramUpdate } from './telegram-inbound.ts'

// /api/v1/channels/{id}/telegram…: link codes for people, the inbound mode for admins, and the public
// webhook Telegram posts updates to (its path holds a secret; Telegram's secret-token header is checked).

const idParams = z.object({ id: z.string().min(1).max(200) })
const oneErrors = {
  401: problemResponse('No valid API key.'),
  404: problemResponse('No such channel in your workspace (`channel_not_found`).'),
}

export const telegramRoutes: FastifyPluginAsyncZod<{ telegram: TelegramInboundService }> = async (
  app,
  { telegram },
) => {
  app.post(
    '/channels/:id/telegram/link-code',
    {
      schema: {
        tags: ['channels'],
        summary: 'Make a code that links a Telegram chat to you',
        description:
          'Any role. The code is for the signed-in person: six digits, valid once for 10 minutes; send `/link <code>` to the channel’s bot in a private chat. A service key has no person: 400 `person_required`.',
        params: idParams,
        response: {
          201: telegramLinkCodeSchema,
          ...oneErrors,
          400: problemResponse(
            'Not a Telegram channel (`channel_not_telegram`), or no person behind the key (`person_required`).',
          ),
        },
      },
    },
    async (request, reply) => {
      // The channel first: another workspace's id is 404 whoever asks.
      await telegram.telegramChannel(request.auth.tenantId, request.params.id)
      const userId = request.auth.userId
      if (!userId)
        throw new AppError(
          'person_required',
          'A link code belongs to a person: sign in to the dashboard (or use a personal key), not a service key.',
          400,
        )
      return reply
        .code(201)
        .send(await telegram.createLinkCode(request.auth.tenantId, request.params.id, userId))
    },
  )
  app.get(
    '/channels/:id/telegram',
    {
      schema: {
        tags: ['channels'],
        summary: 'How a Telegram channel receives commands, and the linked chats',
        description:
          'Admins and owners see every linked chat; anyone else only the chats linked to themselves (a service key below admin: none).',
        params: idParams,
        response: {
          200: telegramInboundSchema,
          ...oneErrors,
          400: problemResponse('Not a Telegram channel (`channel_not_telegram`).'),
        },
      },
    },
    async (request) =>
      telegram.state(request.auth.tenantId, request.params.id, {
        userId: request.auth.userId ?? null,
        seesAll: hasRole(request.auth.role, 'admin'),
      }),
  )
  app.delete(
    '/channels/:id/telegram/links/:chatId',
    {
      schema: {
        tags: ['channels'],
        summary: 'Unlink a Telegram chat',
        description:
          'A person unlinks their own chat; admins and owners unlink anyone’s. The chat is refused politely again until it sends a new code.',
        params: idParams.extend({ chatId: z.string().min(1).max(40) }),
        response: {
          204: z.null().describe('Unlinked.'),
          ...oneErrors,
          400: problemResponse('Not a Telegram channel (`channel_not_telegram`).'),
          404: problemResponse(
            'No such channel in your workspace (`channel_not_found`), or no such chat of yours linked to it (`telegram_link_not_found`).',
          ),
        },
      },
    },
    async (request, reply) => {
      await telegram.unlink(request.auth.tenantId, request.params.id, request.params.chatId, {
        userId: request.auth.userId ?? null,
        mayUnlinkOthers: hasRole(request.auth.role, 'admin'),
      })
      return reply.code(204).send(null)
    },
  )
  app.put(
    '/channels/:id/telegram/inbound',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['channels'],
        summary: 'Switch how a Telegram channel receives commands',
        description:
          '`webhook` registers this installation with Telegram (`setWebhook`, with a secret path and secret token); `polling` lets one process of the installation long-poll (`getUpdates`); `off` stops both. Needs admin.',
        params: idParams,
        body: telegramInboundPutSchema,
        response: {
          200: telegramInboundSchema,
          ...oneErrors,
          400: problemResponse(
            'Not a Telegram channel, no public address for a webhook (`public_url_missing`), or Telegram refused (`telegram_failed`).',
          ),
          403: problemResponse('Below the admin role (`forbidden`).'),
          502: problemResponse('Telegram could not be reached (`telegram_failed`).'),
        },
      },
    },
    async (request) => telegram.setInbound(request.auth.tenantId, request.params.id, request.body),
  )
}

/**
 * The public webhook: no API key; the path's secret and Telegram's secret-token header are the
 * credential. Only refused requests count against the sender's address (rate-limit.ts): strangers
 * guessing paths are limited, Telegram's deliveries — right path, right header — never are.
 */
export const telegramWebhookRoutes: FastifyPluginAsyncZod<{
  telegram: TelegramInboundService
  /**
   * The limit on refused requests per address (`checkPublicWebhookRate`): with `refused`, counts
   * one and throws 429 past the limit; without, only throws 429 when the address is past it already.
   */
  checkRate?: (request: FastifyRequest, outcome?: { refused: true }) => Promise<void>
}> = async (app, { telegram, checkRate }) => {
  const check = (request: FastifyRequest) => {
    const params = request.params as { id?: unknown; secret?: unknown }
    const header = request.headers['x-telegram-bot-api-secret-token']
    return telegram.checkWebhook(
      String(params.id ?? ''),
      String(params.secret ?? ''),
      typeof header === 'string' ? header : undefined,
    )
  }
  /** An address past its refusals is answered 429 before its body is read, unless it holds the secrets. */
  async function refuseLimitedAddress(request: FastifyRequest) {
    try {
      await checkRate!(request)
    } catch (limited) {
      if (typeof (await check(request)) === 'string') throw limited
    }
  }
  app.post(
    '/channels/:id/telegram/:secret',
    {
      ...(checkRate ? { onRequest: refuseLimitedAddress } : {}),
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ['channels'],
        summary: 'Telegram posts updates here (webhook)',
        description:
          'Registered by `PUT /channels/{id}/telegram/inbound` with mode `webhook`. No API key: the path holds a secret and the `X-Telegram-Bot-Api-Secret-Token` header must match. Each update id is handled once.',
        security: [],
        params: z.object({ id: z.string().min(1).max(200), secret: z.string().min(1).max(200) }),
        headers: z
          .object({ 'x-telegram-bot-api-secret-token': z.string().max(300).optional() })
          .passthrough(),
        // Checked after the secrets: a stranger learns nothing from how a body is refused.
        body: z.record(z.string(), z.unknown()),
        response: {
          200: z.object({ ok: z.literal(true) }),
          400: problemResponse('The body is not a Telegram update (`validation_failed`).'),
          403: problemResponse(
            'The secret-token header is missing or wrong (`forbidden`); nothing happened.',
          ),
          404: problemResponse('No webhook has this address (`not_found`).'),
          429: problemResponse(
            'Too many refused requests (wrong address or secret-token header) from this address (`rate_limited`, Retry-After); a request with the right address and header is never limited.',
          ),
        },
      },
    },
    async (request) => {
      const checked = await check(request)
      if (typeof checked === 'string') await checkRate?.(request, { refused: true })
      if (checked === 'not_found') throw new AppError('not_found', 'No webhook has this address.', 404)
      if (checked === 'forbidden')
        throw new AppError('forbidden', 'The X-Telegram-Bot-Api-Secret-Token header does not match.', 403)
      const update = request.body as unknown as TelegramUpdate
      if (!Number.isSafeInteger(update.update_id) || update.update_id < 0)
        throw new AppError(
          'validation_failed',
          'The body is not a Telegram update: `update_id` is missing.',
          400,
        )
      await telegram.handleUpdate(checked.tenantId, request.params.id, update)
      return { ok: true as const }
    },
  )
}
