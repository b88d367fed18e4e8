import {
  botHookCreatedSchema,
  botHookCreateSchema,
  botHookListSchema,
  hookAcceptedSchema,
  problemResponse,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { AppError } from '../platform/errors.ts'
import { requireRole } from '../platform/http/caller.ts'
import type { BotService } from './bot.service.ts'
import type { BotHooks } from './bot-hooks.ts'

// Inbound webhooks (issue 14): managed by editors on the bot (`/bots/{id}/hooks`), called by anyone
// holding the URL (`POST /hooks/{token}`, no API key: the token is the credential, redacted from logs).

/** The largest body an inbound webhook takes (JSON or text). */
export const hookBodyLimitBytes = 256 * 1024

const editor = requireRole('editor')
const idParams = z.object({ id: z.string().min(1).max(200) })

export const botHookRoutes: FastifyPluginAsyncZod<{ bots: BotService; hooks: BotHooks }> = async (
  app,
  { bots, hooks },
) => {
  app.post(
    '/bots/:id/hooks',
    {
      preValidation: editor,
      schema: {
        tags: ['bots'],
        summary: 'Create an inbound webhook',
        description:
          'A URL whose POST (JSON or text, up to 256 KB) starts a run of this bot with the body as its input. The URL and token are shown this once. Needs editor.',
        params: idParams,
        body: botHookCreateSchema,
        response: {
          201: botHookCreatedSchema,
          400: problemResponse('Invalid body.'),
          401: problemResponse('No valid API key.'),
          403: problemResponse('The API key is below the editor role (`forbidden`).'),
          404: problemResponse('No such bot (`bot_not_found`).'),
        },
      },
    },
    async (request, reply) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const { hook, token } = await hooks.create(request.auth.tenantId, bot.id, request.body.expiresInSeconds)
      const url = `${request.protocol}://${request.host}/api/v1/hooks/${token}`
      return reply.code(201).send({ ...hook, url, token })
    },
  )
  app.get(
    '/bots/:id/hooks',
    {
      schema: {
        tags: ['bots'],
        summary: 'List a bot’s inbound webhooks',
        params: idParams,
        response: {
          200: botHookListSchema,
          401: problemResponse('No valid API key.'),
          404: problemResponse('No such bot (`bot_not_found`).'),
        },
      },
    },
    async (request) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      return { items: await hooks.list(request.auth.tenantId, bot.id) }
    },
  )
  app.delete(
    '/bots/:id/hooks/:hookId',
    {
      preValidation: editor,
      schema: {
        tags: ['bots'],
        summary: 'Revoke an inbound webhook',
        description: 'Its URL answers 404 from now on. Needs editor.',
        params: z.object({ id: z.string().min(1).max(200), hookId: z.string().min(1).max(200) }),
        response: {
          204: z.null().describe('Revoked.'),
          401: problemResponse('No valid API key.'),
          403: problemResponse('The API key is below the editor role (`forbidden`).'),
          404: problemResponse('No such bot or active webhook (`hook_not_found`).'),
        },
      },
    },
    async (request, reply) => {
      await hooks.revoke(request.auth.tenantId, request.params.id, request.params.hookId)
      return reply.code(204).send(null)
    },
  )
}

/** The public side: `POST /hooks/{token}`. */
export const inboundHookRoutes: FastifyPluginAsyncZod<{ bots: BotService; hooks: BotHooks }> = async (
  app,
  { bots, hooks },
) => {
  // Text as well as JSON, in this route's scope only.
  app.addContentTypeParser(
    /^text\//,
    { parseAs: 'string', bodyLimit: hookBodyLimitBytes },
    (_request, body, done) => {
      const text = body.toString()
      if (text.includes('\u0000'))
        done(
          new AppError(
            'validation_failed',
            'The body contains the NUL character, which cannot be stored; remove it.',
            400,
          ),
        )
      else done(null, text)
    },
  )
  app.post(
    '/hooks/:token',
    {
      bodyLimit: hookBodyLimitBytes,
      schema: {
        tags: ['bots'],
        summary: 'Start a run through an inbound webhook',
        description:
          'No API key: the token in the URL is the credential. The body (JSON, or text/*, up to 256 KB) becomes the run’s input; the same `Idempotency-Key` header within 24 h returns the first run. At most 60 requests a minute per webhook. While the workspace is disabled nothing starts (403).',
        security: [],
        params: z.object({ token: z.string().min(1).max(300) }),
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).passthrough(),
        response: {
          202: hookAcceptedSchema,
          400: problemResponse('A body that is not JSON or text, or holds a NUL character.'),
          404: problemResponse(
            'No inbound webhook has this URL (`hook_not_found`): wrong, revoked or expired.',
          ),
          403: problemResponse(
            'The webhook’s workspace is disabled (`workspace_disabled`): nothing was started. Answered only for a live token; a wrong one is 404.',
          ),
          413: problemResponse('The body is larger than 256 KB.'),
          429: problemResponse('Too many requests for this webhook (`rate_limited`, Retry-After).'),
          503: problemResponse('The queue is full (`queue_full`): try again later.'),
        },
      },
    },
    async (request, reply) => {
      const hook = await hooks.open(request.params.token)
      const result = await bots.runNow(hook.tenantId, hook.botId, {
        trigger: 'webhook',
        input: request.body ?? null,
        idempotencyKey: request.headers['idempotency-key']
          ? `hook:${hook.id}:${request.headers['idempotency-key']}`
          : undefined,
      })
      if (result.status === 'dropped')
        throw new AppError('queue_full', `The run was not started: ${result.reason}. Try again later.`, 503, {
          headers: { 'retry-after': '30' },
        })
      return reply.code(202).send({ runId: result.run.id, status: result.status })
    },
  )
}
