import { approvalPageSchema, telegramInboundSchema, telegramLinkCodeSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { createTestKernel, testLog, waitFor } from '../../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../../test/provider-servers/index.ts'
import { startTelegramServer, type TelegramServer } from '../../../test/telegram-server.ts'
import { telegramPeopleOf } from '../../main.ts'
import { redactUrl } from '../../platform/logger.ts'
import { builtInChannelAdapters } from '../adapters/index.ts'
import { createChannels } from '../channels.ts'
import { withTelegramTables } from './telegram.table.ts'

// Telegram inbound (issue 14) on both engines against the local Bot API: linking with one-time codes,
// the commands with the linked person's current role, approval buttons, the webhook's secrets, and
// long polling by two processes of one database handling each update once.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'
const password = 'violet tram over the quiet river'
const anna = 7001
const victor = 7002
const stranger = 7003

describe.each(dialects)('telegram inbound on %s', (dialect) => {
  let t: TestApp
  let tg: TelegramServer
  let model: ProviderServer | undefined
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
    await model?.close()
    model = undefined
    await t?.close()
    await tg?.close()
  })

  const call = (method: string, url: string, credential: string, payload?: object) =>
    t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: bearer(credential),
      ...(payload === undefined ? {} : { payload }),
    })

  async function person(email: string, role: 'viewer' | 'editor') {
    await t.users.createUser({ tenantId, email, password, role })
    return (await t.users.login(email, password)).accessToken
  }

  /** The app, the Bot API stand-in, a Telegram channel whose chat is Anna's, and the kernel running. */
  async function setUp(
    options: { inbound?: 'polling' | 'off'; rateLimits?: Parameters<typeof createTestApp>[1] } = {},
  ) {
    tg = await startTelegramServer()
    t = await createTestApp(dialect, options.rateLimits)
    const created = await call('POST', '/channels', t.keys.editor, {
      type: 'telegram',
      name: 'Phone',
      config: { botToken: tg.token, chatId: String(anna), apiBaseUrl: tg.url },
    })
    expect(created.statusCode, created.body).toBe(201)
    const channelId = created.json().id as string
    if ((options.inbound ?? 'polling') === 'polling') {
      const set = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
        mode: 'polling',
      })
      expect(set.statusCode, set.body).toBe(200)
      t.channels.telegram!.poller.start()
    }
    t.startKernel()
    return channelId
  }

  async function linkCode(channelId: string, credential: string) {
    const made = await call('POST', `/channels/${channelId}/telegram/link-code`, credential)
    expect(made.statusCode, made.body).toBe(201)
    return telegramLinkCodeSchema.parse(made.json()).code
  }

  const textsTo = (chatId: number) =>
    tg.sent.filter((message) => String(message.chatId) === String(chatId)).map((message) => message.text)
  /** Sends `text` from `chatId` and waits for the chat's answer number `count` (1-based, all answers so far). */
  async function say(chatId: number, text: string, expectAnswers = 1): Promise<string> {
    const before = textsTo(chatId).length
    tg.pushMessage({ id: chatId, first_name: 'Someone' }, text)
    const texts = await waitFor(
      () => (textsTo(chatId).length >= before + expectAnswers ? textsTo(chatId) : undefined),
      {
        what: `an answer to "${text}"`,
      },
    )
    return texts.slice(before).join('\n---\n')
  }

  async function linked(channelId: string, chatId: number, email: string, role: 'viewer' | 'editor') {
    const token = await person(email, role)
    const code = await linkCode(channelId, token)
    expect(await say(chatId, `/link ${code}`)).toContain(`Linked to ${email}`)
    return token
  }

  async function botWithModel(name: string, steps: Array<Record<string, unknown>>) {
    model ??= await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await call('PUT', '/providers/openai', t.keys.admin, {
      apiKey: key,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.setBehaviour({ type: 'script', steps: steps as never })
    return t.bots.service.create(tenantId, {
      name,
      prompt: 'Look.',
      provider: 'openai',
      retryDelaySeconds: 0,
      ...(steps.some((step) => step.type === 'tool_calls') ? { tools: ['files'] } : {}),
    })
  }

  it('links a chat with a one-time code; wrong, reused and expired codes are refused; a stranger is refused once', async () => {
    const channelId = await setUp()
    // A service key has no person to link to.
    const serviceKey = await call('POST', `/channels/${channelId}/telegram/link-code`, t.keys.editor)
    expect(serviceKey.statusCode).toBe(400)
    expect(serviceKey.json().code).toBe('person_required')

    expect(await say(stranger, 'hello')).toContain('belongs to an openOrchestrator workspace')
    // Then silence, however often it writes.
    tg.pushMessage({ id: stranger }, '/status')
    tg.pushMessage({ id: stranger }, 'hello?')
    await waitFor(async () => {
      const rows = await withTelegramTables(t.database.db)
        .selectFrom('telegram_updates')
        .select('update_id')
        .execute()
      return rows.length === 3 ? true : undefined
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(textsTo(stranger)).toHaveLength(1)

    const annaToken = await person('anna@example.com', 'editor')
    const code = await linkCode(channelId, annaToken)
    const wrong = code === '000000' ? '000001' : '000000'
    expect(await say(anna, `/link ${wrong}`)).toContain('That code does not work')
    expect(await say(anna, `/link ${code}`)).toContain('Linked to anna@example.com')
    // Used once: another chat cannot use it again.
    expect(await say(victor, `/link ${code}`)).toContain('That code does not work')
    // Expired after 10 minutes (moved into the past here).
    const late = await linkCode(channelId, annaToken)
    await withTelegramTables(t.database.db)
      .updateTable('telegram_link_codes')
      .set({ expires_at: Date.now() - 1 })
      .where('used_at', 'is', null)
      .execute()
    expect(await say(victor, `/link ${late}`)).toContain('That code does not work')
    // In a group, a link is refused (the chat would act for the person).
    tg.pushUpdate({
      message: {
        message_id: 1,
        from: { id: victor, is_bot: false },
        chat: { id: -100, type: 'group' },
        text: '/link 123456',
      },
    })
    await waitFor(() => (textsTo(-100).length > 0 ? true : undefined))
    expect(textsTo(-100)[0]).toContain('private chat')

    const state = telegramInboundSchema.parse(
      (await call('GET', `/channels/${channelId}/telegram`, t.keys.viewer)).json(),
    )
    expect(state.mode).toBe('polling')
    expect(state.linkedChats.map((chat) => chat.chatId)).toEqual([String(anna)])

    // Unlinking: Victor may not remove Anna's link (it reads as none to him), an admin may, and so may
    // Anna herself; afterwards her chat is a stranger's again.
    const victorToken = await person('victor@example.com', 'editor')
    const unlink = (credential: string, chatId = String(anna)) =>
      call('DELETE', `/channels/${channelId}/telegram/links/${chatId}`, credential)
    const refused = await unlink(victorToken)
    expect(refused.statusCode).toBe(404)
    expect(refused.json().code).toBe('telegram_link_not_found')
    expect((await unlink(annaToken)).statusCode).toBe(204)
    expect((await unlink(annaToken)).statusCode).toBe(404)
    expect(await say(anna, '/status')).toContain('belongs to an openOrchestrator workspace')
    expect(await say(anna, `/link ${await linkCode(channelId, annaToken)}`)).toContain('Linked to')
    expect((await unlink(t.keys.admin)).statusCode).toBe(204)
    expect(
      telegramInboundSchema.parse(
        (await call('GET', `/channels/${channelId}/telegram`, t.keys.viewer)).json(),
      ).linkedChats,
    ).toEqual([])
    // The codes are kept as HMACs only.
    const stored = await withTelegramTables(t.database.db)
      .selectFrom('telegram_link_codes')
      .select('code_hash')
      .execute()
    expect(stored.every((row) => row.code_hash !== code && !row.code_hash.includes(code))).toBe(true)
  })

  it('runs, pauses and resumes bots by name with the linked person’s current role; /status, /help and plain text', async () => {
    const channelId = await setUp()
    const scout = await botWithModel('Sneaker scout', [{ type: 'success', text: 'Found **3** new offers' }])
    await t.bots.service.create(tenantId, { name: 'Sneaker watch', prompt: 'Look.', provider: 'openai' })
    await linked(channelId, anna, 'anna@example.com', 'editor')
    await linked(channelId, victor, 'victor@example.com', 'viewer')

    expect(await say(anna, 'what can you do?')).toContain('I only understand commands')
    expect(await say(anna, '/help')).toContain('/run')
    expect(await say(anna, '/frobnicate')).toContain('I do not know /frobnicate')
    expect(await say(anna, '/run sneaker')).toContain('Several bots match')
    expect(await say(anna, '/run dishwasher')).toContain('I know no bot by that name')

    // Started, then the result when the run is done.
    const answers = await say(anna, '/run SNEAKER SCOUT', 2)
    expect(answers).toContain('Started <b>Sneaker scout</b>')
    expect(answers).toContain('Found <b>3</b> new offers')
    const run = await t.database.db
      .selectFrom('runs')
      .select('trigger')
      .where('subject_id', '=', scout.id)
      .where('kind', '=', 'bot')
      .executeTakeFirst()
    expect(run?.trigger).toBe('channel')

    expect(await say(anna, '/status')).toMatch(
      /Sneaker scout[\s\S]*Found 3 new offers|Sneaker scout[\s\S]*✅/,
    )
    expect(await say(victor, '/status')).toContain('Sneaker watch')
    // A viewer may look, not act.
    expect(await say(victor, '/pause sneaker scout')).toContain('needs the editor role')
    expect(await say(anna, '/pause sneaker scout')).toContain('Paused <b>Sneaker scout</b>')
    expect((await t.bots.service.get(tenantId, scout.id)).enabled).toBe(false)
    expect(await say(anna, '/resume Sneaker Scout')).toContain('running on its schedule again')
    expect((await t.bots.service.get(tenantId, scout.id)).enabled).toBe(true)
    // The role is read at use time: demoted, Anna may no longer pause.
    await t.database.db
      .updateTable('users')
      .set({ role: 'viewer' })
      .where('email', '=', 'anna@example.com')
      .execute()
    expect(await say(anna, '/pause sneaker scout')).toContain('needs the editor role')
  })

  it('approval requests carry signed buttons: approve once as an editor; viewers, expired, forged and second presses are answered in words', async () => {
    const channelId = await setUp()
    const events = await call('PUT', `/channels/${channelId}/events`, t.keys.editor, {
      types: ['approval.requested'],
    })
    expect(events.statusCode, events.body).toBe(200)
    await linked(channelId, anna, 'anna@example.com', 'editor')
    await linked(channelId, victor, 'victor@example.com', 'viewer')
    const bot = await botWithModel('Librarian', [
      { type: 'tool_calls', calls: [{ name: 'files_write', arguments: { name: 'old.txt', content: 'x' } }] },
      {
        type: 'tool_calls',
        text: 'Outdated.',
        calls: [{ name: 'files_delete', arguments: { name: 'old.txt' } }],
      },
      { type: 'success', text: 'Deleted the old list.' },
    ])
    const started = await t.bots.service.runNow(tenantId, bot.id, { trigger: 'manual' })
    if (started.status === 'dropped') throw new Error('dropped')
    const request = await waitFor(() => tg.sent.find((message) => message.replyMarkup !== undefined), {
      what: 'the approval message with buttons',
    })
    expect(request.text).toContain('asks for approval')
    const buttons = (
      request.replyMarkup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> }
    ).inline_keyboard[0]!
    expect(buttons.map((button) => button.text)).toEqual(['✅ Approve', '❌ Reject'])
    for (const button of buttons) expect(Buffer.byteLength(button.callback_data)).toBeLessThanOrEqual(64)
    const [approve, reject] = buttons as [(typeof buttons)[0], (typeof buttons)[0]]

    const press = async (from: number, data: string) => {
      const before = tg.answered.length
      tg.pushCallback({ id: from }, request, data)
      return (await waitFor(() => tg.answered[before], { what: 'the callback answer' })).text ?? ''
    }
    expect(await press(victor, approve.callback_data)).toContain('You may look but not decide')
    expect(await press(stranger, approve.callback_data)).toContain('Link your Telegram')
    expect(await press(anna, `${approve.callback_data.slice(0, -2)}xx`)).toContain('not valid')
    // The reject button expired (moved into the past here): the approval stays pending.
    const rejectId = reject.callback_data.split('.')[1]!
    await withTelegramTables(t.database.db)
      .updateTable('telegram_callbacks')
      .set({ expires_at: Date.now() - 1 })
      .where('id', '=', rejectId)
      .execute()
    expect(await press(anna, reject.callback_data)).toContain('expired')
    const pending = approvalPageSchema.parse(
      (await call('GET', `/approvals?status=pending&runId=${started.run.id}`, t.keys.viewer)).json(),
    ).items
    expect(pending).toHaveLength(1)

    expect(await press(anna, approve.callback_data)).toBe('✅ Approved')
    await waitFor(() => tg.edited.find((edit) => edit.messageId === request.messageId), {
      what: 'the edited message',
    })
    expect(tg.edited.at(-1)!.text).toContain('✅ Approved by anna@example.com')
    const decided = await waitFor(async () => {
      const page = approvalPageSchema.parse(
        (await call('GET', `/approvals?runId=${started.run.id}`, t.keys.viewer)).json(),
      )
      return page.items[0]?.status === 'approved' ? page.items[0] : undefined
    })
    expect(decided.status).toBe('approved')
    // Pressed again, either button: already decided, by whom.
    expect(await press(anna, approve.callback_data)).toContain(
      'Already decided: approved by anna@example.com',
    )
    await withTelegramTables(t.database.db)
      .updateTable('telegram_callbacks')
      .set({ expires_at: Date.now() + 60_000 })
      .where('id', '=', rejectId)
      .execute()
    expect(await press(anna, reject.callback_data)).toContain('Already decided: approved by anna@example.com')
  })

  it('webhook: registered with a secret path and token; a wrong token is 403 without effect; an update is handled once', async () => {
    const channelId = await setUp({
      inbound: 'off',
      rateLimits: {
        rateLimits: { perKeyPerMinute: 600, perTenantPerMinute: 3000, publicWebhookPerAddressPerMinute: 12 },
      },
    })
    const noUrl = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'webhook',
    })
    expect(noUrl.statusCode).toBe(400)
    expect(noUrl.json().code).toBe('public_url_missing')
    const editor = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.editor, {
      mode: 'webhook',
      url: 'https://orch.example.com',
    })
    expect(editor.statusCode).toBe(403)
    const set = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'webhook',
      url: 'https://orch.example.com',
    })
    expect(set.statusCode, set.body).toBe(200)
    const state = telegramInboundSchema.parse(set.json())
    expect(state.mode).toBe('webhook')
    expect(tg.webhook?.url).toMatch(
      new RegExp(`^https://orch\\.example\\.com/api/v1/channels/${channelId}/telegram/[\\w-]{32}$`),
    )
    const path = new URL(tg.webhook!.url).pathname
    const secretToken = tg.webhook!.secretToken!
    // The path's secret never shows: not in the state, not in a log line.
    expect(state.webhookUrl).not.toContain(path.split('/').at(-1))
    expect(redactUrl(path)).not.toContain(path.split('/').at(-1))

    const update = {
      update_id: 500,
      message: { message_id: 1, from: { id: stranger }, chat: { id: stranger, type: 'private' }, text: 'hi' },
    }
    const post = (url: string, token: string | undefined, body: object = update) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: token === undefined ? {} : { 'x-telegram-bot-api-secret-token': token },
        payload: body,
      })
    const updatesHandled = async () =>
      (await withTelegramTables(t.database.db).selectFrom('telegram_updates').select('update_id').execute())
        .length
    expect((await post(path, 'wrong-token')).statusCode).toBe(403)
    expect((await post(path, undefined)).statusCode).toBe(403)
    expect((await post(`${path.slice(0, -4)}abcd`, secretToken)).statusCode).toBe(404)
    expect(
      (await post(`/api/v1/channels/nope/telegram/${path.split('/').at(-1)}`, secretToken)).statusCode,
    ).toBe(404)
    expect(await updatesHandled()).toBe(0)
    const first = await post(path, secretToken)
    expect(first.statusCode, first.body).toBe(200)
    // Telegram delivers again (it did not see our answer): handled once.
    expect((await post(path, secretToken)).statusCode).toBe(200)
    await waitFor(() => (textsTo(stranger).length > 0 ? true : undefined))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(textsTo(stranger)).toHaveLength(1)
    expect(await updatesHandled()).toBe(1)

    // Back to polling: the webhook is removed at Telegram.
    const back = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'polling',
    })
    expect(back.statusCode, back.body).toBe(200)
    expect(tg.webhook).toBeUndefined()
    expect((await post(path, secretToken)).statusCode).toBe(404)

    // An address that guesses secrets is refused before any is looked up (12 a minute here, this
    // test's earlier requests included), and then so is everything else from it.
    let guesses = 0
    while ((await post(`${path.slice(0, -4)}zz${guesses}`, secretToken)).statusCode === 404) guesses++
    expect(guesses).toBeLessThan(12)
    const limited = await post(path, secretToken)
    expect(limited.statusCode).toBe(429)
    expect(limited.json().code).toBe('rate_limited')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('two processes polling one channel: one holds the lease, the other takes over when it stops; each update is handled once', async () => {
    const channelId = await setUp()
    await linked(channelId, anna, 'anna@example.com', 'editor')
    // A second process on the same database: its own connection, kernel (not started) and poller.
    const second = await t.openSecond()
    const kernel2 = createTestKernel(second, { bus: t.kernel.bus })
    const channels2 = createChannels({
      database: second,
      clock: t.kernel.clock,
      vault: t.vault,
      kernel: kernel2,
      egress: t.channels.egress,
      adapters: builtInChannelAdapters,
      botOf: t.bots.botOf,
      telegram: {
        log: testLog,
        people: telegramPeopleOf({ bots: t.bots, approvals: t.approvals, users: t.users }),
        polling: { leaseMs: 6_000, scanIntervalMs: 100, longPollSeconds: 1 },
      },
    })
    const poller2 = channels2.telegram!.poller
    poller2.start()
    cleanups.push(() => poller2.stop())

    for (let i = 0; i < 6; i++) tg.pushMessage({ id: anna }, `/help ${i}`)
    await waitFor(() => (textsTo(anna).length >= 7 ? true : undefined), { what: 'six answers' })
    // Whoever holds the lease stops; the other takes over (the lease is given back on stop).
    const holder = (
      await withTelegramTables(t.database.db)
        .selectFrom('telegram_inbound')
        .select('poll_owner')
        .executeTakeFirstOrThrow()
    ).poll_owner
    if (holder === poller2.owner) await poller2.stop()
    else await t.channels.telegram!.poller.stop()
    for (let i = 0; i < 6; i++) tg.pushMessage({ id: anna }, `/help ${i + 6}`)
    await waitFor(() => (textsTo(anna).length >= 13 ? true : undefined), { what: 'six more answers' })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    // The link's answer and one per update, none twice.
    expect(textsTo(anna)).toHaveLength(13)
    const handled = await withTelegramTables(t.database.db)
      .selectFrom('telegram_updates')
      .select('update_id')
      .execute()
    expect(handled).toHaveLength(13)
    // The other process holds the lease now.
    const now = (
      await withTelegramTables(t.database.db)
        .selectFrom('telegram_inbound')
        .select('poll_owner')
        .executeTakeFirstOrThrow()
    ).poll_owner
    expect(now).not.toBeNull()
    expect(now).not.toBe(holder)
    expect([holder, now]).toContain(poller2.owner)
  })
})
