// Web Push's public surface (issue 14): the `push` channel's adapter, the installation's VAPID keys
// and the browsers' subscriptions. The adapter is made before the channels domain (it is one of its
// adapters), so the subscriptions reach the channels' service through a thunk.

import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import type { Vault } from '../../platform/crypto.ts'
import { createPushAdapter } from '../adapters/push.ts'
import type { ChannelAdapter } from '../channel.types.ts'
import type { Channels } from '../channels.service.ts'
import { createPushService } from './push.service.ts'
import { createVapidKeys } from './vapid.ts'

export { pushRoutes } from './push.routes.ts'

export type Push = ReturnType<typeof createPush>

/** Who the push services may contact about our traffic: the installation's https URL, or a mailto. */
export function vapidSubjectOf(publicUrl: string | undefined): string {
  if (publicUrl) {
    const url = new URL(publicUrl)
    if (url.protocol === 'https:' && url.hostname !== 'localhost') return url.origin
  }
  return 'mailto:openorchestrator@localhost'
}

export function createPush(deps: {
  database: Db
  clock: Clock
  vault: Vault
  channels(): Channels
  /** The dashboard's address (`https://orch.example.com`), the VAPID subject when it is https. */
  publicUrl?: string | undefined
}) {
  const vapid = createVapidKeys(deps)
  const service = createPushService(deps)
  const adapter = createPushAdapter({
    vapidKeys: () => vapid.get(),
    subject: vapidSubjectOf(deps.publicUrl),
    onGone: (endpoint) => service.forget(endpoint),
  }) as unknown as ChannelAdapter
  return { vapid, service, adapter }
}
