import {
  botChannelLinkListSchema,
  botChannelLinkPutSchema,
  botChannelLinkSchema,
  channelCreatedSchema,
  channelCreateSchema,
  channelEventsSchema,
  channelListSchema,
  channelQuietHoursPutSchema,
  channelSchema,
  channelTestResultSchema,
  channelUpdateSchema,
  type Notification,
  notificationListQuerySchema,
  notificationPageSchema,
  notificationSettingsSchema,
  problemResponse,
  telegramChatListSchema,
  telegramDiscoverSchema,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Clock } from '../platform/clock.ts'
import type { EgressPolicy } from '../platform/egress/egress.ts'
import { AppError } from '../platform/errors.ts'
import { requireRole } from '../platform/http/caller.ts'
import type { Run, RunService } from '../runs/runs.ts'
import { discoverChats } from './adapters/telegram.ts'
import { ChannelError } from './channel.types.ts'
import type { Channels } from './channels.service.ts'
import { type NotificationInput, testMessage } from './notification-message.ts'
import { digestEvent, notificationRunKind } from './notify.consumer.ts'

// /api/v1/channels, the bots' channel rules and the notification history. Editors manage channels;
// viewers read them, never their secrets.

const idParams = z.object({ id: z.string().min(1).max(200) })
const linkParams = z.object({ id: z.string().min(1).max(200), channelId: z.string().min(1).max(200) })
const editor = requireRole('editor')
const readErrors = { 401: problemResponse('No valid API key.') }
const oneErrors = {
  ...readErrors,
  404: problemResponse('No such channel in your workspace (`channel_not_found`).'),
}
const changeErrors = {
  ...oneErrors,
  400: problemResponse('Invalid settings (each named in `errors`), or a refused address (`egress_refused`).'),
  403: problemResponse('The API key is below the editor role (`forbidden`).'),
  409: problemResponse('Another channel has this name (`channel_exists`).'),
}

const notificationStatusOf = (run: Run, now: number): Notification['status'] => {
  if (run.status === 'completed') return 'sent'
  if (run.status === 'failed' || run.status === 'timeout') return run.deadLettered ? 'dead' : 'failed'
  // A digest waiting for its quiet window to end holds what arrived meanwhile.
  if (
    run.status === 'waiting' ||
    (run.status === 'pending' && run.runAt > now && (run.input as NotificationInput).event === digestEvent)
  )
    return 'held'
  return 'pending'
}

export const channelRoutes: FastifyPluginAsyncZod<{
  channels: Channels
  runs: RunService
  clock: Clock
  egress: EgressPolicy
}> = async (app, { channels, runs, clock, egress }) => {
  app.get(
    '/channels',
    {
      schema: {
        tags: ['channels'],
        summary: 'List channels',
        response: { 200: channelListSchema, ...readErrors },
      },
    },
    async (request) => ({ items: await channels.list(request.auth.tenantId) }),
  )
  app.post(
    '/channels',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Create a channel',
        description:
          'Checks the settings (an address the egress rules refuse is 400 `egress_refused`) and keeps the secrets encrypted; they are never returned. A webhook answers its signing secret this once (`secret`). Needs editor.',
        body: channelCreateSchema,
        response: { 201: channelCreatedSchema, ...changeErrors },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await channels.create(request.auth.tenantId, request.body)),
  )
  app.get(
    '/channels/:id',
    {
      schema: {
        tags: ['channels'],
        summary: 'Get a channel',
        params: idParams,
        response: { 200: channelSchema, ...oneErrors },
      },
    },
    async (request) => channels.get(request.auth.tenantId, request.params.id),
  )
  app.patch(
    '/channels/:id',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Change a channel',
        description:
          'A secret left out of `config` keeps the stored one. New settings reset the status to `pending`.',
        params: idParams,
        body: channelUpdateSchema,
        response: { 200: channelSchema, ...changeErrors },
      },
    },
    async (request) => channels.update(request.auth.tenantId, request.params.id, request.body),
  )
  app.delete(
    '/channels/:id',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Remove a channel',
        description: 'Bots stop notifying it; deliveries still queued for it end without sending.',
        params: idParams,
        response: { 204: z.null().describe('Removed.'), ...oneErrors, 403: changeErrors[403] },
      },
    },
    async (request, reply) => {
      await channels.remove(request.auth.tenantId, request.params.id)
      return reply.code(204).send(null)
    },
  )
  app.post(
    '/channels/:id/test',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Send a test message',
        description:
          'Sends now and answers whether it went through, or the exact reason why not (the channel’s status follows).',
        params: idParams,
        response: { 200: channelTestResultSchema, ...oneErrors, 403: changeErrors[403] },
      },
    },
    async (request) => {
      const abort = new AbortController()
      const timer = setTimeout(
        () => abort.abort(new Error('The test message took longer than 30 s.')),
        30_000,
      )
      try {
        return await channels.test(
          request.auth.tenantId,
          request.params.id,
          testMessage(clock.now()),
          abort.signal,
        )
      } finally {
        clearTimeout(timer)
      }
    },
  )
  app.put(
    '/channels/:id/events',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Choose the system events a channel gets',
        description:
          'Workspace-wide events (a bot paused, a budget at 80 %, a dead-lettered run, an approval waiting) sent to this channel.',
        params: idParams,
        body: channelEventsSchema,
        response: { 200: channelSchema, ...changeErrors },
      },
    },
    async (request) => channels.setEvents(request.auth.tenantId, request.params.id, request.body.types),
  )

  app.put(
    '/channels/:id/quiet-hours',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Set a channel’s quiet hours',
        description:
          'Notifications arriving in the window are held and sent as one digest when it ends; urgent system events are sent at once. Null: the workspace’s quiet hours apply.',
        params: idParams,
        body: channelQuietHoursPutSchema,
        response: { 200: channelSchema, ...changeErrors },
      },
    },
    async (request) =>
      channels.setQuietHours(request.auth.tenantId, request.params.id, request.body.quietHours),
  )
  app.get(
    '/notification-settings',
    {
      schema: {
        tags: ['channels'],
        summary: 'Get the workspace’s quiet hours',
        response: { 200: notificationSettingsSchema, ...readErrors },
      },
    },
    async (request) => channels.settings(request.auth.tenantId),
  )
  app.put(
    '/notification-settings',
    {
      preValidation: requireRole('admin'),
      schema: {
        tags: ['channels'],
        summary: 'Set the workspace’s quiet hours',
        description:
          'For every channel without quiet hours of its own; `urgentEvents` are sent at once anyway. Needs admin.',
        body: notificationSettingsSchema,
        response: {
          200: notificationSettingsSchema,
          ...readErrors,
          400: changeErrors[400],
          403: problemResponse('The API key is below the admin role (`forbidden`).'),
        },
      },
    },
    async (request) => channels.putSettings(request.auth.tenantId, request.body),
  )

  app.post(
    '/channels/telegram/discover-chats',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Find the chats that wrote to a Telegram bot',
        description:
          'For the set-up: asks Telegram (`getUpdates`, without consuming updates) which chats sent the bot a message. Send the bot a message first. The token is not stored. Needs editor.',
        body: telegramDiscoverSchema,
        response: {
          200: telegramChatListSchema,
          ...readErrors,
          400: problemResponse('Invalid body, or a Bot API address the egress rules refuse.'),
          403: changeErrors[403],
          422: problemResponse(
            'Telegram refused the token (`telegram_unauthorized`) or could not be reached.',
          ),
        },
      },
    },
    async (request) => {
      try {
        const items = await discoverChats(request.body.botToken, {
          ...(request.body.apiBaseUrl ? { apiBaseUrl: request.body.apiBaseUrl } : {}),
          egress,
          signal: AbortSignal.timeout(15_000),
        })
        return { items }
      } catch (error) {
        if (error instanceof ChannelError) throw new AppError(error.code, error.message, 422)
        throw error
      }
    },
  )

  app.get(
    '/bots/:id/channels',
    {
      schema: {
        tags: ['channels'],
        summary: 'List the channels a bot notifies',
        params: idParams,
        response: {
          200: botChannelLinkListSchema,
          ...readErrors,
          404: problemResponse('No such bot (`bot_not_found`).'),
        },
      },
    },
    async (request) => ({ items: await channels.links(request.auth.tenantId, request.params.id) }),
  )
  app.put(
    '/bots/:id/channels/:channelId',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Make a bot notify a channel',
        description:
          '`rule` says when (`always`, `on_new`, `on_results`, `on_error`, `never`), `format` how much. Needs editor.',
        params: linkParams,
        body: botChannelLinkPutSchema,
        response: {
          200: botChannelLinkSchema,
          ...changeErrors,
          404: problemResponse('No such bot or channel.'),
        },
      },
    },
    async (request) =>
      channels.link(
        request.auth.tenantId,
        request.params.id,
        request.params.channelId,
        request.body.rule,
        request.body.format,
      ),
  )
  app.delete(
    '/bots/:id/channels/:channelId',
    {
      preValidation: editor,
      schema: {
        tags: ['channels'],
        summary: 'Stop a bot notifying a channel',
        params: linkParams,
        response: {
          204: z.null().describe('Unlinked.'),
          ...readErrors,
          403: changeErrors[403],
          404: problemResponse('The bot does not notify this channel (`channel_link_not_found`).'),
        },
      },
    },
    async (request, reply) => {
      await channels.unlink(request.auth.tenantId, request.params.id, request.params.channelId)
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/notifications',
    {
      schema: {
        tags: ['channels'],
        summary: 'List deliveries',
        description:
          'Every notification is a run of kind `notification`: sent, failed (retries left), dead (retry it with POST /runs/{id}/retry), held or pending, with its attempts and last error. Newest first.',
        querystring: notificationListQuerySchema,
        response: { 200: notificationPageSchema, ...readErrors, 400: problemResponse('Invalid query.') },
      },
    },
    async (request) => {
      const { channelId, status, limit, cursor } = request.query
      // Held (a digest before its window ends) and pending are both pending runs.
      const runStatus =
        status === 'sent' ? 'completed' : status === 'held' || status === 'pending' ? 'pending' : undefined
      // Failed and dead are told apart by the dead letter; read a wider page and filter.
      const page = await runs.list(request.auth.tenantId, {
        kind: notificationRunKind,
        subjectId: channelId,
        status: runStatus ?? (status ? 'failed' : undefined),
        deadLettered: status === 'dead' ? true : undefined,
        before: cursor,
        limit,
      })
      const items = page.items
        .filter((run) => status === undefined || notificationStatusOf(run, clock.now()) === status)
        .map((run) => {
          const input = run.input as NotificationInput
          return {
            id: run.id,
            channelId: input.channelId,
            event: input.event,
            eventId: input.eventId,
            runId:
              input.reportedRunId ?? (typeof input.payload?.runId === 'string' ? input.payload.runId : null),
            status: notificationStatusOf(run, clock.now()),
            attempts: run.attempt,
            lastError: run.error ? { code: run.error.code, message: run.error.message } : null,
            createdAt: new Date(run.createdAt).toISOString(),
            finishedAt: run.finishedAt === null ? null : new Date(run.finishedAt).toISOString(),
          }
        })
      return { items, nextCursor: page.nextCursor }
    },
  )
}
