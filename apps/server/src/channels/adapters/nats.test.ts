import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEgressPolicy, type EgressPolicy, parseEgressAllow } from '../../platform/egress/egress.ts'
import { AppError } from '../../platform/errors.ts'
import { ChannelError, type ChannelMessage } from '../channel.types.ts'
import { closeNatsConnections, type NatsConfig, natsAdapter, natsSubject } from './nats.ts'

// The NATS adapter against the real nats-server on this machine (127.0.0.1:4222, JetStream enabled),
// and a second nats-server started here with token auth and without JetStream. Subjects and streams
// are named for this run and deleted.

const natsUrl = 'nats://127.0.0.1:4222'
const runTag = randomUUID().slice(0, 8)
const streams: string[] = []
let observer: NatsConnection
let authServer: ChildProcess | undefined
let authPort = 0

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

beforeAll(async () => {
  observer = await connect({ servers: natsUrl })
  authPort = await freePort()
  authServer = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(authPort), '--auth', 's3cret-token'], {
    stdio: 'ignore',
  })
  for (let tries = 0; ; tries++) {
    try {
      await (
        await connect({ servers: `127.0.0.1:${authPort}`, token: 's3cret-token', reconnect: false })
      ).close()
      break
    } catch (error) {
      if (tries > 50) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
})

afterAll(async () => {
  await closeNatsConnections()
  const jsm = await jetstreamManager(observer)
  for (const stream of streams) await jsm.streams.delete(stream).catch(() => {})
  await observer.close()
  authServer?.kill()
})

// One policy for the file (connections are kept per policy), opened for the two servers and a closed port.
let policy: EgressPolicy
const egress = () => {
  policy ??= createEgressPolicy(parseEgressAllow(`127.0.0.1:4222,127.0.0.1:${authPort},127.0.0.1:1`))
  return policy
}

function named(what: string) {
  const stream = `OPENORCH_TEST_${runTag}_${what}`
  streams.push(stream)
  return { stream, subject: `openorch_test_${runTag}.${what}` }
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
    output: { offers: 3 },
    error: null,
    createdAt: '2026-12-04T09:00:00.000Z',
    ...overrides,
  }
  return {
    eventId,
    event: data.event,
    title: '✅ Sneaker scout — 3 new offers',
    text: '3 new offers',
    format: 'short',
    facts: [],
    link: null,
    footer: null,
    severity: 'success',
    data,
  }
}

const send = (
  config: NatsConfig,
  message: ChannelMessage,
  policy = egress(),
  signal = new AbortController().signal,
) => natsAdapter.send(message, { config, signal, egress: policy })

async function failureOf(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ChannelError)
  return error as ChannelError
}

describe('nats channel', () => {
  it('stores the event in JetStream once, even when it is published twice with the same msgID', async () => {
    const { stream, subject } = named('js')
    const config: NatsConfig = { servers: natsUrl, subject, stream }
    const first = messageOf(`evt-${randomUUID()}`)
    const second = messageOf(`evt-${randomUUID()}`, { event: 'run.failed', status: 'failed' })
    await send(config, first)
    // The kernel retries a delivery whose ack it did not see: the same event, published again.
    await send(config, first)
    await send(config, second)

    const jsm = await jetstreamManager(observer)
    const info = await jsm.streams.info(stream)
    expect(info.config.subjects).toEqual([`${subject}.>`])
    expect(info.state.messages).toBe(2)

    const consumer = await jetstream(observer).consumers.get(stream)
    const received: Array<{ subject: string; id: string | undefined; data: unknown }> = []
    for (let index = 0; index < 2; index++) {
      const msg = await consumer.next({ expires: 2_000 })
      if (!msg) break
      received.push({ subject: msg.subject, id: msg.headers?.get('Nats-Msg-Id'), data: msg.json() })
    }
    expect(received).toEqual([
      { subject: `${subject}.run.completed`, id: first.eventId, data: first.data },
      { subject: `${subject}.run.failed`, id: second.eventId, data: second.data },
    ])
    expect(await consumer.next({ expires: 1_000 })).toBeNull()
  })

  it('uses a stream that already covers the subject', async () => {
    const { stream, subject } = named('existing')
    const jsm = await jetstreamManager(observer)
    await jsm.streams.add({ name: stream, subjects: [`${subject}.run.*`] })
    await send({ servers: [natsUrl], subject, stream: 'NOT_CREATED', createStream: false }, messageOf('e1'))
    expect((await jsm.streams.info(stream)).state.messages).toBe(1)
    await expect(jsm.streams.info('NOT_CREATED')).rejects.toThrow()
  })

  it('says what to create when no stream covers the subject and creating is off', async () => {
    const { stream, subject } = named('missing')
    const error = await failureOf(
      send({ servers: natsUrl, subject, stream, createStream: false }, messageOf('e1')),
    )
    expect(error).toMatchObject({ code: 'nats_no_stream', retryable: false, channelBroken: true })
    expect(error.message).toContain(`nats stream add ${stream} --subjects '${subject}.>'`)
  })

  it('publishes on core NATS with the event id in Nats-Msg-Id when jetstream is off', async () => {
    const { subject } = named('core')
    const subscription = observer.subscribe(`${subject}.>`, { max: 1 })
    await observer.flush()
    const message = messageOf(`evt-${randomUUID()}`, { event: 'bot.paused' })
    await send({ servers: natsUrl, subject, jetstream: false }, message)
    for await (const msg of subscription) {
      expect(msg.subject).toBe(natsSubject({ subject }, 'bot.paused'))
      expect(msg.headers?.get('Nats-Msg-Id')).toBe(message.eventId)
      expect(msg.json()).toEqual(message.data)
    }
  })

  it('breaks the channel when the server refuses the token', async () => {
    const config: NatsConfig = {
      servers: `nats://127.0.0.1:${authPort}`,
      token: 'wrong-token',
      jetstream: false,
    }
    const error = await failureOf(send(config, messageOf('e1')))
    expect(error).toMatchObject({ code: 'nats_refused', retryable: false, channelBroken: true })
    expect(error.message).not.toContain('wrong-token')
    // The right token, from the config or in the URL, is let in.
    await send({ ...config, token: 's3cret-token' }, messageOf('e1'))
    await send({ servers: `nats://s3cret-token@127.0.0.1:${authPort}`, jetstream: false }, messageOf('e1'))
  })

  it('breaks the channel when the server has no JetStream, naming the way out', async () => {
    const error = await failureOf(
      send({ servers: `127.0.0.1:${authPort}`, token: 's3cret-token' }, messageOf('e1')),
    )
    expect(error).toMatchObject({ code: 'nats_no_jetstream', retryable: false, channelBroken: true })
    expect(error.message).toContain('`jetstream` to false')
  })

  it('retries when the server cannot be reached', async () => {
    const error = await failureOf(send({ servers: 'nats://127.0.0.1:1' }, messageOf('e1')))
    expect(error).toMatchObject({ code: 'nats_unavailable', retryable: true, channelBroken: false })
    expect(error.message).toContain('connection refused')
  })

  it('does not connect to an address the egress policy refuses', async () => {
    const closed = createEgressPolicy(parseEgressAllow('none'))
    const config: NatsConfig = { servers: ['nats://localhost:4222'], subject: named('egress').subject }
    const error = await failureOf(send(config, messageOf('e1'), closed))
    expect(error).toMatchObject({ code: 'egress_refused', retryable: false, channelBroken: true })
    expect(error.message).toContain('loopback')
    const checked = await natsAdapter.check!(config, closed).catch((thrown: unknown) => thrown)
    expect(checked).toBeInstanceOf(AppError)
    expect(checked).toMatchObject({ code: 'egress_refused' })
    await expect(natsAdapter.check!({ servers: natsUrl }, egress())).resolves.toBeUndefined()
  })

  it("stops waiting when the run's signal aborts", async () => {
    const controller = new AbortController()
    controller.abort(new Error('lease lost'))
    await expect(send({ servers: natsUrl }, messageOf('e1'), egress(), controller.signal)).rejects.toThrow(
      'lease lost',
    )
  })

  it('refuses a config that is not a NATS one', () => {
    const parse = (config: unknown) => natsAdapter.configSchema.safeParse(config).success
    expect(parse({ servers: 'http://x:80' })).toBe(false)
    expect(parse({ servers: natsUrl, subject: 'orders.>' })).toBe(false)
    expect(parse({ servers: natsUrl, token: 't', user: 'u' })).toBe(false)
    expect(parse({ servers: natsUrl, pass: 'p' })).toBe(false)
    expect(parse({ servers: ['tls://nats.example:4222', 'nats.example'], subject: 'events.bots' })).toBe(true)
  })
})
