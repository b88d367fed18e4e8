import { randomUUID } from 'node:crypto'
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import { type AmqpConfig, amqpAdapter, amqpRoutingKey, closeAmqpConnections } from './amqp.ts'

// The AMQP adapter against the real RabbitMQ on this machine (127.0.0.1:5672, guest/guest), opened by
// the egress policy for exactly that port. Every exchange and queue is named for this run and deleted.

const brokerUrl = 'amqp://guest:guest@127.0.0.1:5672'
const egress = createEgressPolicy(parseEgressAllow('127.0.0.1:5672,127.0.0.1:1'))
const runTag = randomUUID().slice(0, 8)
const exchanges: string[] = []
let consumer: ChannelModel

beforeAll(async () => {
  consumer = await amqp.connect(brokerUrl)
})

afterAll(async () => {
  await closeAmqpConnections()
  const channel = await consumer.createChannel()
  for (const exchange of exchanges) await channel.deleteExchange(exchange)
  await consumer.close()
})

function exchangeName(what: string): string {
  const name = `openorch.test.${runTag}.${what}`
  exchanges.push(name)
  return name
}

function messageOf(eventId: string, overrides: Partial<ChannelMessage['data']> = {}): ChannelMessage {
  const data: ChannelMessage['data'] = {
    eventId,
    event: 'run.completed',
    botId: 'b1',
    botName: 'Sneaker scout',
    runId: 'r1',
    status: 'completed',
    isNew: true,
    output: { offers: [{ title: 'Air Max', price: 89 }] },
    error: null,
    createdAt: '2026-12-04T09:00:00.000Z',
    ...overrides,
  }
  return {
    eventId,
    event: data.event,
    title: '✅ Sneaker scout — 1 new offer',
    text: 'Air Max for 89 €',
    format: 'full',
    facts: [],
    link: null,
    footer: null,
    severity: 'success',
    data,
  }
}

const send = (
  config: AmqpConfig,
  message: ChannelMessage,
  policy = egress,
  signal = new AbortController().signal,
) => amqpAdapter.send(message, { config, signal, egress: policy })

async function failureOf(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ChannelError)
  return error as ChannelError
}

/** A queue bound to `exchange` with `pattern`, collecting what arrives (acked). */
async function bindQueue(exchange: string, pattern = 'openorch.#') {
  const channel = await consumer.createChannel()
  await channel.assertExchange(exchange, 'topic', { durable: true })
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true })
  await channel.bindQueue(queue, exchange, pattern)
  const received: ConsumeMessage[] = []
  await channel.consume(queue, (delivery) => {
    if (!delivery) return
    received.push(delivery)
    channel.ack(delivery)
  })
  return {
    received,
    async until(count: number) {
      const deadline = Date.now() + 5_000
      while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      return received
    },
  }
}

describe('amqp channel', () => {
  it('publishes the event as persistent JSON with the event id as messageId, once the broker confirmed it', async () => {
    const exchange = exchangeName('plain')
    const queue = await bindQueue(exchange)
    const message = messageOf(`evt-${randomUUID()}`)
    await send({ url: brokerUrl, exchange }, message)
    const [delivery] = await queue.until(1)
    expect(delivery).toBeDefined()
    expect(delivery!.fields.routingKey).toBe('openorch.run.completed')
    expect(delivery!.properties).toMatchObject({
      messageId: message.eventId,
      type: 'run.completed',
      contentType: 'application/json',
      deliveryMode: 2,
      timestamp: Date.parse('2026-12-04T09:00:00.000Z') / 1000,
    })
    expect(JSON.parse(delivery!.content.toString('utf8'))).toEqual(message.data)
  })

  it('a retry carries the same messageId, so an idempotent consumer handles the event once', async () => {
    const exchange = exchangeName('retry')
    const queue = await bindQueue(exchange)
    const first = messageOf(`evt-${randomUUID()}`)
    const second = messageOf(`evt-${randomUUID()}`, { event: 'run.failed', status: 'failed', isNew: null })
    await send({ url: brokerUrl, exchange }, first)
    // The kernel retries a delivery whose confirm it did not see: the same event, published again.
    await send({ url: brokerUrl, exchange }, first)
    await send({ url: brokerUrl, exchange }, second)
    const deliveries = await queue.until(3)
    expect(deliveries.map((d) => d.properties.messageId)).toEqual([
      first.eventId,
      first.eventId,
      second.eventId,
    ])
    // The consumer side: remember handled message ids, drop a repeat.
    const seen = new Set<string>()
    const handled = deliveries.filter((delivery) => {
      const id = delivery.properties.messageId as string
      if (seen.has(id)) return false
      seen.add(id)
      return true
    })
    expect(handled.map((d) => JSON.parse(d.content.toString('utf8')).event)).toEqual([
      'run.completed',
      'run.failed',
    ])
    expect(handled[1]!.fields.routingKey).toBe('openorch.run.failed')
  })

  it('uses a routing key template and keeps one connection across sends', async () => {
    const exchange = exchangeName('template')
    const queue = await bindQueue(exchange, 'bots.*.events.#')
    const config = { url: brokerUrl, exchange, routingKey: 'bots.scout.events.{event}' }
    expect(amqpRoutingKey(config, 'run.completed')).toBe('bots.scout.events.run.completed')
    expect(amqpRoutingKey({}, 'weird event*#')).toBe('openorch.weird_event_')
    await send(config, messageOf(`evt-${randomUUID()}`))
    await closeAmqpConnections()
    // Closed at shutdown: the next send opens a new connection.
    await send(config, messageOf(`evt-${randomUUID()}`))
    expect(await queue.until(2)).toHaveLength(2)
  })

  it('breaks the channel when the broker refuses the credentials', async () => {
    const error = await failureOf(
      send(
        { url: 'amqp://guest:wrong-password@127.0.0.1:5672', exchange: exchangeName('refused') },
        messageOf('e1'),
      ),
    )
    expect(error).toMatchObject({ code: 'amqp_refused', retryable: false, channelBroken: true })
    expect(error.message).not.toContain('wrong-password')
  })

  it('breaks the channel when the exchange exists with another type', async () => {
    const exchange = exchangeName('mismatch')
    const channel = await consumer.createChannel()
    await channel.assertExchange(exchange, 'direct', { durable: true })
    await channel.close()
    const error = await failureOf(send({ url: brokerUrl, exchange }, messageOf('e1')))
    expect(error).toMatchObject({ code: 'amqp_exchange_mismatch', retryable: false, channelBroken: true })
    // The broken channel closed the connection; a corrected config works at once.
    await send({ url: brokerUrl, exchange, exchangeType: 'direct' }, messageOf('e2'))
  })

  it('retries when the broker cannot be reached', async () => {
    const error = await failureOf(
      send({ url: 'amqp://guest:guest@127.0.0.1:1', exchange: exchangeName('down') }, messageOf('e1')),
    )
    expect(error).toMatchObject({ code: 'amqp_unavailable', retryable: true, channelBroken: false })
    expect(error.message).toContain('connection refused')
  })

  it('does not connect to an address the egress policy refuses', async () => {
    const closed = createEgressPolicy(parseEgressAllow('none'))
    const config = { url: brokerUrl, exchange: exchangeName('egress') }
    const error = await failureOf(send(config, messageOf('e1'), closed))
    expect(error).toMatchObject({ code: 'egress_refused', retryable: false, channelBroken: true })
    expect(error.message).toContain('loopback')
    const checked = await amqpAdapter.check!(config, closed).catch((thrown: unknown) => thrown)
    expect(checked).toBeInstanceOf(AppError)
    expect(checked).toMatchObject({ code: 'egress_refused' })
    await expect(amqpAdapter.check!(config, egress)).resolves.toBeUndefined()
    // A name is checked in the socket's own lookup.
    const byName = await failureOf(
      send({ ...config, url: 'amqp://guest:guest@localhost:5672' }, messageOf('e1'), closed),
    )
    expect(byName.code).toBe('egress_refused')
  })

  it("stops waiting when the run's signal aborts", async () => {
    const controller = new AbortController()
    controller.abort(new Error('lease lost'))
    await expect(
      send({ url: brokerUrl, exchange: exchangeName('aborted') }, messageOf('e1'), egress, controller.signal),
    ).rejects.toThrow('lease lost')
  })

  it('refuses a config that is not an AMQP one', () => {
    expect(amqpAdapter.configSchema.safeParse({ url: 'http://x', exchange: 'x' }).success).toBe(false)
    expect(amqpAdapter.configSchema.safeParse({ url: brokerUrl, exchange: 'bad name' }).success).toBe(false)
    expect(amqpAdapter.configSchema.safeParse({ url: brokerUrl, exchange: 'events' }).success).toBe(true)
  })
})
