import { approvalPageSchema, telegramInboundSchema, telegramLinkCodeSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, insertProviderRow, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { createTestKernel, testLog, waitFor } from '../../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../../test/provider-servers/index.ts'
import { startTelegramServer, type TelegramServer } from '../../../test/telegram-server.ts'
import { telegramPeopleOf } from '../../main.ts'
import { redactUrl } from '../../platform/logger.ts'
import { builtInChannelAdapters } from '../adapters/index.ts'
import { createChannels } from '../channels.ts'
import { withTelegramTables } from './telegram.table.ts'
import { helpText } from './telegram-commands.ts'

// Telegram inbound (issue 14) on both engines against the local Bot API: linking with one-time codes,
// the commands with the linked person's current role, approval buttons, the webhook's secrets, and
// long polling by two processes of one database handling each update once.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'
const password = 'violet tram over the quiet river'
const anna = 7001
const victor = 7002
const stranger = 7003

/** The system's time plus what the test moved it on by: runs, leases and windows all see the same hour pass. */
function movableClock() {
  let offset = 0
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms
    },
  }
}

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

  async function person(email: string, role: 'viewer' | 'editor' | 'admin') {
    await t.users.createUser({ tenantId, email, password, role })
    return (await t.users.login(email, password)).accessToken
  }

  /** The app, the Bot API stand-in, a Telegram channel whose chat is Anna's, and the kernel running. */
  async function setUp(
    options: {
      inbound?: 'polling' | 'off'
      rateLimits?: Parameters<typeof createTestApp>[1]
      clock?: ReturnType<typeof movableClock>
      /** The channel's own chat (default: Anna's private chat). */
      chatId?: number
    } = {},
  ) {
    tg = await startTelegramServer()
    t = await createTestApp(dialect, {
      ...options.rateLimits,
      ...(options.clock ? { kernel: { clock: options.clock } } : {}),
    })
    const created = await call('POST', '/channels', t.keys.editor, {
      type: 'telegram',
      name: 'Phone',
      config: { botToken: tg.token, chatId: String(options.chatId ?? anna), apiBaseUrl: tg.url },
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

  /** Pushes `text` from Telegram user `from` in chat `chatId` (a group unless the two are the same). */
  function pushIn(chatId: number, from: number, text: string): number {
    const update = tg.pushUpdate({
      message: {
        message_id: 9_000 + tg.requests.length,
        from: { id: from, is_bot: false, first_name: 'Someone' },
        chat:
          chatId === from ? { id: chatId, type: 'private' } : { id: chatId, type: 'group', title: 'Team' },
        date: Math.floor(Date.now() / 1000),
        text,
      },
    })
    return Number(update.update_id)
  }
  /** Says `text` in a group and waits for the group's next answer. */
  async function sayIn(chatId: number, from: number, text: string): Promise<string> {
    const before = textsTo(chatId).length
    pushIn(chatId, from, text)
    const texts = await waitFor(() => (textsTo(chatId).length > before ? textsTo(chatId) : undefined), {
      what: `an answer to "${text}" in chat ${chatId}`,
    })
    return texts.slice(before).join('\n---\n')
  }
  const replyRuns = async () =>
    (
      await t.database.db
        .selectFrom('runs')
        .select(['id', 'status'])
        .where('kind', '=', 'telegram_reply')
        .execute()
    ).map((run) => run.status)
  /**
   * Sends `text` and expects silence: the update is handled (recorded), no answer is queued as a run
   * and none reaches the chat.
   */
  async function silence(chatId: number, text: string, from = chatId) {
    const before = textsTo(chatId).length
    const runsBefore = (await replyRuns()).length
    const updateId = pushIn(chatId, from, text)
    await waitFor(
      async () =>
        (await withTelegramTables(t.database.db)
          .selectFrom('telegram_updates')
          .select('update_id')
          .where('update_id', '=', updateId)
          .executeTakeFirst()) !== undefined,
      { what: `"${text}" handled` },
    )
    await waitFor(async () => (await replyRuns()).every((status) => !['pending', 'running'].includes(status)))
    expect(await replyRuns()).toHaveLength(runsBefore)
    expect(textsTo(chatId).slice(before)).toEqual([])
  }

  async function linked(
    channelId: string,
    chatId: number,
    email: string,
    role: 'viewer' | 'editor' | 'admin',
  ) {
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
      (await call('GET', `/channels/${channelId}/telegram`, t.keys.admin)).json(),
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
      telegramInboundSchema.parse((await call('GET', `/channels/${channelId}/telegram`, t.keys.admin)).json())
        .linkedChats,
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

    // Back to polling: the webhook is removed at Telegram, and its address is gone.
    const back = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'polling',
    })
    expect(back.statusCode, back.body).toBe(200)
    expect(tg.webhook).toBeUndefined()
    expect((await post(path, secretToken)).statusCode).toBe(404)
  })

  it('webhook: only refused requests count against an address; past the limit its guesses get 429, while the right path and header always get through', async () => {
    const channelId = await setUp({
      inbound: 'off',
      rateLimits: {
        rateLimits: { perKeyPerMinute: 600, perTenantPerMinute: 3000, publicWebhookPerAddressPerMinute: 12 },
      },
    })
    const set = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'webhook',
      url: 'https://orch.example.com',
    })
    expect(set.statusCode, set.body).toBe(200)
    const path = new URL(tg.webhook!.url).pathname
    const secretToken = tg.webhook!.secretToken!
    let updateId = 600
    const update = () => ({
      update_id: updateId++,
      message: { message_id: 1, from: { id: stranger }, chat: { id: stranger, type: 'private' }, text: 'hi' },
    })
    const post = (address: string, url: string, token: string) =>
      t.app.inject({
        method: 'POST',
        url,
        remoteAddress: address,
        headers: { 'x-telegram-bot-api-secret-token': token },
        payload: update(),
      })
    const guesser = '198.51.100.7'
    const telegram = '149.154.167.197'
    // Deliveries are not counted: Telegram may post far more than 12 a minute.
    for (let i = 0; i < 20; i++) expect((await post(telegram, path, secretToken)).statusCode).toBe(200)
    // Twelve refusals a minute from one address (wrong paths, a wrong header), then 429 for every
    // further refused-looking request: a wrong path or the right path with a wrong header.
    let guesses = 0
    while ((await post(guesser, `${path.slice(0, -4)}zz${guesses}`, secretToken)).statusCode === 404)
      guesses++
    expect(guesses).toBe(12)
    const limited = await post(guesser, `${path.slice(0, -4)}zzzz`, secretToken)
    expect(limited.statusCode).toBe(429)
    expect(limited.json().code).toBe('rate_limited')
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect((await post(guesser, path, 'wrong-token')).statusCode).toBe(429)
    // The right path and header are never limited by address, not even from the guesser's.
    expect((await post(guesser, path, secretToken)).statusCode).toBe(200)
    expect((await post(telegram, path, secretToken)).statusCode).toBe(200)
    // Another address's refusals are its own.
    expect((await post(telegram, `${path.slice(0, -4)}abcd`, secretToken)).statusCode).toBe(404)
    expect((await post(telegram, path, 'wrong-token')).statusCode).toBe(403)
    const handled = await withTelegramTables(t.database.db)
      .selectFrom('telegram_updates')
      .select('update_id')
      .execute()
    expect(handled).toHaveLength(22)
  })

  it('a link does not reset the wrong-code count: five wrong codes an hour per Telegram user, the refusal said once, then silence', async () => {
    const clock = movableClock()
    const channelId = await setUp({ clock })
    const annaToken = await person('anna@example.com', 'editor')
    const wrongFor = (code: string) => (code === '000000' ? '000001' : '000000')
    let code = await linkCode(channelId, annaToken)
    for (let i = 0; i < 4; i++)
      expect(await say(anna, `/link ${wrongFor(code)}`)).toContain('That code does not work')
    // Her own fresh code links, and the four wrong ones still count: links of her own between
    // guesses at other people's codes buy no more guesses.
    expect(await say(anna, `/link ${code}`)).toContain('Linked to anna@example.com')
    code = await linkCode(channelId, annaToken)
    expect(await say(anna, `/link ${wrongFor(code)}`)).toContain('That code does not work')
    expect(await say(anna, `/link ${code}`)).toContain('Too many wrong codes')
    // Said once: further tries, right or wrong, get silence and queue no answer.
    await silence(anna, `/link ${code}`)
    await silence(anna, `/link ${wrongFor(code)}`)
    // An hour later she may try again.
    clock.advance(61 * 60_000)
    const fresh = await linkCode(channelId, (await t.users.login('anna@example.com', password)).accessToken)
    expect(await say(anna, `/link ${fresh}`)).toContain('Linked to anna@example.com')
  })

  it('caps the wrong codes of all chats together: past 30 an hour every /link on the channel is refused in words, once per chat', async () => {
    const clock = movableClock()
    const channelId = await setUp({ clock })
    const annaToken = await person('anna@example.com', 'editor')
    const code = await linkCode(channelId, annaToken)
    const wrong = code === '000000' ? '000001' : '000000'
    // Six chats with five wrong codes each: none is past its own limit, the channel is at its cap.
    const guessers = [8001, 8002, 8003, 8004, 8005, 8006]
    for (const guesser of guessers)
      for (let i = 0; i < 5; i++) tg.pushMessage({ id: guesser }, `/link ${wrong}`)
    await waitFor(() => (guessers.every((guesser) => textsTo(guesser).length === 5) ? true : undefined), {
      what: 'thirty refusals',
    })
    // Now every /link is refused, a right code too, and no code is tried: said once per chat.
    expect(await say(anna, `/link ${code}`)).toContain('too many wrong link codes')
    await silence(anna, `/link ${code}`)
    for (const chat of [8001, 8007]) {
      expect(await say(chat, `/link ${wrong}`)).toContain('too many wrong link codes')
      await silence(chat, `/link ${wrong}`)
    }
    // The hour passes: linking works again.
    clock.advance(61 * 60_000)
    const fresh = await linkCode(channelId, (await t.users.login('anna@example.com', password)).accessToken)
    expect(await say(anna, `/link ${fresh}`)).toContain('Linked to anna@example.com')
  })

  it('answers commands only in private chats and the channel’s own chat; another group is told once to use a private chat, and a /link in a group is refused once an hour', async () => {
    const channelId = await setUp({ chatId: -300 })
    await linked(channelId, anna, 'anna@example.com', 'editor')
    expect(await say(anna, '/help')).toContain('/run')
    // The channel's own chat is a group here: commands are answered there, plain text is not.
    expect(await sayIn(-300, anna, '/status')).toContain('There are no bots')
    await silence(-300, 'nice weather', anna)
    // Another group: said once to use a private chat; then silence for commands and plain text.
    expect(await sayIn(-200, anna, '/status')).toContain('private chat')
    await silence(-200, '/status', anna)
    await silence(-200, '/run sneaker scout', anna)
    await silence(-200, 'hello bot', anna)
    // Linking in a group is refused, once an hour per group.
    expect(await sayIn(-201, victor, '/link 123456')).toContain('private chat')
    await silence(-201, '/link 123456', victor)
    await silence(-201, '/link 654321', anna)
  })

  it('a disabled workspace obeys no command or button and says so once; its channels are not polled until it is enabled again', async () => {
    const channelId = await setUp()
    await linked(channelId, anna, 'anna@example.com', 'editor')
    await insertProviderRow(t.database, 'ollama', { defaultModel: 'llama3.2' })
    const scout = await t.bots.service.create(tenantId, {
      name: 'Sneaker scout',
      prompt: 'Look.',
      provider: 'ollama',
    })
    const setDisabled = (at: number | null) =>
      t.database.db
        .updateTable('tenants')
        .set({ disabled_at: at })
        .where('tenant_id', '=', tenantId)
        .execute()
    // The API refuses to disable the default workspace (the tests' channel is in it): set by hand.
    await setDisabled(Date.now())

    // Polling stops at the poller's next turn (a long poll under way ends first), and nothing more is fetched.
    const polls = () => tg.requests.filter((request) => request.method === 'getUpdates').length
    await waitFor(
      async () => {
        const before = polls()
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        return polls() === before ? true : undefined
      },
      { what: 'the polling to stop' },
    )
    expect(await t.channels.telegram!.service.pollingChannels()).toEqual([])
    const pollsBefore = polls()
    tg.pushMessage({ id: anna }, '/help')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(polls()).toBe(pollsBefore)

    // By webhook (switched by the service: the API refuses the disabled workspace's keys), updates
    // arrive, and each chat is told once that nothing happens.
    await t.channels.telegram!.service.setInbound(tenantId, channelId, {
      mode: 'webhook',
      url: 'https://orch.example.com',
    })
    const path = new URL(tg.webhook!.url).pathname
    const secretToken = tg.webhook!.secretToken!
    let updateId = 700
    const deliver = async (body: Record<string, unknown>) => {
      const answer = await t.app.inject({
        method: 'POST',
        url: path,
        headers: { 'x-telegram-bot-api-secret-token': secretToken },
        payload: { update_id: updateId++, ...body },
      })
      expect(answer.statusCode, answer.body).toBe(200)
    }
    const message = (text: string) => ({
      message: { message_id: updateId, from: { id: anna }, chat: { id: anna, type: 'private' }, text },
    })
    const press = (data: string) => ({
      callback_query: {
        id: `cbq-${updateId}`,
        from: { id: anna },
        message: { message_id: 1, chat: { id: anna }, text: 'Approve?' },
        data,
      },
    })
    const before = textsTo(anna).length
    const runsBefore = (await replyRuns()).length
    await deliver(message('/pause sneaker scout'))
    await waitFor(() => (textsTo(anna).length > before ? true : undefined), { what: 'the refusal' })
    expect(textsTo(anna).slice(before)).toEqual([expect.stringContaining('workspace is disabled')])
    await deliver(message('/pause sneaker scout'))
    await deliver(message('/run sneaker scout'))
    await deliver(press('a1.AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'))
    await waitFor(() => (tg.answered.length > 0 ? true : undefined), { what: 'the button’s answer' })
    await deliver(press('a1.AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'))
    await waitFor(async () => (await replyRuns()).every((status) => !['pending', 'running'].includes(status)))
    expect(await replyRuns()).toHaveLength(runsBefore + 2)
    expect(tg.answered.map((answer) => answer.text)).toEqual([
      expect.stringContaining('workspace is disabled'),
    ])
    expect(textsTo(anna).slice(before)).toHaveLength(1)
    expect((await t.bots.service.get(tenantId, scout.id)).enabled).toBe(true)
    const botRuns = await t.database.db.selectFrom('runs').select('id').where('kind', '=', 'bot').execute()
    expect(botRuns).toEqual([])

    // Enabled again and back to polling: the update that waited at Telegram is answered.
    await setDisabled(null)
    const polling = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'polling',
    })
    expect(polling.statusCode, polling.body).toBe(200)
    await waitFor(() => (textsTo(anna).at(-1) === helpText ? true : undefined), { what: 'the help' })
  })

  it('a new bot token or Bot API address drops the channel’s links, codes, buttons and inbound mode (the old webhook removed); non-admins see only their own linked chats', async () => {
    const channelId = await setUp()
    const annaToken = await linked(channelId, anna, 'anna@example.com', 'admin')
    const victorToken = await linked(channelId, victor, 'victor@example.com', 'editor')
    const stateFor = async (credential: string) => {
      const answer = await call('GET', `/channels/${channelId}/telegram`, credential)
      expect(answer.statusCode, answer.body).toBe(200)
      return telegramInboundSchema.parse(answer.json())
    }
    const chatsSeenBy = async (credential: string) =>
      (await stateFor(credential)).linkedChats.map((chat) => chat.chatId).sort()
    const both = [String(anna), String(victor)].sort()
    expect(await chatsSeenBy(annaToken)).toEqual(both)
    expect(await chatsSeenBy(t.keys.admin)).toEqual(both)
    expect(await chatsSeenBy(victorToken)).toEqual([String(victor)])
    // A service key below admin has no person, so no chats of its own.
    expect(await chatsSeenBy(t.keys.viewer)).toEqual([])

    // A new name or chat keeps everything.
    const renamed = await call('PATCH', `/channels/${channelId}`, victorToken, {
      name: 'Phone 2',
      config: { chatId: String(victor), apiBaseUrl: tg.url },
    })
    expect(renamed.statusCode, renamed.body).toBe(200)
    expect(await chatsSeenBy(annaToken)).toEqual(both)
    // A webhook, a code not used yet and an approval button, all of the old bot.
    await linkCode(channelId, annaToken)
    const webhook = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'webhook',
      url: 'https://orch.example.com',
    })
    expect(webhook.statusCode, webhook.body).toBe(200)
    expect(tg.webhook).toBeDefined()
    const tdb = withTelegramTables(t.database.db)
    await tdb
      .insertInto('telegram_callbacks')
      .values({
        id: 'AAAAAAAAAAAA',
        tenant_id: tenantId,
        channel_id: channelId,
        approval_id: 'approval-1',
        decision: 'approved',
        expires_at: Date.now() + 60_000,
        used_at: null,
        created_at: Date.now(),
      })
      .execute()

    // Victor, an editor, points the channel at a Bot API of his own, which could say anything came
    // "from" Anna's Telegram id.
    const fake = await startTelegramServer({ token: '987654321:AAHanotherTokenForAFakeBotApi_0123456' })
    cleanups.push(() => fake.close())
    const moved = await call('PATCH', `/channels/${channelId}`, victorToken, {
      config: { botToken: fake.token, chatId: String(victor), apiBaseUrl: fake.url },
    })
    expect(moved.statusCode, moved.body).toBe(200)
    expect(await stateFor(annaToken)).toMatchObject({ mode: 'off', webhookUrl: null, linkedChats: [] })
    // The old bot's webhook is removed at the old bot.
    expect(tg.webhook).toBeUndefined()
    const left = async (table: 'telegram_link_codes' | 'telegram_callbacks' | 'telegram_links') =>
      (await tdb.selectFrom(table).select('channel_id').where('channel_id', '=', channelId).execute()).length
    expect(await left('telegram_link_codes')).toBe(0)
    expect(await left('telegram_callbacks')).toBe(0)
    expect(await left('telegram_links')).toBe(0)
    // Polling the new bot (an admin's choice): Anna's Telegram id is a stranger's there.
    const polling = await call('PUT', `/channels/${channelId}/telegram/inbound`, t.keys.admin, {
      mode: 'polling',
    })
    expect(polling.statusCode, polling.body).toBe(200)
    fake.pushMessage({ id: anna }, '/pause everything')
    const answer = await waitFor(() => fake.sent.find((sent) => String(sent.chatId) === String(anna)), {
      what: 'the answer through the new bot',
    })
    expect(answer.text).toContain('belongs to an openOrchestrator workspace')
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
