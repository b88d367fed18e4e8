import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import { toError } from '../../platform/errors.ts'
import type { Logger } from '../../platform/logger.ts'
import { callTelegram } from '../adapters/telegram.ts'
import { withTelegramTables } from './telegram.table.ts'
import type { TelegramInboundService, TelegramUpdate } from './telegram-inbound.ts'

// Long polling for Telegram channels without a webhook, in exactly one process of the cluster: every
// process looks for polling channels now and then, and polls a channel only while it holds the
// channel's lease (a row's owner and expiry, taken when free or lapsed, renewed before each
// getUpdates). A process that dies stops renewing; another takes over once the lease lapses. Even
// when two poll for a moment (a pause longer than the lease), handleUpdate handles each update once.
// A disabled workspace's channels are not polled: its updates wait at Telegram (up to 24 hours)
// until it is enabled again.

export interface TelegramPollerOptions {
  database: Db
  clock: Clock
  log: Logger
  inbound: TelegramInboundService
  /** How long a lease lasts without renewal (default 90 s; longer than one long poll). */
  leaseMs?: number
  /** How often polling channels are looked for (default 15 s). */
  scanIntervalMs?: number
  /** getUpdates' long-poll timeout in seconds (default 25). */
  longPollSeconds?: number
}

export class TelegramPoller {
  /** This process, as the lease names it. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  private readonly leaseMs: number
  private readonly scanIntervalMs: number
  private readonly longPollSeconds: number
  private readonly loops = new Map<string, Promise<void>>()
  private readonly abort = new AbortController()
  private timer: NodeJS.Timeout | undefined
  private scanning: Promise<void> | undefined
  private lastPrune = 0
  private readonly options: TelegramPollerOptions

  constructor(options: TelegramPollerOptions) {
    this.options = options
    this.leaseMs = options.leaseMs ?? 90_000
    this.scanIntervalMs = options.scanIntervalMs ?? 15_000
    this.longPollSeconds = options.longPollSeconds ?? 25
    if (this.longPollSeconds * 1000 + 5_000 > this.leaseMs)
      throw new Error('The Telegram polling lease must outlast a long poll by 5 s at least.')
  }

  start(): void {
    if (this.timer || this.abort.signal.aborted) return
    this.timer = setInterval(() => void this.scan(), this.scanIntervalMs)
    this.timer.unref()
    void this.scan()
  }

  /** Stops polling, waits for the loops and gives the leases back, so another process takes over at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.abort.abort(new Error('the poller stops'))
    await this.scanning
    await Promise.allSettled(this.loops.values())
    await withTelegramTables(this.options.database.db)
      .updateTable('telegram_inbound')
      .set({ poll_owner: null, poll_lease_until: null })
      .where('poll_owner', '=', this.owner)
      .execute()
      .catch((error) =>
        this.options.log.warn({ err: toError(error) }, 'telegram: giving back the polling leases failed'),
      )
  }

  /** One look for polling channels this process may take; resolves when the look is done (not the polls). */
  scan(): Promise<void> {
    this.scanning ??= (async () => {
      try {
        for (const channel of await this.options.inbound.pollingChannels()) {
          if (this.abort.signal.aborted) return
          if (this.loops.has(channel.channelId)) continue
          if (!(await this.takeLease(channel.channelId))) continue
          const loop = this.poll(channel.channelId, channel.tenantId).finally(() =>
            this.loops.delete(channel.channelId),
          )
          this.loops.set(channel.channelId, loop)
        }
        const now = this.options.clock.now()
        if (now - this.lastPrune > 3_600_000) {
          this.lastPrune = now
          await this.options.inbound.prune()
        }
      } catch (error) {
        this.options.log.warn({ err: toError(error) }, 'telegram: looking for channels to poll failed')
      } finally {
        this.scanning = undefined
      }
    })()
    return this.scanning
  }

  /** Gives the channel's lease back, so any process may take it at once when it is wanted again. */
  private async giveBack(channelId: string): Promise<void> {
    await withTelegramTables(this.options.database.db)
      .updateTable('telegram_inbound')
      .set({ poll_owner: null, poll_lease_until: null })
      .where('channel_id', '=', channelId)
      .where('poll_owner', '=', this.owner)
      .execute()
  }

  /** Takes or renews the channel's lease: free, lapsed or ours already. False: another process polls it. */
  private async takeLease(channelId: string): Promise<boolean> {
    const now = this.options.clock.now()
    const taken = await withTelegramTables(this.options.database.db)
      .updateTable('telegram_inbound')
      .set({ poll_owner: this.owner, poll_lease_until: now + this.leaseMs })
      .where('channel_id', '=', channelId)
      .where('mode', '=', 'polling')
      .where((eb) =>
        eb.or([
          eb('poll_owner', 'is', null),
          eb('poll_owner', '=', this.owner),
          eb('poll_lease_until', '<', now),
        ]),
      )
      .executeTakeFirst()
    return Number(taken.numUpdatedRows) > 0
  }

  private async poll(channelId: string, tenantId: string): Promise<void> {
    const log = this.options.log.child({ component: 'telegram', channelId })
    const signal = this.abort.signal
    let failures = 0
    log.info({ owner: this.owner }, 'telegram: polling for updates')
    while (!signal.aborted) {
      try {
        // Renewed before every call: lost (another process took a lapsed lease, or the mode changed), this loop ends.
        if (!(await this.takeLease(channelId))) break
        if (await this.options.inbound.isWorkspaceDisabled(tenantId)) {
          log.info('telegram: the workspace is disabled; polling stops until it is enabled')
          await this.giveBack(channelId)
          break
        }
        const row = await withTelegramTables(this.options.database.db)
          .selectFrom('telegram_inbound')
          .select('last_update_id')
          .where('channel_id', '=', channelId)
          .executeTakeFirstOrThrow()
        const channel = await this.options.inbound.telegramChannel(tenantId, channelId)
        const callSignal = AbortSignal.any([signal, AbortSignal.timeout((this.longPollSeconds + 10) * 1000)])
        // The offset confirms every update up to the last one handled (stored with its effects).
        const updates = (await callTelegram(
          this.options.inbound.apiOf(channel.config, callSignal),
          'getUpdates',
          {
            offset: row.last_update_id === null ? 0 : Number(row.last_update_id) + 1,
            timeout: this.longPollSeconds,
            limit: 50,
            allowed_updates: ['message', 'callback_query'],
          },
        )) as TelegramUpdate[]
        for (const update of Array.isArray(updates) ? updates : []) {
          if (signal.aborted) break
          await this.options.inbound.handleUpdate(tenantId, channelId, update)
        }
        failures = 0
      } catch (error) {
        if (signal.aborted) break
        failures++
        const delayMs = Math.min(60_000, 1_000 * 2 ** Math.min(failures, 6))
        log.warn({ err: toError(error), failures, delayMs }, 'telegram: polling failed; trying again')
        await sleep(delayMs, undefined, { signal }).catch(() => {})
      }
    }
  }
}
