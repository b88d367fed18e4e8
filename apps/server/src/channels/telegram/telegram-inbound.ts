import { createHmac, randomInt, timingSafeEqual } from 'node:crypto'
import type { TelegramInbound, TelegramInboundPut, TelegramLinkCode } from '@openorch/contracts'
import type { Kysely } from 'kysely'
import type { Db, Tables } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import type { Vault } from '../../platform/crypto.ts'
import { writeTransaction } from '../../platform/db/transaction.ts'
import type { EgressPolicy } from '../../platform/egress/egress.ts'
import { AppError, notFound } from '../../platform/errors.ts'
import { hasRole, type Role } from '../../platform/http/caller.ts'
import type { Logger } from '../../platform/logger.ts'
import { type EnqueueRequest, orchestrationPriority, type RunService, runIn } from '../../runs/runs.ts'
import { disabledTenantIds, workspaceRefusal } from '../../tenants/tenants.ts'
import {
  callTelegram,
  escapeTelegramHtml,
  type TelegramApi,
  telegramApiBaseUrl,
} from '../adapters/telegram.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import type { Channels } from '../channels.service.ts'
import { type TelegramInboundRow, withTelegramTables } from './telegram.table.ts'
import { newCallbackId, signCallback, verifyCallback } from './telegram-callbacks.ts'
import {
  groupCommandRefusal,
  groupLinkRefusal,
  helpText,
  linkingPausedRefusal,
  matchBot,
  parseCommand,
  plainTextAnswer,
  type StatusBot,
  statusText,
  strangerRefusal,
  tooManyCodesRefusal,
  truncate,
  whichBot,
  workspaceDisabledRefusal,
} from './telegram-commands.ts'
import { type TelegramReply, telegramReplyRunKind } from './telegram-reply.executor.ts'

// Telegram inbound (issue 14): people link their Telegram to their account with a one-time code, then
// run, pause and resume bots and decide approvals from the chat. Updates come by webhook or by long
// polling (telegram.poller.ts); either way `handleUpdate` handles each update id once:
//  - effects on other domains (start a run, pause a bot, decide an approval) happen first and are
//    idempotent by the update (a run's idempotency key, a bot's enabled flag, an approval decided once);
//  - then one transaction records the update id, makes this module's own changes (a link, a used
//    code) and enqueues the answers as runs of kind `telegram_reply` keyed by the update. A second
//    delivery of the update finds it recorded and does nothing; a crash before the commit repeats only
//    idempotent effects. Answers are sent by those runs (leases, retries, 429s) and never twice.
// Who may do what is read at use time: the linked person's current role, never the role at linking.
// Commands are answered in private chats and in the channel's own chat, not in other groups (where
// a `/run`'s result would reach everyone). A disabled workspace obeys nothing. Refusals a stranger
// can provoke at will are said once an hour per chat, then the bot stays silent: no send budget and
// no queue spent on them.

export type TelegramInboundService = ReturnType<typeof createTelegramInbound>

/** What the other domains answer, as plain functions (the composition root wires them). */
export interface TelegramInboundPeople {
  /** A person by id (their current role), or undefined. */
  userOf(
    userId: string,
  ): Promise<
    { id: string; tenantId: string; email: string; role: Role; disabledAt: number | null } | undefined
  >
  /** The workspace's bots (with their last run and next run). */
  listBots(tenantId: string): Promise<StatusBot[]>
  /** Starts a run of the bot with trigger `channel`; the same key gives the same run. */
  runBot(
    tenantId: string,
    botId: string,
    idempotencyKey: string,
  ): Promise<{ runId: string } | { dropped: string }>
  setBotEnabled(tenantId: string, botId: string, enabled: boolean): Promise<void>
  /** approvals.decide: throws AppError `approval_decided` (409) when someone decided already. */
  decideApproval(
    tenantId: string,
    approvalId: string,
    decision: 'approved' | 'rejected',
    decider: { type: 'user'; id: string; role: Role; requestId: string },
  ): Promise<void>
  /** An approval's state, or undefined when it does not exist. */
  approvalOf(
    tenantId: string,
    approvalId: string,
  ): Promise<
    | { status: string; decidedByType: string | null; decidedById: string | null; expiresAt: number | null }
    | undefined
  >
}

export interface TelegramInboundDeps {
  database: Db
  clock: Clock
  vault: Pick<Vault, 'deriveKey'>
  log: Logger
  channels: Pick<Channels, 'resolved'>
  runs: Pick<RunService, 'enqueueManyIn'>
  egress: EgressPolicy
  people: TelegramInboundPeople
  /** The installation's public address, the webhook's default base. */
  publicUrl?: string | undefined
  /** The first retry delay of an answer (default 1 s). */
  retryBaseMs?: number
}

/** A Telegram update, as much of it as is read here. */
export interface TelegramUpdate {
  update_id: number
  message?: {
    message_id: number
    from?: { id: number; is_bot?: boolean; first_name?: string }
    chat: { id: number; type: string }
    text?: string
  }
  callback_query?: {
    id: string
    from: { id: number }
    message?: { message_id: number; chat: { id: number }; text?: string }
    data?: string
  }
}

const linkCodeTtlMs = 10 * 60_000
/** Wrong link codes a Telegram user may send within `wrongCodeWindowMs` before they must wait. */
const maxWrongCodes = 5
/**
 * Wrong link codes of all chats of a channel together within `wrongCodeWindowMs`; past them every
 * `/link` on the channel is refused until the window ends, so many chats cannot guess together
 * (30 guesses at a million codes, of which a few are live for 10 minutes).
 */
export const maxWrongCodesPerChannel = 30
const wrongCodeWindowMs = 60 * 60_000
/** A refusal provoked by the chat (too many codes, a group, a disabled workspace) is said once in this time. */
const noticeWindowMs = 60 * 60_000
const channelWrongCodesKey = 'wrong-codes:channel'
type NoticeKind =
  | 'wrong-codes'
  | 'linking-paused'
  | 'group-link'
  | 'group-commands'
  | 'disabled'
  | 'disabled-button'
const noticeKey = (kind: NoticeKind, chatId: string) => `notice:${kind}:${chatId}`
/** How long an approval button works (at most until the approval itself expires). */
const buttonTtlMs = 24 * 60 * 60_000
/** Handled update ids are kept this long (Telegram keeps undelivered updates 24 hours). */
export const processedUpdatesKeepMs = 7 * 24 * 60 * 60_000

export function createTelegramInbound(deps: TelegramInboundDeps) {
  const { database, clock } = deps
  const db = withTelegramTables(database.db)
  const codeKey = deps.vault.deriveKey('openorch telegram link codes v1')
  const callbackKey = deps.vault.deriveKey('openorch telegram callbacks v1')
  const webhookKey = deps.vault.deriveKey('openorch telegram webhook v1')
  const log = deps.log.child({ component: 'telegram' })

  const hmac = (key: Uint8Array, text: string) => createHmac('sha256', key).update(text).digest('base64url')
  const codeHash = (channelId: string, code: string) => hmac(codeKey, `${channelId}:${code}`)
  const pathSecretOf = (channelId: string, version: number) =>
    hmac(webhookKey, `path:${channelId}:${version}`).slice(0, 32)
  const headerSecretOf = (channelId: string, version: number) =>
    hmac(webhookKey, `header:${channelId}:${version}`)
  const sameSecret = (a: string, b: string) => {
    const left = Buffer.from(a)
    const right = Buffer.from(b)
    return left.length === right.length && timingSafeEqual(left, right)
  }

  /** The channel, which must be a Telegram one, with the token to call its Bot API. */
  async function telegramChannel(tenantId: string, channelId: string) {
    const channel = await deps.channels.resolved(tenantId, channelId)
    if (channel.row.type !== 'telegram')
      throw new AppError(
        'channel_not_telegram',
        `Channel ${channelId} is a ${channel.row.type} channel; commands and linking work with Telegram channels.`,
        400,
      )
    return channel
  }

  function apiOf(config: Record<string, unknown>, signal: AbortSignal): TelegramApi {
    return {
      baseUrl: typeof config.apiBaseUrl === 'string' ? config.apiBaseUrl : telegramApiBaseUrl,
      token: String(config.botToken),
      egress: deps.egress,
      signal,
    }
  }

  async function inboundRow(channelId: string): Promise<TelegramInboundRow | undefined> {
    return db
      .selectFrom('telegram_inbound')
      .selectAll()
      .where('channel_id', '=', channelId)
      .executeTakeFirst()
  }

  // ---------------------------------------------------------------------------------------------------
  // The dashboard's side: codes, the inbound mode, the state

  async function createLinkCode(
    tenantId: string,
    channelId: string,
    userId: string,
  ): Promise<TelegramLinkCode> {
    await telegramChannel(tenantId, channelId)
    const now = clock.now()
    const expiresAt = now + linkCodeTtlMs
    // Two live codes of one channel cannot share digits: the hash is the key, so draw again.
    for (let attempt = 0; ; attempt++) {
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0')
      const inserted = await db
        .insertInto('telegram_link_codes')
        .values({
          code_hash: codeHash(channelId, code),
          tenant_id: tenantId,
          channel_id: channelId,
          user_id: userId,
          expires_at: expiresAt,
          used_at: null,
          created_at: now,
        })
        .onConflict((oc) =>
          oc
            .column('code_hash')
            .doUpdateSet({
              user_id: userId,
              tenant_id: tenantId,
              expires_at: expiresAt,
              used_at: null,
              created_at: now,
            })
            // A spent or expired code's digits may be drawn again; a live one's not.
            .where((eb) =>
              eb.or([
                eb('telegram_link_codes.used_at', 'is not', null),
                eb('telegram_link_codes.expires_at', '<=', now),
              ]),
            ),
        )
        .executeTakeFirst()
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0)
        return { code, expiresAt: new Date(expiresAt).toISOString() }
      if (attempt >= 20)
        throw new AppError('link_code_unavailable', 'No free link code right now; try again.', 503)
    }
  }

  /**
   * The channel's inbound mode and linked chats. Admins see every linked chat; anyone else only their
   * own (a key without a person none): who linked which Telegram id is not everyone's to know.
   */
  async function state(
    tenantId: string,
    channelId: string,
    viewer: { userId: string | null; seesAll: boolean },
  ): Promise<TelegramInbound> {
    await telegramChannel(tenantId, channelId)
    const row = await inboundRow(channelId)
    let query = db
      .selectFrom('telegram_links')
      .select(['chat_id', 'user_id', 'linked_at'])
      .where('tenant_id', '=', tenantId)
      .where('channel_id', '=', channelId)
    if (!viewer.seesAll) query = query.where('user_id', '=', viewer.userId ?? '')
    const links = await query.orderBy('linked_at').execute()
    return {
      mode: row?.mode ?? 'off',
      // The path's secret is a credential: shown masked.
      webhookUrl: row?.mode === 'webhook' && row.webhook_url ? row.webhook_url.replace(/[^/]+$/, '…') : null,
      lastUpdateId: row?.last_update_id === null || row === undefined ? null : Number(row.last_update_id),
      linkedChats: links.map((link) => ({
        chatId: link.chat_id,
        userId: link.user_id,
        linkedAt: new Date(Number(link.linked_at)).toISOString(),
      })),
    }
  }

  /**
   * Unlinks a chat: its person may, and the workspace's admins may unlink anyone's. The chat gets
   * the polite refusal again until it is linked anew.
   */
  async function unlink(
    tenantId: string,
    channelId: string,
    chatId: string,
    by: { userId: string | null; mayUnlinkOthers: boolean },
  ): Promise<void> {
    await telegramChannel(tenantId, channelId)
    const link = await db
      .selectFrom('telegram_links')
      .select(['user_id'])
      .where('tenant_id', '=', tenantId)
      .where('channel_id', '=', channelId)
      .where('chat_id', '=', chatId)
      .executeTakeFirst()
    // Someone else's link reads as none to a person who may not remove it: nothing to learn.
    if (!link || (!by.mayUnlinkOthers && link.user_id !== by.userId))
      throw notFound('telegram_link_not_found', `No chat ${chatId} of yours is linked to this channel.`)
    await db
      .deleteFrom('telegram_links')
      .where('tenant_id', '=', tenantId)
      .where('channel_id', '=', channelId)
      .where('chat_id', '=', chatId)
      .execute()
    log.info({ tenantId, channelId, chatId, userId: link.user_id }, 'telegram chat unlinked')
  }

  /** Switches how updates arrive; a webhook is registered with Telegram (`setWebhook`), else removed. */
  async function setInbound(
    tenantId: string,
    channelId: string,
    body: TelegramInboundPut,
  ): Promise<TelegramInbound> {
    const channel = await telegramChannel(tenantId, channelId)
    const current = await inboundRow(channelId)
    const api = apiOf(channel.config, AbortSignal.timeout(20_000))
    const version = (current?.secret_version ?? 0) + (body.mode === 'webhook' ? 1 : 0)
    let webhookUrl: string | null = null
    try {
      if (body.mode === 'webhook') {
        const base = body.url ?? deps.publicUrl
        if (!base)
          throw new AppError(
            'public_url_missing',
            'A webhook needs the public address of this installation: send `url` (https://orch.example.com) or set OPENORCH_PUBLIC_URL; without one, use polling.',
            400,
          )
        webhookUrl = `${base.replace(/\/+$/, '')}/api/v1/channels/${channelId}/telegram/${pathSecretOf(channelId, version)}`
        await callTelegram(api, 'setWebhook', {
          url: webhookUrl,
          secret_token: headerSecretOf(channelId, version),
          allowed_updates: ['message', 'callback_query'],
        })
      } else if (current?.mode === 'webhook')
        await callTelegram(api, 'deleteWebhook', { drop_pending_updates: false })
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error
      throw new AppError('telegram_failed', error.message, error.retryable ? 502 : 400)
    }
    const values = {
      tenant_id: tenantId,
      mode: body.mode,
      webhook_url: webhookUrl,
      secret_version: version,
      poll_owner: null,
      poll_lease_until: null,
      updated_at: clock.now(),
    }
    await db
      .insertInto('telegram_inbound')
      .values({ channel_id: channelId, last_update_id: null, ...values })
      .onConflict((oc) => oc.column('channel_id').doUpdateSet(values))
      .execute()
    log.info({ tenantId, channelId, mode: body.mode }, 'telegram inbound mode set')
    // Switching needs an admin, who sees every linked chat.
    return state(tenantId, channelId, { userId: null, seesAll: true })
  }

  /**
   * Whether a webhook request may be handled: the channel receives by webhook, the path's secret is its
   * current one (`not_found` otherwise, as for any unknown path) and Telegram's secret-token header
   * matches (`forbidden`).
   */
  async function checkWebhook(
    channelId: string,
    pathSecret: string,
    header: string | undefined,
  ): Promise<{ tenantId: string } | 'not_found' | 'forbidden'> {
    const row = await inboundRow(channelId)
    if (row?.mode !== 'webhook') return 'not_found'
    if (!sameSecret(pathSecret, pathSecretOf(channelId, row.secret_version))) return 'not_found'
    if (!header || !sameSecret(header, headerSecretOf(channelId, row.secret_version))) return 'forbidden'
    return { tenantId: row.tenant_id }
  }

  // ---------------------------------------------------------------------------------------------------
  // Handling an update

  interface Plan {
    replies: TelegramReply[]
    /** This module's own changes, made in the update's transaction (they may add replies). */
    writes: Array<(trx: Kysely<Tables>) => Promise<void>>
  }

  const send = (channelId: string, chatId: number | string, text: string): TelegramReply => ({
    channelId,
    call: {
      method: 'sendMessage',
      params: { chat_id: chatId, text, parse_mode: 'HTML', link_preview_options: { is_disabled: true } },
    },
  })

  const answerCallback = (
    channelId: string,
    queryId: string,
    text: string,
    alert: boolean,
  ): TelegramReply => ({
    channelId,
    call: { method: 'answerCallbackQuery', params: { callback_query_id: queryId, text, show_alert: alert } },
  })

  /**
   * True when `chatId` has not been told a refusal of this kind within `noticeWindowMs` — and it
   * counts as told from now (in the update's transaction, so two deliveries cannot both say it).
   */
  async function firstNotice(
    trx: Kysely<Tables>,
    channelId: string,
    chatId: number | string,
    kind: NoticeKind,
  ): Promise<boolean> {
    const now = clock.now()
    const told = await withTelegramTables(trx)
      .insertInto('telegram_strangers')
      .values({
        channel_id: channelId,
        chat_id: noticeKey(kind, String(chatId)),
        refused_at: now,
        wrong_codes: 0,
        wrong_codes_since: null,
      })
      .onConflict((oc) =>
        oc
          .columns(['channel_id', 'chat_id'])
          .doUpdateSet({ refused_at: now })
          .where('telegram_strangers.refused_at', '<=', now - noticeWindowMs),
      )
      .executeTakeFirst()
    return Number(told.numInsertedOrUpdatedRows ?? 0) > 0
  }

  /** Says `reply` unless the chat was told this kind of refusal within the hour; silence otherwise. */
  function noticeOnce(
    plan: Plan,
    channelId: string,
    chatId: number | string,
    kind: NoticeKind,
    reply: TelegramReply,
  ) {
    plan.writes.push(async (trx) => {
      if (await firstNotice(trx, channelId, chatId, kind)) plan.replies.push(reply)
    })
  }

  async function isWorkspaceDisabled(tenantId: string): Promise<boolean> {
    return (await workspaceRefusal(database.db, tenantId)) !== undefined
  }

  /** A disabled workspace obeys nothing; it says so once an hour per chat (and per person pressing buttons). */
  function planDisabled(channelId: string, update: TelegramUpdate, plan: Plan) {
    const message = update.message
    if (message && typeof message.text === 'string' && !message.from?.is_bot) {
      // In a group only a command is for the bot.
      if (message.chat.type !== 'private' && parseCommand(message.text).name === undefined) return
      noticeOnce(
        plan,
        channelId,
        message.chat.id,
        'disabled',
        send(channelId, message.chat.id, workspaceDisabledRefusal),
      )
    } else if (update.callback_query) {
      const query = update.callback_query
      noticeOnce(
        plan,
        channelId,
        query.from.id,
        'disabled-button',
        answerCallback(channelId, query.id, workspaceDisabledRefusal, true),
      )
    }
  }

  /** Handles one update once: `duplicate` when it was handled before (by this or another process). */
  async function handleUpdate(
    tenantId: string,
    channelId: string,
    update: TelegramUpdate,
  ): Promise<'handled' | 'duplicate'> {
    const updateId = Number(update.update_id)
    if (!Number.isSafeInteger(updateId)) return 'duplicate'
    const seen = await db
      .selectFrom('telegram_updates')
      .select('update_id')
      .where('channel_id', '=', channelId)
      .where('update_id', '=', updateId)
      .executeTakeFirst()
    if (seen) return 'duplicate'
    const plan: Plan = { replies: [], writes: [] }
    // Update ids count per bot. The keys carry the channel's inbound version, which a move to another
    // bot or Bot API raises (telegram.store.ts), so a new bot's ids never meet the old one's runs.
    const version = (await inboundRow(channelId))?.secret_version ?? 0
    const key = `telegram:${channelId}:${version}:${updateId}`
    if (await isWorkspaceDisabled(tenantId)) planDisabled(channelId, update, plan)
    else if (update.message && typeof update.message.text === 'string')
      await planMessage(
        tenantId,
        channelId,
        key,
        update.message as Required<TelegramUpdate>['message'] & { text: string },
        plan,
      )
    else if (update.callback_query) await planCallback(tenantId, channelId, key, update.callback_query, plan)
    const handled = await writeTransaction(database, async (trx) => {
      const tdb = withTelegramTables(trx)
      const recorded = await tdb
        .insertInto('telegram_updates')
        .values({ channel_id: channelId, update_id: updateId, processed_at: clock.now() })
        .onConflict((oc) => oc.columns(['channel_id', 'update_id']).doNothing())
        .executeTakeFirst()
      if (Number(recorded.numInsertedOrUpdatedRows ?? 0) === 0) return false
      await tdb
        .updateTable('telegram_inbound')
        .set({ last_update_id: updateId })
        .where('channel_id', '=', channelId)
        .where((eb) => eb.or([eb('last_update_id', 'is', null), eb('last_update_id', '<', updateId)]))
        .execute()
      for (const write of plan.writes) await write(trx)
      await deps.runs.enqueueManyIn(
        trx,
        plan.replies.map((reply, index) =>
          replyRequest(tenantId, reply, `telegram-reply:${channelId}:${version}:${updateId}:${index}`),
        ),
      )
      return true
    })
    return handled ? 'handled' : 'duplicate'
  }

  function replyRequest(tenantId: string, reply: TelegramReply, idempotencyKey: string): EnqueueRequest {
    return {
      tenantId,
      kind: telegramReplyRunKind,
      trigger: 'channel',
      subjectId: reply.channelId,
      input: reply,
      idempotencyKey,
      priority: orchestrationPriority,
      maxRetries: 6,
      retryBaseMs: deps.retryBaseMs ?? 1_000,
      timeoutMs: 60_000,
    }
  }

  async function linkOf(channelId: string, chatId: string) {
    const link = await db
      .selectFrom('telegram_links')
      .selectAll()
      .where('channel_id', '=', channelId)
      .where('chat_id', '=', chatId)
      .executeTakeFirst()
    if (!link) return undefined
    const user = await deps.people.userOf(link.user_id)
    // A person removed, disabled or moved away no longer speaks for the workspace.
    if (!user || user.disabledAt !== null || user.tenantId !== link.tenant_id)
      return { link, user: undefined }
    return { link, user }
  }

  async function planMessage(
    tenantId: string,
    channelId: string,
    key: string,
    message: Required<TelegramUpdate>['message'] & { text: string },
    plan: Plan,
  ): Promise<void> {
    if (message.from?.is_bot) return
    const chatId = message.chat.id
    // A person is their Telegram user id (their private chat with the bot), also when they write in a group.
    const person = String(message.from?.id ?? chatId)
    const reply = (text: string) => plan.replies.push(send(channelId, chatId, text))
    const command = parseCommand(message.text)
    const isPrivate = message.chat.type === 'private'
    if (command.name === 'link' || (command.name === 'start' && /^\d{6}$/.test(command.argument))) {
      if (!isPrivate) {
        noticeOnce(plan, channelId, chatId, 'group-link', send(channelId, chatId, groupLinkRefusal))
        return
      }
      // Whose code it is, read before the transaction (on SQLite nothing else may read during it).
      const owner = /^\d{6}$/.test(command.argument)
        ? await db
            .selectFrom('telegram_link_codes')
            .select('user_id')
            .where('code_hash', '=', codeHash(channelId, command.argument))
            .executeTakeFirst()
        : undefined
      const email = owner ? (await deps.people.userOf(owner.user_id))?.email : undefined
      plan.writes.push((trx) =>
        useLinkCode(trx, tenantId, channelId, person, command.argument, plan, chatId, email),
      )
      return
    }
    if (!isPrivate) {
      // Plain text in a group is people talking to each other; a command is answered only in the
      // channel's own chat, where the workspace sends anyway — elsewhere a result would reach everyone.
      if (command.name === undefined) return
      const channel = await telegramChannel(tenantId, channelId)
      if (String(channel.config.chatId) !== String(chatId)) {
        noticeOnce(plan, channelId, chatId, 'group-commands', send(channelId, chatId, groupCommandRefusal))
        return
      }
    }
    const linked = await linkOf(channelId, person)
    if (!linked) {
      plan.writes.push(async (trx) => {
        const now = clock.now()
        const first = await withTelegramTables(trx)
          .insertInto('telegram_strangers')
          .values({
            channel_id: channelId,
            chat_id: person,
            refused_at: now,
            wrong_codes: 0,
            wrong_codes_since: null,
          })
          // 0: linked since, and unlinked again: told once more.
          .onConflict((oc) =>
            oc
              .columns(['channel_id', 'chat_id'])
              .doUpdateSet({ refused_at: now })
              .where('telegram_strangers.refused_at', '=', 0),
          )
          .executeTakeFirst()
        // Once per chat: a stranger who keeps writing gets silence, and the log one line.
        if (Number(first.numInsertedOrUpdatedRows ?? 0) === 0) return
        log.info(
          { tenantId, channelId, chatId: person },
          'telegram: a chat that is not linked wrote; refused once',
        )
        plan.replies.push(send(channelId, chatId, strangerRefusal))
      })
      return
    }
    if (!linked.user) {
      reply(
        'The account this chat was linked to is no longer active. Link again with a new code from the dashboard.',
      )
      return
    }
    try {
      await planCommand(tenantId, channelId, key, chatId, linked.user, command, plan)
    } catch (error) {
      // A refusal of another domain (a bot that cannot run as set up) is the person's to read, not a failure.
      if (!(error instanceof AppError) || error.status >= 500) throw error
      reply(`That did not work: ${escapeTelegramHtml(error.message)}`)
    }
  }

  async function planCommand(
    tenantId: string,
    channelId: string,
    key: string,
    chatId: number,
    user: { role: Role },
    command: ReturnType<typeof parseCommand>,
    plan: Plan,
  ): Promise<void> {
    const reply = (text: string) => plan.replies.push(send(channelId, chatId, text))
    switch (command.name) {
      case undefined:
        reply(plainTextAnswer)
        return
      case 'help':
      case 'start':
        reply(helpText)
        return
      case 'status':
        reply(statusText(await deps.people.listBots(tenantId)))
        return
      case 'run':
      case 'pause':
      case 'resume': {
        if (!hasRole(user.role, 'editor')) {
          reply(
            `/${command.name} needs the editor role; your role is ${user.role}. /status works for everyone.`,
          )
          return
        }
        if (!command.argument) {
          reply(`Which bot? Write <code>/${command.name} bot name</code>.`)
          return
        }
        const bots = await deps.people.listBots(tenantId)
        const matched = matchBot(bots, command.argument)
        if (!('bot' in matched)) {
          reply(whichBot(command.name, matched, bots))
          return
        }
        const bot = matched.bot
        const name = `<b>${escapeTelegramHtml(bot.name)}</b>`
        if (command.name === 'run') {
          const started = await deps.people.runBot(tenantId, bot.id, key)
          if ('dropped' in started) {
            reply(`${name} was not started: ${escapeTelegramHtml(started.dropped)}`)
            return
          }
          reply(`▶️ Started ${name}. I will send the result here when it is done.`)
          plan.writes.push((trx) => awaitResult(trx, tenantId, channelId, String(chatId), started.runId))
          return
        }
        const enabled = command.name === 'resume'
        await deps.people.setBotEnabled(tenantId, bot.id, enabled)
        reply(
          enabled
            ? `▶️ ${name} is running on its schedule again.`
            : `⏸️ Paused ${name}: its schedule does not fire until you /resume it.`,
        )
        return
      }
      default:
        reply(`I do not know /${escapeTelegramHtml(command.name)}.\n\n${helpText}`)
    }
  }

  /** The wrong link codes counted under `key` (a Telegram user, or the whole channel) in the current window. */
  async function wrongCodesOf(trx: Kysely<Tables>, channelId: string, key: string, now: number) {
    const row = await withTelegramTables(trx)
      .selectFrom('telegram_strangers')
      .select(['wrong_codes', 'wrong_codes_since'])
      .where('channel_id', '=', channelId)
      .where('chat_id', '=', key)
      .executeTakeFirst()
    const since = row?.wrong_codes_since ?? null
    return since !== null && Number(since) > now - wrongCodeWindowMs ? Number(row!.wrong_codes) : 0
  }

  /**
   * Counts one wrong code under `key` in one statement (concurrent deliveries lose no count); a
   * window that has passed starts again at 1. Returns the count.
   */
  async function countWrongCode(trx: Kysely<Tables>, channelId: string, key: string, now: number) {
    const row = await withTelegramTables(trx)
      .insertInto('telegram_strangers')
      // A new row: the stranger was told how to link with the refusal of the code.
      .values({
        channel_id: channelId,
        chat_id: key,
        refused_at: now,
        wrong_codes: 1,
        wrong_codes_since: now,
      })
      .onConflict((oc) =>
        oc.columns(['channel_id', 'chat_id']).doUpdateSet((eb) => {
          const lapsed = eb.or([
            eb('telegram_strangers.wrong_codes_since', 'is', null),
            eb('telegram_strangers.wrong_codes_since', '<=', now - wrongCodeWindowMs),
          ])
          return {
            wrong_codes: eb
              .case()
              .when(lapsed)
              .then(1)
              .else(eb('telegram_strangers.wrong_codes', '+', 1))
              .end(),
            wrong_codes_since: eb
              .case()
              .when(lapsed)
              .then(now)
              .else(eb.ref('telegram_strangers.wrong_codes_since'))
              .end(),
          }
        }),
      )
      .returning('wrong_codes')
      .executeTakeFirstOrThrow()
    return Number(row.wrong_codes)
  }

  async function useLinkCode(
    trx: Kysely<Tables>,
    tenantId: string,
    channelId: string,
    person: string,
    code: string,
    plan: Plan,
    chatId: number,
    email: string | undefined,
  ): Promise<void> {
    const tdb = withTelegramTables(trx)
    const now = clock.now()
    const reply = (text: string) => plan.replies.push(send(channelId, chatId, text))
    const refuseOnce = async (kind: NoticeKind, text: string) => {
      if (await firstNotice(trx, channelId, person, kind)) reply(text)
    }
    // The channel's cap first: past it even a right code waits, so guessing together buys nothing.
    if ((await wrongCodesOf(trx, channelId, channelWrongCodesKey, now)) >= maxWrongCodesPerChannel) {
      await refuseOnce('linking-paused', linkingPausedRefusal)
      return
    }
    if ((await wrongCodesOf(trx, channelId, person, now)) >= maxWrongCodes) {
      await refuseOnce('wrong-codes', tooManyCodesRefusal)
      return
    }
    const used = /^\d{6}$/.test(code)
      ? await tdb
          .updateTable('telegram_link_codes')
          .set({ used_at: now })
          .where('code_hash', '=', codeHash(channelId, code))
          .where('channel_id', '=', channelId)
          .where('tenant_id', '=', tenantId)
          .where('used_at', 'is', null)
          .where('expires_at', '>', now)
          .returning(['user_id'])
          .executeTakeFirst()
      : undefined
    if (!used) {
      await countWrongCode(trx, channelId, person, now)
      if ((await countWrongCode(trx, channelId, channelWrongCodesKey, now)) === maxWrongCodesPerChannel)
        log.warn(
          { tenantId, channelId, wrongCodes: maxWrongCodesPerChannel },
          'telegram: too many wrong link codes on this channel; linking paused for the hour',
        )
      reply(
        'That code does not work: it is wrong, used or older than 10 minutes. Make a new one in the dashboard (<b>Account → Telegram</b>) and send <code>/link 123456</code>.',
      )
      return
    }
    await tdb
      .insertInto('telegram_links')
      .values({
        channel_id: channelId,
        chat_id: person,
        tenant_id: tenantId,
        user_id: used.user_id,
        linked_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['channel_id', 'chat_id'])
          .doUpdateSet({ user_id: used.user_id, tenant_id: tenantId, linked_at: now }),
      )
      .execute()
    // The wrong codes stay counted (a link of one's own must not buy more guesses at others' codes);
    // only the polite refusal is owed again should the chat be unlinked.
    await tdb
      .updateTable('telegram_strangers')
      .set({ refused_at: 0 })
      .where('channel_id', '=', channelId)
      .where('chat_id', '=', person)
      .execute()
    log.info({ tenantId, channelId, chatId: person, userId: used.user_id }, 'telegram chat linked')
    reply(`✅ Linked to ${escapeTelegramHtml(email ?? 'your account')}.\n\n${helpText}`)
  }

  /** Remembers where a `/run`'s result goes; a run that ended already is answered at once. */
  async function awaitResult(
    trx: Kysely<Tables>,
    tenantId: string,
    channelId: string,
    chatId: string,
    runId: string,
  ) {
    await withTelegramTables(trx)
      .insertInto('telegram_run_replies')
      .values({
        run_id: runId,
        tenant_id: tenantId,
        channel_id: channelId,
        chat_id: chatId,
        created_at: clock.now(),
      })
      .onConflict((oc) => oc.column('run_id').doNothing())
      .execute()
    const run = await runIn(trx, tenantId, runId)
    if (run && ['completed', 'failed', 'timeout', 'cancelled'].includes(run.status))
      await enqueueResultIn(trx, tenantId, channelId, chatId, runId)
  }

  async function enqueueResultIn(
    trx: Kysely<Tables>,
    tenantId: string,
    channelId: string,
    chatId: string,
    runId: string,
  ) {
    // One key for both ways here (the consumer and awaitResult): the result is sent once.
    await deps.runs.enqueueManyIn(trx, [
      replyRequest(tenantId, { channelId, chatId, resultOfRunId: runId }, `telegram-result:${runId}`),
    ])
  }

  async function planCallback(
    tenantId: string,
    channelId: string,
    key: string,
    query: Required<TelegramUpdate>['callback_query'],
    plan: Plan,
  ): Promise<void> {
    const answer = (text: string, alert = false) =>
      plan.replies.push(answerCallback(channelId, query.id, text, alert))
    const id = verifyCallback(callbackKey, channelId, query.data ?? '')
    const button = id
      ? await db
          .selectFrom('telegram_callbacks')
          .selectAll()
          .where('id', '=', id)
          .where('channel_id', '=', channelId)
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst()
      : undefined
    if (!button) {
      answer('This button is not valid.', true)
      return
    }
    const linked = await linkOf(channelId, String(query.from.id))
    if (!linked?.user) {
      answer(
        'Link your Telegram to your account first: make a code in the dashboard and send /link 123456 to me.',
        true,
      )
      return
    }
    const user = linked.user
    if (!hasRole(user.role, 'editor')) {
      answer(`You may look but not decide: deciding needs the editor role (yours is ${user.role}).`, true)
      return
    }
    const now = clock.now()
    const alreadyDecided = async () => {
      const approval = await deps.people.approvalOf(tenantId, button.approval_id)
      if (!approval) return 'This approval no longer exists.'
      if (approval.status === 'pending') return 'This button has expired. Decide in the dashboard.'
      return `Already decided: ${approval.status}${await byWhom(approval.decidedByType, approval.decidedById)}.`
    }
    if (button.used_at !== null || Number(button.expires_at) <= now) {
      answer(await alreadyDecided(), true)
      return
    }
    try {
      await deps.people.decideApproval(tenantId, button.approval_id, button.decision, {
        type: 'user',
        id: user.id,
        role: user.role,
        requestId: key,
      })
    } catch (error) {
      if (
        error instanceof AppError &&
        (error.code === 'approval_decided' || error.code === 'approval_not_found')
      ) {
        answer(await alreadyDecided(), true)
        return
      }
      throw error
    }
    const outcome = button.decision === 'approved' ? '✅ Approved' : '❌ Rejected'
    answer(outcome)
    if (query.message)
      plan.replies.push({
        channelId,
        call: {
          method: 'editMessageText',
          params: {
            chat_id: query.message.chat.id,
            message_id: query.message.message_id,
            // The buttons go: the message says what happened instead.
            text:
              truncate(`${query.message.text ?? ''}`, 3_800).replace(/^$/, 'Approval') +
              `\n\n${outcome} by ${user.email}`,
          },
        },
      })
    plan.writes.push(async (trx) => {
      await withTelegramTables(trx)
        .updateTable('telegram_callbacks')
        .set({ used_at: now })
        .where('channel_id', '=', channelId)
        .where('approval_id', '=', button.approval_id)
        .where('used_at', 'is', null)
        .execute()
    })
  }

  async function byWhom(type: string | null, id: string | null): Promise<string> {
    if (type === 'user' && id) return ` by ${(await deps.people.userOf(id))?.email ?? 'a person'}`
    if (type === 'api_key') return ' through the API'
    if (type === 'system') return id === 'expiry' ? ' (it expired)' : ' (its run ended)'
    return ''
  }

  // ---------------------------------------------------------------------------------------------------
  // Approval buttons and run results

  /**
   * The notification executor's hook: an `approval.requested` message to a Telegram channel gets
   * Approve / Reject buttons (two single-use rows, signed callback data). Other messages pass as they are.
   */
  async function decorateNotification(
    tenantId: string,
    channel: { id: string; type: string },
    event: string,
    payload: Record<string, unknown>,
    message: ChannelMessage,
  ): Promise<ChannelMessage> {
    if (
      channel.type !== 'telegram' ||
      event !== 'approval.requested' ||
      typeof payload.approvalId !== 'string'
    )
      return message
    const approvalId = payload.approvalId
    const approval = await deps.people.approvalOf(tenantId, approvalId)
    if (approval?.status !== 'pending') return message
    const now = clock.now()
    const expiresAt = Math.min(now + buttonTtlMs, approval.expiresAt ?? Number.POSITIVE_INFINITY)
    const buttons = (['approved', 'rejected'] as const).map((decision) => ({
      id: newCallbackId(),
      tenant_id: tenantId,
      channel_id: channel.id,
      approval_id: approvalId,
      decision,
      expires_at: expiresAt,
      used_at: null,
      created_at: now,
    }))
    await db.insertInto('telegram_callbacks').values(buttons).execute()
    return {
      ...message,
      replyMarkup: {
        inline_keyboard: [
          buttons.map((button) => ({
            text: button.decision === 'approved' ? '✅ Approve' : '❌ Reject',
            callback_data: signCallback(callbackKey, channel.id, button.id),
          })),
        ],
      },
    } as ChannelMessage
  }

  /**
   * The outbox consumer (in its cursor's transaction, no I/O): a run that a `/run` started has ended,
   * so its result is sent to the chat by a reply run.
   */
  async function onEvents(
    events: Array<{ type: string; tenantId: string; runId: string }>,
    trx: Kysely<Tables>,
  ) {
    for (const event of events) {
      if (!['run.completed', 'run.failed', 'run.timeout', 'run.cancelled'].includes(event.type)) continue
      const waiting = await withTelegramTables(trx)
        .selectFrom('telegram_run_replies')
        .selectAll()
        .where('run_id', '=', event.runId)
        .where('tenant_id', '=', event.tenantId)
        .executeTakeFirst()
      if (!waiting) continue
      await enqueueResultIn(trx, waiting.tenant_id, waiting.channel_id, waiting.chat_id, waiting.run_id)
    }
  }

  /** Forgets handled update ids older than a week, used codes and spent buttons. */
  async function prune(): Promise<void> {
    const now = clock.now()
    await db
      .deleteFrom('telegram_updates')
      .where('processed_at', '<', now - processedUpdatesKeepMs)
      .execute()
    await db
      .deleteFrom('telegram_link_codes')
      .where('expires_at', '<', now - 86_400_000)
      .execute()
    await db
      .deleteFrom('telegram_callbacks')
      .where('expires_at', '<', now - 86_400_000)
      .execute()
    await db
      .deleteFrom('telegram_run_replies')
      .where('created_at', '<', now - processedUpdatesKeepMs)
      .execute()
    // A refusal said longer ago than its window may be said again anyway.
    await db
      .deleteFrom('telegram_strangers')
      .where('chat_id', 'like', 'notice:%')
      .where('refused_at', '<', now - noticeWindowMs)
      .execute()
  }

  return {
    createLinkCode,
    state,
    unlink,
    setInbound,
    checkWebhook,
    handleUpdate,
    decorateNotification,
    onEvents,
    prune,
    apiOf,
    telegramChannel,
    isWorkspaceDisabled,
    /** The channels that receive by polling, for the poller: every enabled workspace's. */
    async pollingChannels(): Promise<Array<{ channelId: string; tenantId: string }>> {
      const rows = await db
        .selectFrom('telegram_inbound')
        .select(['channel_id', 'tenant_id'])
        .where('mode', '=', 'polling')
        .execute()
      const disabled = new Set((await disabledTenantIds(database.db).execute()).map((row) => row.tenant_id))
      return rows
        .filter((row) => !disabled.has(row.tenant_id))
        .map((row) => ({ channelId: row.channel_id, tenantId: row.tenant_id }))
    },
    notFoundChannel: (id: string) =>
      notFound('channel_not_found', `Channel ${id} does not exist in this workspace.`),
  }
}
