import {
  problemResponse,
  pushSubscribedSchema,
  pushSubscriptionCreateSchema,
  pushSubscriptionDeleteSchema,
  vapidPublicKeySchema,
} from '@openorch/contracts'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { PushCaller, PushService } from './push.service.ts'
import type { VapidKeyStore } from './vapid.ts'

// /api/v1/push: the installation's VAPID public key and a browser's subscription. Any signed-in role:
// a person (a viewer too) subscribes their own browser; bots are linked to it by editors as to any channel.

const readErrors = { 401: problemResponse('No valid API key or session.') }

const callerOf = (request: FastifyRequest): PushCaller => ({
  tenantId: request.auth.tenantId,
  ownerId: request.auth.userId ?? `key:${request.auth.keyId}`,
})

export const pushRoutes: FastifyPluginAsyncZod<{ push: PushService; vapid: VapidKeyStore }> = async (
  app,
  { push, vapid },
) => {
  app.get(
    '/push/vapid-public-key',
    {
      schema: {
        tags: ['channels'],
        summary: 'The VAPID public key browsers subscribe with',
        description: 'Made once per installation at first need; the same for every workspace.',
        response: { 200: vapidPublicKeySchema, ...readErrors },
      },
    },
    async () => ({ publicKey: (await vapid.get()).publicKey }),
  )
  app.post(
    '/push/subscriptions',
    {
      schema: {
        tags: ['channels'],
        summary: 'Subscribe this browser to notifications',
        description:
          "Takes the browser's PushSubscription (`subscription.toJSON()`) and answers the `push` channel that delivers to it: made now (201) or, for a browser subscribed already, found again with its keys refreshed (200). Link bots to that channel to be notified. The endpoint must pass the egress rules (400 `egress_refused`).",
        body: pushSubscriptionCreateSchema,
        response: {
          200: pushSubscribedSchema,
          201: pushSubscribedSchema,
          ...readErrors,
          400: problemResponse(
            'Not a push subscription (each field named in `errors`), or a refused address.',
          ),
        },
      },
    },
    async (request, reply) => {
      const subscribed = await push.subscribe(callerOf(request), request.body, request.headers['user-agent'])
      return reply.code(subscribed.status === 'created' ? 201 : 200).send(subscribed)
    },
  )
  app.delete(
    '/push/subscriptions',
    {
      schema: {
        tags: ['channels'],
        summary: 'Unsubscribe this browser',
        description: "Removes the browser's `push` channel (and the bots' links to it).",
        body: pushSubscriptionDeleteSchema,
        response: {
          204: z.null().describe('Unsubscribed.'),
          ...readErrors,
          404: problemResponse(
            'You have no subscription with this endpoint (`push_subscription_not_found`).',
          ),
        },
      },
    },
    async (request, reply) => {
      await push.unsubscribe(callerOf(request), request.body.endpoint)
      return reply.code(204).send(null)
    },
  )
}
