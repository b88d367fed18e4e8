import { createHash } from 'node:crypto'
import type { PushSubscribed, PushSubscriptionCreate } from '@openorch/contracts'
import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import { AppError, notFound } from '../../platform/errors.ts'
import { newId } from '../../platform/ids.ts'
import type { Channels } from '../channels.service.ts'
import {
  deleteSubscription,
  findSubscription,
  findSubscriptionsByEndpoint,
  insertSubscription,
  updateSubscriptionChannel,
} from './push.store.ts'
import { withPushTables } from './push.table.ts'

// Browsers subscribed to notifications. Each is a `push` channel of the workspace holding the
// subscription as its secret config (the endpoint is a capability URL), so bots link to it like to any
// channel; the subscription row finds that channel again by the endpoint's hash.

/** Who subscribes: the person (or, for a service key, the key). */
export interface PushCaller {
  tenantId: string
  ownerId: string
}

export const endpointHashOf = (endpoint: string) => createHash('sha256').update(endpoint).digest('hex')

/** "Chrome on Linux" from a User-Agent header; "a browser" when it says nothing we know. */
export function browserOf(userAgent: string | undefined): string {
  const ua = userAgent ?? ''
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /OPR\//.test(ua)
      ? 'Opera'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /Chrom(e|ium)\//.test(ua)
          ? 'Chrome'
          : /Safari\//.test(ua)
            ? 'Safari'
            : undefined
  const system = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad|iOS/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : undefined
  if (browser && system) return `${browser} on ${system}`
  return browser ?? system ?? 'a browser'
}

export function createPushService(deps: {
  database: Db
  clock: Clock
  /** The channels' service; a thunk, as the push adapter is made before the channels domain. */
  channels(): Channels
}) {
  const db = withPushTables(deps.database.db)

  async function channelExists(tenantId: string, channelId: string): Promise<boolean> {
    try {
      await deps.channels().get(tenantId, channelId)
      return true
    } catch (error) {
      if (error instanceof AppError && error.code === 'channel_not_found') return false
      throw error
    }
  }

  async function removeChannel(tenantId: string, channelId: string): Promise<void> {
    try {
      await deps.channels().remove(tenantId, channelId)
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'channel_not_found')) throw error
    }
  }

  /** A new push channel named after the browser; "(2)", "(3)", … when the name is taken. */
  async function createChannel(tenantId: string, label: string, config: Record<string, unknown>) {
    const base = `Browser push – ${label}`
    for (let n = 1; ; n++) {
      try {
        return await deps
          .channels()
          .create(tenantId, { type: 'push', name: n === 1 ? base : `${base} (${n})`, config })
      } catch (error) {
        if (!(error instanceof AppError && error.code === 'channel_exists') || n >= 50) throw error
      }
    }
  }

  return {
    /** Subscribes the caller's browser: its push channel, made now or found again (keys refreshed). */
    async subscribe(
      caller: PushCaller,
      subscription: PushSubscriptionCreate,
      userAgent: string | undefined,
    ): Promise<PushSubscribed> {
      const config = { endpoint: subscription.endpoint, keys: subscription.keys }
      const hash = endpointHashOf(subscription.endpoint)
      const label = browserOf(userAgent)
      const existing = await findSubscription(db, caller.tenantId, hash)
      if (existing && (await channelExists(caller.tenantId, existing.channel_id))) {
        // The same browser again (a reload, a new sign-in): the keys may be new, the channel stays.
        const channel = await deps.channels().update(caller.tenantId, existing.channel_id, { config })
        if (existing.owner_id !== caller.ownerId)
          await updateSubscriptionChannel(db, existing.id, {
            channel_id: existing.channel_id,
            owner_id: caller.ownerId,
            user_agent: existing.user_agent,
          })
        return { channelId: channel.id, channelName: channel.name, status: 'existing' }
      }
      const channel = await createChannel(caller.tenantId, label, config)
      if (existing) {
        // Its channel was deleted on the Channels page: the browser gets a new one.
        await updateSubscriptionChannel(db, existing.id, {
          channel_id: channel.id,
          owner_id: caller.ownerId,
          user_agent: label,
        })
        return { channelId: channel.id, channelName: channel.name, status: 'created' }
      }
      try {
        await insertSubscription(db, {
          id: newId(),
          tenant_id: caller.tenantId,
          owner_id: caller.ownerId,
          channel_id: channel.id,
          endpoint_hash: hash,
          user_agent: label,
          created_at: deps.clock.now(),
        })
      } catch (error) {
        // The same browser subscribed twice at once: the other request's channel stays.
        const winner = await findSubscription(db, caller.tenantId, hash)
        if (!winner) throw error
        await removeChannel(caller.tenantId, channel.id)
        const kept = await deps.channels().get(caller.tenantId, winner.channel_id)
        return { channelId: kept.id, channelName: kept.name, status: 'existing' }
      }
      return { channelId: channel.id, channelName: channel.name, status: 'created' }
    },

    /** The caller's browser unsubscribed: its channel goes (and the bots' links to it). */
    async unsubscribe(caller: PushCaller, endpoint: string): Promise<void> {
      const row = await findSubscription(db, caller.tenantId, endpointHashOf(endpoint))
      if (!row || row.owner_id !== caller.ownerId)
        throw notFound('push_subscription_not_found', 'This browser is not subscribed to notifications.')
      await removeChannel(caller.tenantId, row.channel_id)
      await deleteSubscription(db, row.id)
    },

    /** The push service said the subscription is gone: forget it in every workspace. */
    async forget(endpoint: string): Promise<void> {
      for (const row of await findSubscriptionsByEndpoint(db, endpointHashOf(endpoint))) {
        await removeChannel(row.tenant_id, row.channel_id)
        await deleteSubscription(db, row.id)
      }
    },
  }
}

export type PushService = ReturnType<typeof createPushService>
