import { channelSchema, notificationPageSchema, pushSubscribedSchema } from '@openorch/contracts'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import webPush from 'web-push'
import { bearer, createTestApp, type TestApp } from '../../../test/app-harness.ts'
import { dialects } from '../../../test/databases.ts'
import { waitFor } from '../../../test/kernel-harness.ts'
import { type ProviderServer, startProviderServer } from '../../../test/provider-servers/index.ts'
import { type PushService, startPushService } from '../../../test/push-service.ts'
import { createEgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import { withPushTables } from '../push/push.table.ts'
import { createVapidKeys } from '../push/vapid.ts'
import { createPushAdapter, payloadOf, topicOf } from './push.ts'

// Web Push (issue 14) against a local push service that checks the VAPID JWT and decrypts the
// aes128gcm payload with the browser's private key, as a browser's push service would.

function messageOf(overrides: Partial<ChannelMessage> = {}): ChannelMessage {
  const eventId = overrides.eventId ?? '4711'
  return {
    eventId,
    event: 'run.completed',
    title: '✅ Sneaker scout — completed (new)',
    text: '## **Air Max 90** for 35 €\nSamba for 39 €',
    format: 'short',
    facts: ['14:02', '12 s'],
    link: 'https://orch.example/runs/r1',
    footer: null,
    severity: 'success',
    data: {
      eventId,
      event: 'run.completed',
      botId: 'b1',
      botName: 'Sneaker scout',
      runId: 'r1',
      status: 'completed',
      isNew: true,
      output: null,
      error: null,
      createdAt: '2026-12-04T09:00:00.000Z',
    },
    ...overrides,
  }
}

async function failureOf(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ChannelError)
  return error as ChannelError
}

describe('push adapter', () => {
  let service: PushService
  const vapid = webPush.generateVAPIDKeys()
  const gone: string[] = []
  const adapter = createPushAdapter({
    vapidKeys: async () => vapid,
    subject: 'mailto:ops@orch.example',
    onGone: async (endpoint) => {
      gone.push(endpoint)
    },
  })
  beforeEach(async () => {
    service = await startPushService()
    gone.length = 0
  })
  afterEach(() => service.close())
  const egressOf = () => createEgressPolicy(parseEgressAllow(`127.0.0.1:${new URL(service.origin).port}`))
  const send = (message: ChannelMessage, config = service.subscribe(vapid.publicKey).json) =>
    adapter.send(message, { config, signal: new AbortController().signal, egress: egressOf() })

  it('sends a VAPID-signed request whose aes128gcm payload the browser decrypts to title, first line, link and event id', async () => {
    await send(messageOf())
    expect(service.refused).toEqual([])
    expect(service.received).toHaveLength(1)
    const [push] = service.received
    expect(JSON.parse(push!.plaintext)).toEqual({
      title: '✅ Sneaker scout — completed (new)',
      body: 'Air Max 90 for 35 €',
      url: 'https://orch.example/runs/r1',
      eventId: '4711',
    })
    expect(push!.vapidKey).toBe(vapid.publicKey)
    expect(push!.claims).toMatchObject({ aud: service.origin, sub: 'mailto:ops@orch.example' })
    expect(push!.headers.urgency).toBe('normal')
    expect(push!.headers.topic).toBe(topicOf('4711'))
    expect(push!.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/)
    expect(Number(push!.headers.ttl)).toBe(24 * 3600)
  })

  it('marks errors urgent, keeps the body to one line of at most 200 characters, and the same topic on a retry', async () => {
    const long = `${'x'.repeat(300)}\nsecond line`
    await send(messageOf({ severity: 'error', text: long, eventId: 'e-9', link: null }))
    await send(messageOf({ severity: 'error', text: long, eventId: 'e-9', link: null }))
    const [first, second] = service.received
    expect(first!.headers.urgency).toBe('high')
    const payload = JSON.parse(first!.plaintext)
    expect(payload.body.length).toBeLessThanOrEqual(200)
    expect(payload.body).not.toContain('second line')
    expect(payload.url).toBeNull()
    expect(second!.headers.topic).toBe(first!.headers.topic)
    expect(payloadOf(messageOf({ text: '\n\n- **one** `two`\nthree' })).body).toBe('one two')
  })

  it('maps the answers: 404/410 gone (and forgotten), 429 and 5xx retried with Retry-After, 400/403 refused', async () => {
    for (const status of [404, 410]) {
      service.failNext({ status })
      const subscription = service.subscribe(vapid.publicKey).json
      const error = await failureOf(send(messageOf(), subscription))
      expect(error).toMatchObject({ code: 'push_gone', retryable: false, channelBroken: true })
      expect(gone.at(-1)).toBe(subscription.endpoint)
      expect(error.message).not.toContain(subscription.endpoint)
    }
    service.failNext({ status: 429, headers: { 'retry-after': '7' } })
    expect(await failureOf(send(messageOf()))).toMatchObject({
      code: 'push_rate_limited',
      retryable: true,
      retryAfterMs: 7000,
    })
    service.failNext({ status: 503 })
    expect(await failureOf(send(messageOf()))).toMatchObject({ code: 'push_unavailable', retryable: true })
    for (const status of [400, 403]) {
      service.failNext({ status })
      expect(await failureOf(send(messageOf()))).toMatchObject({
        code: 'push_refused',
        retryable: false,
        channelBroken: true,
      })
    }
    // Signed with another key than the browser subscribed with: the service refuses (403).
    const other = webPush.generateVAPIDKeys()
    const error = await failureOf(send(messageOf(), service.subscribe(other.publicKey).json))
    expect(error.code).toBe('push_refused')
    expect(service.refused.at(-1)?.reason).toContain('another key')
    expect(gone).toHaveLength(2)
  })

  it('does not call a private address the operator has not opened, and wants https elsewhere', async () => {
    const closed = createEgressPolicy(parseEgressAllow(''))
    const subscription = service.subscribe(vapid.publicKey).json
    const error = await failureOf(
      adapter.send(messageOf(), {
        config: subscription,
        signal: new AbortController().signal,
        egress: closed,
      }),
    )
    expect(error.code).toBe('egress_refused')
    expect(service.attempts).toBe(0)
    await expect(adapter.check!(subscription, closed)).rejects.toMatchObject({ code: 'egress_refused' })
    await expect(adapter.check!(subscription, egressOf())).resolves.toBeUndefined()
    const refused = await adapter.check!(
      { ...subscription, endpoint: 'http://push.example.com/x' },
      egressOf(),
    ).catch((thrown: unknown) => thrown)
    expect(refused).toBeInstanceOf(AppError)
    expect(
      adapter.configSchema.safeParse({ ...subscription, keys: { p256dh: 'AAAA', auth: 'x' } }).success,
    ).toBe(false)
  })
})

describe.each(dialects)('push channel on %s', (dialect) => {
  let t: TestApp
  let service: PushService | undefined
  let model: ProviderServer | undefined
  afterEach(async () => {
    await model?.close()
    await service?.close()
    await t?.close()
  })

  const call = (method: string, url: string, apiKey: string, payload?: object, headers = {}) =>
    t.app.inject({
      method: method as 'GET',
      url: `/api/v1${url}`,
      headers: { ...bearer(apiKey), ...headers },
      ...(payload === undefined ? {} : { payload }),
    })
  const chrome = {
    'user-agent':
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  }
  const publicKey = async () => {
    const answer = await call('GET', '/push/vapid-public-key', t.keys.viewer)
    expect(answer.statusCode, answer.body).toBe(200)
    return (answer.json() as { publicKey: string }).publicKey
  }

  async function botWithModel(answers: string[]) {
    const key = 'sk-test-0123456789abcdef3456'
    model = await startProviderServer('openai', { apiKey: key, models: ['gpt-4o-mini'], chunkDelayMs: 1 })
    const configured = await call('PUT', '/providers/openai', t.keys.admin, {
      apiKey: key,
      baseUrl: model.baseUrl,
      defaultModel: 'gpt-4o-mini',
    })
    expect(configured.statusCode, configured.body).toBe(200)
    model.setBehaviour({ type: 'script', steps: answers.map((text) => ({ type: 'success' as const, text })) })
    return t.bots.service.create('default', {
      name: 'Sneaker scout',
      prompt: 'Look.',
      provider: 'openai',
      retryDelaySeconds: 0,
    })
  }
  const runBot = async (botId: string) => {
    const made = await t.bots.service.runNow('default', botId, { trigger: 'manual' })
    if (made.status === 'dropped') throw new Error('dropped')
    return made.run.id
  }
  const notifications = async (query = '') =>
    notificationPageSchema.parse((await call('GET', `/notifications${query}`, t.keys.viewer)).json()).items

  /** A browser subscribes (as the dashboard does) and its channel is linked to a bot with `always`. */
  async function subscribedBot() {
    service = await startPushService()
    const browser = service.subscribe(await publicKey())
    const answer = await call('POST', '/push/subscriptions', t.keys.viewer, browser.json, chrome)
    expect(answer.statusCode, answer.body).toBe(201)
    const subscribed = pushSubscribedSchema.parse(answer.json())
    const bot = await botWithModel(['Air Max 90 for 35 €\nand more', 'Samba for 39 €'])
    const linked = await call('PUT', `/bots/${bot.id}/channels/${subscribed.channelId}`, t.keys.editor, {
      rule: 'always',
    })
    expect(linked.statusCode, linked.body).toBe(200)
    return { browser, subscribed, bot }
  }

  it('makes the VAPID key pair once, keeps the private key in the vault and reuses it after a restart', async () => {
    t = await createTestApp(dialect)
    const first = await publicKey()
    expect(Buffer.from(first, 'base64url')).toHaveLength(65)
    expect(await publicKey()).toBe(first)
    const rows = await withPushTables(t.database.db).selectFrom('push_vapid_keys').selectAll().execute()
    expect(rows).toHaveLength(1)
    const { privateKey } = await t.push.vapid.get()
    expect(rows[0]!.private_key_encrypted).not.toContain(privateKey)
    expect(t.vault.decrypt(rows[0]!.private_key_encrypted)).toBe(privateKey)
    // Two processes started afterwards (a restart, a second node) at once: both read the same pair.
    const second = await t.openSecond()
    const restarted = [
      createVapidKeys({ database: second, vault: t.vault, clock: t.kernel.clock }),
      createVapidKeys({ database: t.database, vault: t.vault, clock: t.kernel.clock }),
    ]
    const keys = await Promise.all(restarted.map((store) => store.get()))
    expect(keys.map((pair) => pair.publicKey)).toEqual([first, first])
    expect(keys.map((pair) => pair.privateKey)).toEqual([privateKey, privateKey])
    expect(
      await withPushTables(t.database.db).selectFrom('push_vapid_keys').selectAll().execute(),
    ).toHaveLength(1)
  })

  it('two processes making the key pair at once agree on one', async () => {
    t = await createTestApp(dialect)
    const second = await t.openSecond()
    const stores = [
      createVapidKeys({ database: t.database, vault: t.vault, clock: t.kernel.clock }),
      createVapidKeys({ database: second, vault: t.vault, clock: t.kernel.clock }),
    ]
    const keys = await Promise.all(stores.map((store) => store.get()))
    expect(keys[0]).toEqual(keys[1])
    expect(await publicKey()).toBe(keys[0]!.publicKey)
  })

  it('a subscribed browser is a push channel without shown secrets; the same browser again keeps it; only its owner unsubscribes it', async () => {
    t = await createTestApp(dialect)
    service = await startPushService()
    const browser = service.subscribe(await publicKey())
    const made = await call('POST', '/push/subscriptions', t.keys.viewer, browser.json, chrome)
    expect(made.statusCode, made.body).toBe(201)
    const subscribed = pushSubscribedSchema.parse(made.json())
    expect(subscribed).toMatchObject({ channelName: 'Browser push – Chrome on Linux', status: 'created' })
    const channel = channelSchema.parse(
      (await call('GET', `/channels/${subscribed.channelId}`, t.keys.viewer)).json(),
    )
    expect(channel).toMatchObject({ type: 'push', config: {}, status: 'pending' })
    expect(Object.keys(channel.secretHints).sort()).toEqual(['endpoint', 'keys'])
    const listed = (await call('GET', '/channels', t.keys.viewer)).body
    expect(listed).not.toContain(browser.json.endpoint)
    expect(listed).not.toContain(browser.json.keys.auth)

    const again = await call('POST', '/push/subscriptions', t.keys.viewer, browser.json, chrome)
    expect(again.statusCode).toBe(200)
    expect(again.json()).toMatchObject({ channelId: subscribed.channelId, status: 'existing' })
    // Another browser of the same kind gets a channel of its own, named apart.
    const other = service.subscribe(await publicKey())
    expect(
      (await call('POST', '/push/subscriptions', t.keys.viewer, other.json, chrome)).json(),
    ).toMatchObject({
      channelName: 'Browser push – Chrome on Linux (2)',
      status: 'created',
    })

    const endpoint = { endpoint: browser.json.endpoint }
    expect((await call('DELETE', '/push/subscriptions', t.keys.editor, endpoint)).statusCode).toBe(404)
    expect((await call('DELETE', '/push/subscriptions', t.keys.otherTenant, endpoint)).statusCode).toBe(404)
    expect((await call('DELETE', '/push/subscriptions', t.keys.viewer, endpoint)).statusCode).toBe(204)
    expect((await call('GET', `/channels/${subscribed.channelId}`, t.keys.viewer)).statusCode).toBe(404)
    const twice = await call('DELETE', '/push/subscriptions', t.keys.viewer, endpoint)
    expect(twice.statusCode).toBe(404)
    expect(twice.json().code).toBe('push_subscription_not_found')

    // Not a subscription, and a push service at an address the installation does not call.
    const bad = await call('POST', '/push/subscriptions', t.keys.viewer, { endpoint: 'x', keys: {} })
    expect(bad.statusCode).toBe(400)
    const privateAddress = await call('POST', '/push/subscriptions', t.keys.viewer, {
      ...browser.json,
      endpoint: 'https://10.1.2.3/push/abc',
    })
    expect(privateAddress.statusCode).toBe(400)
    expect(privateAddress.json().code).toBe('egress_refused')
  })

  it("delivers a bot's run to the browser: a valid VAPID request whose payload decrypts to the run's title, first line and link", async () => {
    t = await createTestApp(dialect)
    t.startKernel()
    const { bot, subscribed } = await subscribedBot()
    const runId = await runBot(bot.id)
    await waitFor(() => service!.received.length === 1, { what: 'the push' })
    const [push] = service!.received
    expect(service!.refused).toEqual([])
    expect(push!.vapidKey).toBe(await publicKey())
    expect(push!.claims.aud).toBe(service!.origin)
    const payload = JSON.parse(push!.plaintext)
    expect(payload).toEqual({
      title: expect.stringContaining('Sneaker scout'),
      body: 'Air Max 90 for 35 €',
      url: `/runs/${runId}`,
      eventId: expect.any(String),
    })
    expect(push!.headers.topic).toBe(topicOf(payload.eventId))
    const sent = await waitFor(async () => (await notifications('?status=sent'))[0], { what: 'sent' })
    expect(sent.channelId).toBe(subscribed.channelId)
    await waitFor(
      async () =>
        (await call('GET', `/channels/${subscribed.channelId}`, t.keys.viewer)).json().status === 'connected',
      { what: 'the channel connected' },
    )
  })

  it('retries a 429 after its Retry-After and delivers once', async () => {
    t = await createTestApp(dialect)
    t.startKernel()
    const { bot } = await subscribedBot()
    service!.failNext({ status: 429, headers: { 'retry-after': '1' } })
    await runBot(bot.id)
    await waitFor(() => service!.received.length === 1, { what: 'the retried push' })
    expect(service!.attempts).toBe(2)
    const sent = await waitFor(async () => (await notifications('?status=sent'))[0], { what: 'sent' })
    expect(sent.attempts).toBe(2)
  })

  it('removes the channel and the subscription when the push service answers 410', async () => {
    t = await createTestApp(dialect)
    t.startKernel()
    const { bot, subscribed, browser } = await subscribedBot()
    service!.failNext({ status: 410 })
    await runBot(bot.id)
    await waitFor(
      async () => (await call('GET', `/channels/${subscribed.channelId}`, t.keys.viewer)).statusCode === 404,
      { what: 'the channel removed' },
    )
    expect(service!.received).toHaveLength(0)
    const rows = await withPushTables(t.database.db).selectFrom('push_subscriptions').selectAll().execute()
    expect(rows).toHaveLength(0)
    expect((await call('GET', `/bots/${bot.id}/channels`, t.keys.viewer)).json().items).toEqual([])
    // The browser subscribes again (the dashboard's button): a new channel.
    const again = await call('POST', '/push/subscriptions', t.keys.viewer, browser.json, chrome)
    expect(again.statusCode).toBe(201)
  })
})
