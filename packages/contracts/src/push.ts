import { z } from 'zod'

// Web Push to the dashboard (issue 14): the installation's VAPID public key, and a browser's
// subscription, which becomes a `push` channel of the workspace.

export const vapidPublicKeySchema = z
  .object({
    publicKey: z
      .string()
      .describe(
        "The installation's VAPID public key (base64url): PushManager.subscribe's applicationServerKey.",
      ),
  })
  .meta({ id: 'VapidPublicKey', description: 'What a browser subscribes to push notifications with.' })

export type VapidPublicKey = z.infer<typeof vapidPublicKeySchema>

/**
 * A browser's PushSubscription as `subscription.toJSON()` gives it.
 *
 * @example
 * const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey })
 * await fetch('/api/v1/push/subscriptions', { method: 'POST', body: JSON.stringify(subscription.toJSON()) })
 */
export const pushSubscriptionCreateSchema = z
  .object({
    endpoint: z.string().max(2_000).describe('The push service URL for this browser; a secret.'),
    expirationTime: z.number().nullable().optional().describe('Ignored (browsers send null).'),
    keys: z.object({
      p256dh: z.string().max(200).describe("The browser's P-256 public key, base64url."),
      auth: z.string().max(100).describe("The browser's 16-byte auth secret, base64url."),
    }),
  })
  .meta({ id: 'PushSubscriptionCreate', description: 'A browser subscribing to notifications.' })

export type PushSubscriptionCreate = z.infer<typeof pushSubscriptionCreateSchema>

export const pushSubscriptionDeleteSchema = z
  .object({ endpoint: z.string().max(2_000).describe('The endpoint of the subscription to forget.') })
  .meta({ id: 'PushSubscriptionDelete', description: 'A browser unsubscribing.' })

export const pushSubscribedSchema = z
  .object({
    channelId: z.string().describe('The `push` channel that delivers to this browser; link bots to it.'),
    channelName: z.string(),
    status: z.enum(['created', 'existing']).describe('`existing`: this browser was subscribed already.'),
  })
  .meta({ id: 'PushSubscribed', description: "The browser's push channel." })

export type PushSubscribed = z.infer<typeof pushSubscribedSchema>
