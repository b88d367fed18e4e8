import { randomBytes } from 'node:crypto'
import type {
  BotChannelLink,
  Channel,
  ChannelCreate,
  ChannelUpdate,
  NotificationSettings,
  QuietHours,
} from '@openorch/contracts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import type { Vault } from '../platform/crypto.ts'
import { writeTransaction } from '../platform/db/transaction.ts'
import type { EgressPolicy } from '../platform/egress/egress.ts'
import { AppError, notFound } from '../platform/errors.ts'
import { newId } from '../platform/ids.ts'
import { secretScrubber } from '../platform/secret-scrubber.ts'
import { maskApiKey } from '../providers/key-hint.ts'
import { isValidTimeZone } from '../schedules/schedule-spec.ts'
import { callTelegram, telegramApiBaseUrl } from './adapters/telegram.ts'
import type { ChannelRow } from './channel.table.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage, type NotifiedBot } from './channel.types.ts'
import { forgetTelegramBot } from './telegram/telegram.store.ts'

// A workspace's channels: settings checked by their adapter and kept with their secrets in the vault
// (never returned, masked as hints), status from the deliveries, and which bots notify where.

export type Channels = ReturnType<typeof createChannelService>

/** A channel ready to send through: its adapter and its config with the secrets decrypted. */
export interface ResolvedChannel {
  row: ChannelRow
  adapter: ChannelAdapter
  config: Record<string, unknown>
}

/** Config fields that say where a channel sends: changing one needs the stored secrets sent again. */
const destinationFields = [
  'url',
  'webhookUrl',
  'apiBaseUrl',
  'host',
  'port',
  'security',
  'endpoint',
  'servers',
]
/** Secrets we made ourselves (a webhook's signing secret): they stay with the channel wherever it sends. */
const generatedSecrets = new Set(['signingSecret'])

/** How a stored secret is shown: a URL by its host, a password only as set, a key masked. */
function hintOf(key: string, value: unknown): string {
  if (typeof value !== 'string') return `${Object.keys(value ?? {}).length} value(s)`
  if (/pass/i.test(key)) return '••••••••'
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const url = new URL(value)
      return `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ''}/…`
    } catch {
      return maskApiKey(value)
    }
  }
  return maskApiKey(value)
}

const iso = (ms: number | string | null) => (ms === null ? null : new Date(Number(ms)).toISOString())

/** The Telegram bot a config talks to: its token and the Bot API it goes through. */
function telegramBotOf(config: Record<string, unknown>): string {
  const base = typeof config.apiBaseUrl === 'string' ? config.apiBaseUrl : telegramApiBaseUrl
  return JSON.stringify([String(config.botToken ?? ''), base.replace(/\/+$/, '')])
}

export function createChannelService(deps: {
  database: Db
  clock: Clock
  vault: Vault
  egress: EgressPolicy
  adapters: readonly ChannelAdapter[]
  /** The bot of a link, if it is in the workspace (the bots domain answers). */
  botOf(tenantId: string, botId: string): Promise<NotifiedBot | undefined>
}) {
  const db = deps.database.db
  const byType = new Map(deps.adapters.map((adapter) => [adapter.type, adapter]))

  function adapterOf(type: string): ChannelAdapter {
    const adapter = byType.get(type)
    if (!adapter)
      throw new AppError(
        'validation_failed',
        `Channels of type "${type}" are not available on this installation (available: ${[...byType.keys()].join(', ')}).`,
        400,
        { errors: [{ field: 'type', message: `unknown channel type "${type}"` }] },
      )
    return adapter
  }

  /** The config checked by the type's schema, split into what is shown and what the vault keeps. */
  async function checkedConfig(adapter: ChannelAdapter, config: Record<string, unknown>) {
    const parsed = adapter.configSchema.safeParse(config)
    if (!parsed.success)
      throw new AppError(
        'validation_failed',
        `The ${adapter.type} settings are not valid: ${parsed.error.issues
          .slice(0, 10)
          .map((issue) => `config.${issue.path.join('.')}: ${issue.message}`)
          .join('; ')}.`,
        400,
        {
          errors: parsed.error.issues.slice(0, 20).map((issue) => ({
            field: ['config', ...issue.path].join('.'),
            message: issue.message,
          })),
        },
      )
    const full = parsed.data as Record<string, unknown>
    await adapter.check?.(full, deps.egress)
    const shown: Record<string, unknown> = {}
    const secrets: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(full)) {
      if (adapter.secretFields.includes(key)) secrets[key] = value
      else shown[key] = value
    }
    return { full, shown, secrets }
  }

  function hintsOf(secrets: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(secrets).map(([key, value]) => [key, hintOf(key, value)]))
  }

  function toJson(row: ChannelRow): Channel {
    return {
      id: row.id,
      type: row.type as Channel['type'],
      name: row.name,
      config: JSON.parse(row.config) as Record<string, unknown>,
      secretHints: JSON.parse(row.secret_hints) as Record<string, string>,
      status: row.status,
      lastError: row.last_error,
      lastDeliveredAt: iso(row.last_delivered_at),
      eventTypes: JSON.parse(row.event_types) as Channel['eventTypes'],
      quietHours: row.quiet_hours === null ? null : (JSON.parse(row.quiet_hours) as QuietHours),
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    }
  }

  async function rowOf(tenantId: string, id: string): Promise<ChannelRow> {
    const row = await db
      .selectFrom('channels')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('channel_not_found', `Channel ${id} does not exist in this workspace.`)
    return row
  }

  async function nameFree(tenantId: string, name: string, exceptId?: string) {
    const other = await db
      .selectFrom('channels')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst()
    if (other && other.id !== exceptId)
      throw new AppError(
        'channel_exists',
        `A channel named "${name}" exists already; choose another name.`,
        409,
      )
  }

  /** The channel's config with its secrets, registered with the scrubber so no answer or log shows them. */
  function resolve(row: ChannelRow): ResolvedChannel {
    const adapter = adapterOf(row.type)
    const secrets =
      row.secrets_encrypted === null
        ? {}
        : (JSON.parse(deps.vault.decrypt(row.secrets_encrypted)) as Record<string, unknown>)
    // Every secret string, also those inside a field (a webhook's header values: attack F2), is
    // scrubbed from answers, errors and logs.
    for (const [key, value] of Object.entries(secrets)) {
      if (typeof value === 'string') secretScrubber.set(row.tenant_id, `channel:${row.id}:${key}`, value)
      else if (value && typeof value === 'object')
        for (const [inner, text] of Object.entries(value))
          if (typeof text === 'string')
            secretScrubber.set(row.tenant_id, `channel:${row.id}:${key}:${inner}`, text)
    }
    return { row, adapter, config: { ...JSON.parse(row.config), ...secrets } }
  }

  async function delivered(tenantId: string, id: string): Promise<void> {
    const now = deps.clock.now()
    await db
      .updateTable('channels')
      .set({ status: 'connected', last_error: null, last_delivered_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute()
  }

  /** A delivery refused for good: the channel shows `error` with the reason until it works again. */
  async function failed(tenantId: string, id: string, reason: string): Promise<void> {
    await db
      .updateTable('channels')
      .set({ status: 'error', last_error: reason.slice(0, 2000) })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute()
  }

  function checkTimezone(hours: QuietHours | null) {
    if (hours && !isValidTimeZone(hours.timezone))
      throw new AppError(
        'validation_failed',
        `"${hours.timezone}" is not a time zone; use an IANA name such as Europe/Berlin.`,
        400,
        {
          errors: [{ field: 'quietHours.timezone', message: 'unknown time zone' }],
        },
      )
  }

  return {
    adapterOf,
    toJson,
    /** What a channel held in the quiet window ending at `windowEnd`, oldest first. */
    async held(tenantId: string, channelId: string, windowEnd: number) {
      const rows = await db
        .selectFrom('held_notifications')
        .select(['id', 'input'])
        .where('tenant_id', '=', tenantId)
        .where('channel_id', '=', channelId)
        .where('window_end', '=', windowEnd)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map((row) => ({ id: row.id, input: JSON.parse(row.input) as unknown }))
    },
    /** The held notifications a digest delivered. */
    async release(tenantId: string, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return
      await db
        .deleteFrom('held_notifications')
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids)
        .execute()
    },
    async setQuietHours(tenantId: string, id: string, hours: QuietHours | null): Promise<Channel> {
      checkTimezone(hours)
      await rowOf(tenantId, id)
      await db
        .updateTable('channels')
        .set({ quiet_hours: hours ? JSON.stringify(hours) : null, updated_at: deps.clock.now() })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute()
      return toJson(await rowOf(tenantId, id))
    },
    async settings(tenantId: string): Promise<NotificationSettings> {
      const row = await db
        .selectFrom('notification_settings')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst()
      return {
        quietHours: row?.quiet_hours ? (JSON.parse(row.quiet_hours) as QuietHours) : null,
        urgentEvents: row ? (JSON.parse(row.urgent_events) as NotificationSettings['urgentEvents']) : [],
      }
    },
    async putSettings(tenantId: string, settings: NotificationSettings): Promise<NotificationSettings> {
      checkTimezone(settings.quietHours)
      const values = {
        quiet_hours: settings.quietHours ? JSON.stringify(settings.quietHours) : null,
        urgent_events: JSON.stringify([...new Set(settings.urgentEvents)].sort()),
        updated_at: deps.clock.now(),
      }
      await db
        .insertInto('notification_settings')
        .values({ tenant_id: tenantId, ...values })
        .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
        .execute()
      return { quietHours: settings.quietHours, urgentEvents: JSON.parse(values.urgent_events) }
    },
    async list(tenantId: string): Promise<Channel[]> {
      const rows = await db
        .selectFrom('channels')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .orderBy('name')
        .execute()
      return rows.map(toJson)
    },
    async get(tenantId: string, id: string): Promise<Channel> {
      return toJson(await rowOf(tenantId, id))
    },
    async resolved(tenantId: string, id: string): Promise<ResolvedChannel> {
      return resolve(await rowOf(tenantId, id))
    },

    async create(tenantId: string, body: ChannelCreate): Promise<Channel & { secret?: string }> {
      const adapter = adapterOf(body.type)
      // A webhook signs what it sends with a secret of its own, made here and shown once.
      const signingSecret = adapter.secretFields.includes('signingSecret')
        ? `whsec_${randomBytes(24).toString('base64url')}`
        : undefined
      const { shown, secrets } = await checkedConfig(adapter, {
        ...body.config,
        ...(signingSecret ? { signingSecret } : {}),
      })
      await nameFree(tenantId, body.name)
      const now = deps.clock.now()
      const row: ChannelRow = {
        id: newId(),
        tenant_id: tenantId,
        type: body.type,
        name: body.name,
        config: JSON.stringify(shown),
        secrets_encrypted:
          Object.keys(secrets).length > 0 ? deps.vault.encrypt(JSON.stringify(secrets)) : null,
        secret_hints: JSON.stringify(hintsOf(secrets)),
        status: 'pending',
        last_error: null,
        last_delivered_at: null,
        event_types: '[]',
        quiet_hours: null,
        created_at: now,
        updated_at: now,
      }
      await db.insertInto('channels').values(row).execute()
      return { ...toJson(row), ...(signingSecret ? { secret: signingSecret } : {}) }
    },

    async update(tenantId: string, id: string, body: ChannelUpdate): Promise<Channel> {
      const row = await rowOf(tenantId, id)
      const now = deps.clock.now()
      const set: Partial<ChannelRow> = { updated_at: now }
      /** A Telegram channel's config before it moved to another bot or Bot API. */
      let formerBot: Record<string, unknown> | undefined
      if (body.name !== undefined && body.name !== row.name) {
        await nameFree(tenantId, body.name, id)
        set.name = body.name
      }
      if (body.config !== undefined) {
        const current = resolve(row)
        const adapter = current.adapter
        // A secret left out keeps the stored one (people never see it to send it back).
        const kept = Object.fromEntries(
          adapter.secretFields
            .filter((key) => !(key in body.config!))
            .flatMap((key) => (current.config[key] === undefined ? [] : [[key, current.config[key]]])),
        )
        // Stored secrets go only where they went before (attack F1): a new address, host, port or
        // security needs them sent again, as a provider's key does.
        const moved = destinationFields.filter(
          (key) =>
            key in body.config! && JSON.stringify(body.config![key]) !== JSON.stringify(current.config[key]),
        )
        const resend = Object.keys(kept).filter((key) => !generatedSecrets.has(key))
        if (moved.length > 0 && resend.length > 0)
          throw new AppError(
            'secrets_required',
            `The stored ${resend.join(', ')} ${resend.length === 1 ? 'is' : 'are'} not sent to a changed ${moved.join(', ')}: send ${resend.length === 1 ? 'it' : 'them'} again with the change.`,
            400,
            {
              errors: resend.map((key) => ({
                field: `config.${key}`,
                message: `send it again: ${moved.join(', ')} changed`,
              })),
            },
          )
        const { full, shown, secrets } = await checkedConfig(adapter, { ...kept, ...body.config })
        if (row.type === 'telegram' && telegramBotOf(full) !== telegramBotOf(current.config))
          formerBot = current.config
        set.config = JSON.stringify(shown)
        set.secrets_encrypted =
          Object.keys(secrets).length > 0 ? deps.vault.encrypt(JSON.stringify(secrets)) : null
        set.secret_hints = JSON.stringify(hintsOf(secrets))
        // New settings deserve a new chance.
        set.status = 'pending'
        set.last_error = null
      }
      // Another bot, or another Bot API (an editor may point it at one of their own, which could say
      // an update came "from" an admin's Telegram id): the links, codes, buttons and inbound mode of
      // the old one go in the same transaction as the change.
      const formerMode = await writeTransaction(deps.database, async (trx) => {
        await trx
          .updateTable('channels')
          .set(set)
          .where('tenant_id', '=', tenantId)
          .where('id', '=', id)
          .execute()
        return formerBot ? forgetTelegramBot(trx, id, now) : 'off'
      })
      // Best effort: the old bot stops posting to us (its posts would be refused anyway).
      if (formerBot && formerMode === 'webhook')
        await callTelegram(
          {
            baseUrl: typeof formerBot.apiBaseUrl === 'string' ? formerBot.apiBaseUrl : telegramApiBaseUrl,
            token: String(formerBot.botToken),
            egress: deps.egress,
            signal: AbortSignal.timeout(5_000),
          },
          'deleteWebhook',
          { drop_pending_updates: false },
        ).catch(() => {})
      return toJson(await rowOf(tenantId, id))
    },

    async remove(tenantId: string, id: string): Promise<void> {
      await rowOf(tenantId, id)
      await db
        .deleteFrom('bot_channels')
        .where('tenant_id', '=', tenantId)
        .where('channel_id', '=', id)
        .execute()
      await db.deleteFrom('channels').where('tenant_id', '=', tenantId).where('id', '=', id).execute()
    },

    async setEvents(tenantId: string, id: string, types: readonly string[]): Promise<Channel> {
      await rowOf(tenantId, id)
      await db
        .updateTable('channels')
        .set({ event_types: JSON.stringify([...new Set(types)].sort()), updated_at: deps.clock.now() })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute()
      return toJson(await rowOf(tenantId, id))
    },

    /** Sends a test message now: delivered, or the exact reason why not (the channel's status follows). */
    async test(tenantId: string, id: string, message: ChannelMessage, signal: AbortSignal) {
      const channel = resolve(await rowOf(tenantId, id))
      try {
        await channel.adapter.send(message, { config: channel.config, signal, egress: deps.egress })
        await delivered(tenantId, id)
        return { delivered: true, error: null }
      } catch (error) {
        const failure =
          error instanceof ChannelError
            ? { code: error.code, message: error.message }
            : { code: 'channel_failed', message: error instanceof Error ? error.message : String(error) }
        const scrubbed = { ...failure, message: secretScrubber.forTenant(tenantId)(failure.message) }
        await failed(tenantId, id, scrubbed.message)
        return { delivered: false, error: scrubbed }
      }
    },

    delivered,
    failed,

    async links(tenantId: string, botId: string): Promise<BotChannelLink[]> {
      if (!(await deps.botOf(tenantId, botId)))
        throw notFound('bot_not_found', `Bot ${botId} does not exist.`)
      const rows = await db
        .selectFrom('bot_channels')
        .innerJoin('channels', 'channels.id', 'bot_channels.channel_id')
        .select([
          'bot_channels.channel_id',
          'channels.name',
          'channels.type',
          'bot_channels.rule',
          'bot_channels.format',
        ])
        .where('bot_channels.tenant_id', '=', tenantId)
        .where('bot_channels.bot_id', '=', botId)
        .orderBy('channels.name')
        .execute()
      return rows.map((row) => ({
        channelId: row.channel_id,
        channelName: row.name,
        channelType: row.type as BotChannelLink['channelType'],
        rule: row.rule as BotChannelLink['rule'],
        format: row.format as BotChannelLink['format'],
      }))
    },

    async link(
      tenantId: string,
      botId: string,
      channelId: string,
      rule: BotChannelLink['rule'],
      format: BotChannelLink['format'],
    ): Promise<BotChannelLink> {
      if (!(await deps.botOf(tenantId, botId)))
        throw notFound('bot_not_found', `Bot ${botId} does not exist.`)
      const channel = await rowOf(tenantId, channelId)
      await db
        .insertInto('bot_channels')
        .values({
          bot_id: botId,
          channel_id: channelId,
          tenant_id: tenantId,
          rule,
          format,
          created_at: deps.clock.now(),
        })
        .onConflict((oc) => oc.columns(['bot_id', 'channel_id']).doUpdateSet({ rule, format }))
        .execute()
      return {
        channelId,
        channelName: channel.name,
        channelType: channel.type as BotChannelLink['channelType'],
        rule,
        format,
      }
    },

    async unlink(tenantId: string, botId: string, channelId: string): Promise<void> {
      const removed = await db
        .deleteFrom('bot_channels')
        .where('tenant_id', '=', tenantId)
        .where('bot_id', '=', botId)
        .where('channel_id', '=', channelId)
        .executeTakeFirst()
      if (Number(removed.numDeletedRows) === 0)
        throw notFound('channel_link_not_found', `Bot ${botId} does not notify channel ${channelId}.`)
    },
  }
}
