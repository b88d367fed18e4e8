import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { channelCreatedSchema, channelSchema, notificationPageSchema } from '@openorch/contracts'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { bearer, createTestApp, type TestApp } from '../../test/app-harness.ts'
import { dialects } from '../../test/databases.ts'
import { waitFor } from '../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../test/provider-servers/index.ts'
import { startTelegramServer } from '../../test/telegram-server.ts'
import { ManualClock } from '../platform/clock.ts'
import { verifySignature } from './adapters/webhook.ts'
import { type ChannelAdapter, ChannelError, type ChannelMessage } from './channels.ts'

// Issue 14's delivery on both engines: a bot's run notifies its channels by rule, through runs of kind
// `notification` (retried, dead-lettered, in order per channel); a real webhook receiver verifies the
// signature with the documented check.

const tenantId = 'default'
const key = 'sk-test-0123456789abcdef3456'

/** A channel type of the test's own: records what it is asked to send, fails as told. */
function recorder() {
  const sent: ChannelMessage[] = []
  const failures: ChannelError[] = []
  const adapter: ChannelAdapter<{ room: string; token: string }> = {
    type: 'recorder',
    configSchema: z.strictObject({ room: z.string().min(1), token: z.string().min(8) }),
    secretFields: ['token'],
    async send(message) {
      const failure = failures.shift()
      if (failure) throw failure
      sent.push(message)
    },
  }
  return { sent, failures, adapter: adapter as unknown as ChannelAdapter }
}

/** A webhook receiver on loopback that checks every request's signature. */
async function startReceiver() {
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string; valid: boolean }> = []
  let secret = ''
  const statuses: number[] = []
  const state = { echo: false }
  const server = http.createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      const valid = verifySignature(
        secret,
        String(request.headers['x-openorch-timestamp']),
        body,
        String(request.headers['x-openorch-signature']),
      )
      received.push({ headers: request.headers, body, valid })
      const status = statuses.shift() ?? 200
      // A careless receiver quotes what it was sent in its refusal.
      response
        .writeHead(status)
        .end(state.echo && status >= 400 ? `refused, you sent: ${request.headers.authorization}` : 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    statuses,
    set echo(value: boolean) {
      state.echo = value
    },
    setSecret: (value: string) => {
      secret = value
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

describe.each(dialects)('channels on %s', (dialect) => {
  let t: TestApp
  let model: ProviderServer | undefined
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined
  afterEach(async () => {
    await model?.close()
    await receiver?.close()
    await t?.close()
    model = undefined
    receiver = undefined
  })

  const call = (method: string, url: string, apiKey: string, payload?: object) =>
    t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: bearer(apiKey),
      ...(payload === undefined ? {} : { payload }),
    })

  async function botWithModel(answers: string[]) {
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await call('PUT', '/providers/openai', t.keys.admin, {
      apiKey: key,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.setBehaviour({ type: 'script', steps: answers.map((text) => ({ type: 'success' as const, text })) })
    return t.bots.service.create(tenantId, {
      name: 'Sneaker scout',
      prompt: 'Look.',
      provider: 'openai',
      retryDelaySeconds: 0,
    })
  }
  const runBot = async (botId: string) => {
    const made = await t.bots.service.runNow(tenantId, botId, { trigger: 'manual' })
    if (made.status === 'dropped') throw new Error('dropped')
    return waitFor(
      async () => {
        const run = await t.kernel.runs.get(tenantId, made.run.id)
        return ['completed', 'failed', 'timeout'].includes(run.status) ? run : undefined
      },
      { what: 'the bot run' },
    )
  }
  /** A channel of the test's recorder type, made by an editor. */
  const recorderChannel = async (name: string, room: string) => {
    const created = await call('POST', '/channels', t.keys.editor, {
      type: 'recorder',
      name,
      config: { room, token: 'tok-0123456789' },
    })
    expect(created.statusCode, created.body).toBe(201)
    return channelCreatedSchema.parse(created.json())
  }
  const jsonOf = async (answer: ReturnType<typeof call>) => {
    const response = await answer
    expect(response.statusCode, response.body).toBe(200)
    return response.json()
  }
  const notifications = async (query = '') =>
    notificationPageSchema.parse(await jsonOf(call('GET', `/notifications${query}`, t.keys.viewer))).items

  it('keeps secrets in the vault: never returned, hinted, kept on a change without them; names unique; editors manage', async () => {
    const rec = recorder()
    t = await createTestApp(dialect, { channelAdapters: [rec.adapter] })
    const created = await call('POST', '/channels', t.keys.editor, {
      type: 'recorder',
      name: 'Team room',
      config: { room: 'general', token: 'tok-secret-123456789' },
    })
    expect(created.statusCode, created.body).toBe(201)
    const channel = channelCreatedSchema.parse(created.json())
    expect(channel).toMatchObject({ config: { room: 'general' }, status: 'pending', eventTypes: [] })
    expect(channel.secretHints.token).toBeDefined()
    expect(created.body).not.toContain('tok-secret')
    expect(
      (await call('POST', '/channels', t.keys.viewer, { type: 'recorder', name: 'x', config: {} }))
        .statusCode,
    ).toBe(403)
    const twice = await call('POST', '/channels', t.keys.editor, {
      type: 'recorder',
      name: 'Team room',
      config: { room: 'a', token: 'tok-secret-abcdefgh' },
    })
    expect(twice.statusCode).toBe(409)
    expect(twice.json().code).toBe('channel_exists')
    const unknown = await call('POST', '/channels', t.keys.editor, { type: 'pigeon', name: 'p', config: {} })
    expect(unknown.statusCode).toBe(400)
    const invalid = await call('POST', '/channels', t.keys.editor, {
      type: 'recorder',
      name: 'bad',
      config: { room: '' },
    })
    expect(invalid.statusCode).toBe(400)
    expect(invalid.json().errors.map((e: { field: string }) => e.field)).toEqual(
      expect.arrayContaining(['config.room', 'config.token']),
    )

    // A change without the secret keeps it: the test message goes out with the stored token.
    const changed = await call('PATCH', `/channels/${channel.id}`, t.keys.editor, {
      config: { room: 'random' },
    })
    expect(changed.statusCode, changed.body).toBe(200)
    expect(changed.json()).toMatchObject({
      config: { room: 'random' },
      secretHints: { token: channel.secretHints.token },
    })
    const tested = await call('POST', `/channels/${channel.id}/test`, t.keys.editor)
    expect(tested.json()).toEqual({ delivered: true, error: null })
    expect(rec.sent.map((m) => m.event)).toEqual(['test'])
    const listed = await call('GET', '/channels', t.keys.viewer)
    expect(listed.body).not.toContain('tok-secret')
    expect(channelSchema.parse(listed.json().items[0])).toMatchObject({
      status: 'connected',
      lastError: null,
    })
    // Another workspace sees none of it.
    expect((await call('GET', `/channels/${channel.id}`, t.keys.otherTenant)).statusCode).toBe(404)
    expect((await call('DELETE', `/channels/${channel.id}`, t.keys.editor)).statusCode).toBe(204)
    expect((await call('GET', '/channels', t.keys.viewer)).json().items).toEqual([])
  })

  it('notifies by rule through notification runs: on_new only when the result is new, always every time', async () => {
    const rec = recorder()
    t = await createTestApp(dialect, { channelAdapters: [rec.adapter] })
    t.startKernel()
    const bot = await botWithModel(['Air Max 90 for 35 €', 'Air Max 90 for 35 €', 'Samba for 39 €'])
    const room = await recorderChannel('Room', 'r')
    const log = await recorderChannel('Log', 'l')
    expect(
      (
        await call('PUT', `/bots/${bot.id}/channels/${room.id}`, t.keys.editor, {
          rule: 'on_new',
          format: 'full',
        })
      ).statusCode,
    ).toBe(200)
    expect(
      (await call('PUT', `/bots/${bot.id}/channels/${log.id}`, t.keys.editor, { rule: 'always' })).json(),
    ).toMatchObject({
      channelName: 'Log',
      rule: 'always',
      format: 'short',
    })
    expect((await call('GET', `/bots/${bot.id}/channels`, t.keys.viewer)).json().items).toHaveLength(2)

    for (let i = 0; i < 3; i++) await runBot(bot.id)
    await waitFor(async () => (await notifications('?status=sent')).length === 5, { what: 'five deliveries' })
    const byRoom = rec.sent.filter((m) => m.data.status === 'completed' && m.format === 'full')
    expect(byRoom.map((m) => m.text)).toEqual(['Air Max 90 for 35 €', 'Samba for 39 €'])
    expect(rec.sent.filter((m) => m.format === 'short')).toHaveLength(3)
    const first = byRoom[0]!
    expect(first.title).toBe('✅ Sneaker scout — completed (new)')
    expect(first.data).toMatchObject({
      event: 'run.completed',
      botId: bot.id,
      botName: 'Sneaker scout',
      isNew: true,
      status: 'completed',
    })
    expect(first.link).toMatch(/^\/runs\//)
    const history = await notifications(`?channelId=${room.id}`)
    expect(history).toHaveLength(2)
    expect(history[0]).toMatchObject({
      channelId: room.id,
      event: 'run.completed',
      status: 'sent',
      attempts: 1,
    })
    // A delivery is a run of its own kind, whose parent is the run it reports.
    const delivery = await t.kernel.runs.get(tenantId, history[0]!.id)
    expect(delivery).toMatchObject({ kind: 'notification', trigger: 'event', parentRunId: history[0]!.runId })
    // Unlinked: nothing more goes to the room.
    expect((await call('DELETE', `/bots/${bot.id}/channels/${room.id}`, t.keys.editor)).statusCode).toBe(204)
    expect((await call('DELETE', `/bots/${bot.id}/channels/${room.id}`, t.keys.editor)).json().code).toBe(
      'channel_link_not_found',
    )
  })

  it('writes the summary format with the bot’s own model, records its tokens on the notification run, and falls back to the first line when the provider fails', async () => {
    const rec = recorder()
    t = await createTestApp(dialect, { channelAdapters: [rec.adapter] })
    t.startKernel()
    const offers = 'Found 3 offers.\nAir Max 90 for 35 € in Berlin\nSamba for 39 €\nGazelle for 45 €'
    const bot = await botWithModel([])
    model!.setBehaviour({
      type: 'script',
      steps: [
        { type: 'success', text: offers },
        {
          type: 'success',
          text: 'Three sneaker offers turned up. The cheapest is the Air Max 90 for 35 € in Berlin.',
          usage: { inputTokens: 61, outputTokens: 19 },
        },
        { type: 'success', text: offers.replace('3', 'three') },
        // The provider is down while the second notification is written: it still goes out.
        { type: 'server_error', status: 503 },
      ],
    })
    const room = await recorderChannel('Room', 'r')
    await call('PUT', `/bots/${bot.id}/channels/${room.id}`, t.keys.editor, {
      rule: 'always',
      format: 'summary',
    })
    // A schedule, so the footer names the next run in the bot's zone.
    expect(
      (
        await call('PATCH', `/bots/${bot.id}`, t.keys.editor, {
          schedule: '0 9 * * *',
          timezone: 'Europe/Berlin',
        })
      ).statusCode,
    ).toBe(200)

    await runBot(bot.id)
    await waitFor(async () => (await notifications('?status=sent')).length === 1, { what: 'the summary' })
    const summarised = rec.sent[0]!
    expect(summarised.format).toBe('summary')
    expect(summarised.text).toBe(
      'Three sneaker offers turned up. The cheapest is the Air Max 90 for 35 € in Berlin.',
    )
    expect(summarised.footer).toMatch(/^Next run: \w{3} \d{1,2} \w{3}, 09:00 \(Europe\/Berlin\)$/)
    // The model was asked for two sentences about the run's text, with the bot's model.
    const asked = model!.requests.filter((r) => r.path.endsWith('/chat/completions'))[1]!.body as {
      model: string
      messages: Array<{ role: string; content: string }>
    }
    expect(asked.model).toBe('gpt-4o-mini')
    expect(JSON.stringify(asked.messages)).toContain('exactly two short sentences')
    expect(JSON.stringify(asked.messages)).toContain('Air Max 90 for 35 €')
    // Its tokens are the notification run's, and the bot's usage.
    const [delivery] = await notifications(`?channelId=${room.id}`)
    const run = await jsonOf(call('GET', `/runs/${delivery!.id}`, t.keys.viewer))
    expect(run).toMatchObject({ kind: 'notification', tokensIn: 61, tokensOut: 19 })
    expect(run.costUsd).toBeGreaterThan(0)
    expect(run.output.summary).toBe(summarised.text)
    const usage = await jsonOf(call('GET', `/usage?botId=${bot.id}`, t.keys.viewer))
    expect(usage.total).toMatchObject({ calls: 2, tokensIn: 12 + 61, tokensOut: 5 + 19 })

    await runBot(bot.id)
    await waitFor(async () => (await notifications('?status=sent')).length === 2, { what: 'the fallback' })
    const fallback = rec.sent[1]!
    expect(fallback.text).toBe('Found three offers.')
    const second = (await notifications(`?channelId=${room.id}`)).find((n) => n.id !== delivery!.id)!
    const fallbackRun = await jsonOf(call('GET', `/runs/${second.id}`, t.keys.viewer))
    expect(fallbackRun).toMatchObject({ status: 'completed', attempt: 1, tokensIn: null })
    expect(fallbackRun.output.summaryError).toMatch(/OpenAI/)
  })

  it('retries a channel that is down with backoff, and fails a refused one at once, marking it', async () => {
    const rec = recorder()
    t = await createTestApp(dialect, { channelAdapters: [rec.adapter] })
    t.startKernel()
    const bot = await botWithModel(['one', 'two'])
    const channel = await recorderChannel('Room', 'r')
    await call('PUT', `/bots/${bot.id}/channels/${channel.id}`, t.keys.editor, { rule: 'always' })
    rec.failures.push(
      new ChannelError('room_unavailable', 'The room is down.', { retryable: true }),
      new ChannelError('room_unavailable', 'The room is down.', { retryable: true, retryAfterMs: 50 }),
    )
    await runBot(bot.id)
    const sent = await waitFor(async () => (await notifications('?status=sent'))[0], {
      what: 'the delivery after two failures',
    })
    expect(sent.attempts).toBe(3)
    expect(rec.sent).toHaveLength(1)

    rec.failures.push(
      new ChannelError('room_gone', 'The room was deleted.', { retryable: false, channelBroken: true }),
    )
    await runBot(bot.id)
    const dead = await waitFor(async () => (await notifications('?status=dead'))[0], {
      what: 'the dead delivery',
    })
    expect(dead).toMatchObject({
      attempts: 1,
      lastError: { code: 'room_gone', message: 'The room was deleted.' },
    })
    expect((await call('GET', `/channels/${channel.id}`, t.keys.viewer)).json()).toMatchObject({
      status: 'error',
      lastError: 'The room was deleted.',
    })
    // Retried by hand (the room is back): delivered.
    const retried = await call('POST', `/runs/${dead.id}/retry`, t.keys.editor)
    expect(retried.statusCode, retried.body).toBe(200)
    await waitFor(async () => (await notifications('?status=sent')).length === 2, {
      what: 'the retried delivery',
    })
    expect(rec.sent.map((m) => m.data.output)).toEqual([{ text: 'one' }, { text: 'two' }])
  })

  it('signs webhooks; the receiver verifies them with the documented check, and the event id stays the same across retries', async () => {
    t = await createTestApp(dialect)
    t.startKernel()
    receiver = await startReceiver()
    const bot = await botWithModel(['Air Max 90 for 35 €'])
    const created = await call('POST', '/channels', t.keys.editor, {
      type: 'webhook',
      name: 'Hook',
      config: { url: receiver.url, headers: { 'x-team': 'shoes' } },
    })
    expect(created.statusCode, created.body).toBe(201)
    const channel = channelCreatedSchema.parse(created.json())
    expect(channel.secret).toMatch(/^whsec_/)
    receiver.setSecret(channel.secret!)
    expect((await call('GET', `/channels/${channel.id}`, t.keys.viewer)).body).not.toContain(channel.secret!)
    await call('PUT', `/bots/${bot.id}/channels/${channel.id}`, t.keys.editor, { rule: 'on_new' })
    receiver.statuses.push(503)
    const run = await runBot(bot.id)
    await waitFor(() => receiver!.received.length === 2, { what: 'a failed and a retried delivery' })
    const [first, second] = receiver.received
    expect(first!.valid && second!.valid).toBe(true)
    expect(second!.headers['x-openorch-event-id']).toBe(first!.headers['x-openorch-event-id'])
    expect(second!.headers['x-team']).toBe('shoes')
    expect(JSON.parse(second!.body)).toEqual({
      eventId: first!.headers['x-openorch-event-id'],
      event: 'run.completed',
      botId: bot.id,
      botName: 'Sneaker scout',
      runId: run.id,
      status: 'completed',
      isNew: true,
      output: { text: 'Air Max 90 for 35 €' },
      error: null,
      createdAt: expect.any(String),
    })
    // A refused address is refused when saved.
    const refused = await call('POST', '/channels', t.keys.editor, {
      type: 'webhook',
      name: 'Meta',
      config: { url: 'http://169.254.169.254/hook' },
    })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().code).toBe('egress_refused')
  })

  it('sends the workspace events a channel subscribed to: an approval waiting', async () => {
    const rec = recorder()
    t = await createTestApp(dialect, { channelAdapters: [rec.adapter] })
    t.startKernel()
    const bot = await botWithModel([])
    await t.bots.service.update(tenantId, bot.id, { tools: ['files'] })
    model!.setBehaviour({
      type: 'tool_calls',
      calls: [{ name: 'files_delete', arguments: { name: 'a.txt' } }],
    })
    const channel = await recorderChannel('Room', 'r')
    const subscribed = await call('PUT', `/channels/${channel.id}/events`, t.keys.editor, {
      types: ['approval.requested'],
    })
    expect(subscribed.json()).toMatchObject({ eventTypes: ['approval.requested'] })
    expect(
      (await call('PUT', `/channels/${channel.id}/events`, t.keys.editor, { types: ['run.exploded'] }))
        .statusCode,
    ).toBe(400)
    await t.bots.service.runNow(tenantId, bot.id, { trigger: 'manual' })
    await waitFor(() => rec.sent.length === 1, { what: 'the approval notification' })
    expect(rec.sent[0]).toMatchObject({
      event: 'approval.requested',
      title: expect.stringContaining('files_delete'),
      link: '/approvals',
    })
  })

  it('finds the chats that wrote to a Telegram bot for the set-up, and says when Telegram refuses the token', async () => {
    t = await createTestApp(dialect)
    const telegram = await startTelegramServer()
    try {
      telegram.pushMessage({ id: 42, first_name: 'Ada', username: 'ada' }, '/start')
      const found = await call('POST', '/channels/telegram/discover-chats', t.keys.editor, {
        botToken: telegram.token,
        apiBaseUrl: telegram.url,
      })
      expect(found.statusCode, found.body).toBe(200)
      expect(found.json()).toEqual({
        items: [{ chatId: 42, title: 'Ada', type: 'private', username: 'ada' }],
      })
      const refused = await call('POST', '/channels/telegram/discover-chats', t.keys.editor, {
        botToken: '999999:wrong-token-abcdefghijklmnop',
        apiBaseUrl: telegram.url,
      })
      expect(refused.statusCode).toBe(422)
      expect(refused.json().code).toBe('telegram_unauthorized')
      expect(refused.body).not.toContain('wrong-token')
      expect(
        (await call('POST', '/channels/telegram/discover-chats', t.keys.viewer, { botToken: telegram.token }))
          .statusCode,
      ).toBe(403)
    } finally {
      await telegram.close()
    }
  })

  it('holds notifications in quiet hours across midnight, and sends one digest in order when the window ends', async () => {
    const rec = recorder()
    // 23:30 in Berlin on a winter night (22:30 UTC).
    const clock = new ManualClock(Date.parse('2026-12-04T22:30:00Z'))
    t = await createTestApp(dialect, { channelAdapters: [rec.adapter], kernel: { clock } })
    t.startKernel()
    const bot = await botWithModel(['First find', 'Second find'])
    const channel = await recorderChannel('Phone', 'r')
    const badZone = await call('PUT', `/channels/${channel.id}/quiet-hours`, t.keys.editor, {
      quietHours: { start: '23:00', end: '07:00', timezone: 'Mars/Olympus' },
    })
    expect(badZone.statusCode).toBe(400)
    const quiet = await call('PUT', `/channels/${channel.id}/quiet-hours`, t.keys.editor, {
      quietHours: { start: '23:00', end: '07:00', timezone: 'Europe/Berlin' },
    })
    expect(quiet.json()).toMatchObject({
      quietHours: { start: '23:00', end: '07:00', timezone: 'Europe/Berlin' },
    })
    await call('PUT', `/bots/${bot.id}/channels/${channel.id}`, t.keys.editor, { rule: 'always' })
    await runBot(bot.id)
    clock.advance(60_000)
    await runBot(bot.id)
    const held = await waitFor(async () => (await notifications('?status=held'))[0], {
      what: 'the held digest',
    })
    expect(held).toMatchObject({ channelId: channel.id, event: 'digest' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(rec.sent).toEqual([])

    // 07:00 in Berlin is 06:00 UTC: the digest goes out, once, with both in the order they happened.
    clock.set(Date.parse('2026-12-05T06:00:01Z'))
    await waitFor(() => rec.sent.length === 1, { what: 'the digest' })
    const digest = rec.sent[0]!
    expect(digest.title).toBe('🌙 2 notifications during quiet hours')
    expect(digest.text.split('\n')).toEqual([
      '- ✅ Sneaker scout — completed (new): First find',
      '- ✅ Sneaker scout — completed (new): Second find',
    ])
    expect(digest.data.output).toEqual([
      expect.objectContaining({ event: 'run.completed', output: { text: 'First find' } }),
      expect.objectContaining({ event: 'run.completed', output: { text: 'Second find' } }),
    ])
    await waitFor(async () => (await notifications('?status=sent')).length === 1, { what: 'the digest sent' })
    expect(await t.database.db.selectFrom('held_notifications').select('id').execute()).toEqual([])

    // The workspace's settings: urgent events validated, admins only.
    const settings = await call('PUT', '/notification-settings', t.keys.admin, {
      quietHours: null,
      urgentEvents: ['run.dead_lettered'],
    })
    expect(settings.json()).toEqual({ quietHours: null, urgentEvents: ['run.dead_lettered'] })
    expect(
      (await call('PUT', '/notification-settings', t.keys.editor, { quietHours: null, urgentEvents: [] }))
        .statusCode,
    ).toBe(403)
  })

  it('sends stored secrets only where they went before, scrubs header values from errors, and shows URLs and passwords as hints (attack F1, F2, F4, F6)', async () => {
    t = await createTestApp(dialect)
    receiver = await startReceiver()
    const created = await call('POST', '/channels', t.keys.admin, {
      type: 'webhook',
      name: 'Partner',
      config: {
        url: `${receiver.url}?token=URL-SECRET-987`,
        headers: { authorization: 'Bearer PARTNER-TOKEN-123456' },
      },
    })
    expect(created.statusCode, created.body).toBe(201)
    const channel = channelCreatedSchema.parse(created.json())
    // The URL is a secret too: people see its host, never its query or credentials.
    expect(channel.config).toEqual({})
    expect(channel.secretHints.url).toBe(`http://127.0.0.1:${new URL(receiver.url).port}/…`)
    expect(created.body).not.toContain('URL-SECRET')
    // An editor cannot send the stored header to another address without knowing it.
    const moved = await call('PATCH', `/channels/${channel.id}`, t.keys.editor, {
      config: { url: 'http://127.0.0.1:9/collect' },
    })
    expect(moved.statusCode).toBe(400)
    expect(moved.json()).toMatchObject({ code: 'secrets_required' })
    expect(moved.json().errors.map((e: { field: string }) => e.field)).toEqual(['config.headers'])
    const resent = await call('PATCH', `/channels/${channel.id}`, t.keys.editor, {
      config: { url: receiver.url, headers: { authorization: 'Bearer PARTNER-TOKEN-123456' } },
    })
    expect(resent.statusCode, resent.body).toBe(200)
    // A receiver that echoes the header in its refusal: the value never reaches people.
    receiver.statuses.push(401)
    receiver.echo = true
    const tested = await call('POST', `/channels/${channel.id}/test`, t.keys.editor)
    expect(tested.json()).toMatchObject({ delivered: false })
    expect(tested.body).not.toContain('PARTNER-TOKEN')
    expect((await call('GET', `/channels/${channel.id}`, t.keys.viewer)).body).not.toContain('PARTNER-TOKEN')

    // An SMTP password is shown only as set; changing the host needs it again.
    const mail = await call('POST', '/channels', t.keys.admin, {
      type: 'email',
      name: 'Mail',
      config: {
        host: '127.0.0.1',
        port: 2525,
        security: 'none',
        user: 'ops',
        pass: 'SMTP-PASSWORD-s3cr3t-42',
        from: 'bots@example.com',
        to: ['me@example.com'],
      },
    })
    expect(mail.statusCode, mail.body).toBe(201)
    expect(mail.json().secretHints).toEqual({ pass: '••••••••' })
    const downgraded = await call('PATCH', `/channels/${mail.json().id}`, t.keys.editor, {
      config: {
        host: '127.0.0.1',
        port: 2526,
        security: 'none',
        user: 'ops',
        from: 'bots@example.com',
        to: ['x@example.com'],
      },
    })
    expect(downgraded.json()).toMatchObject({ code: 'secrets_required' })
  })
})
