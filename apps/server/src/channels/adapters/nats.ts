import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import {
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream'
import { connect, headers, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node'
import { z } from 'zod'
import { type EgressPolicy, EgressRefusedError, egressRefusal } from '../../platform/egress/egress.ts'
import { networkFailureReason } from '../../platform/egress/network-reason.ts'
import { AppError } from '../../platform/errors.ts'
import { type ChannelAdapter, ChannelError } from '../channel.types.ts'
import { subjectToken } from './amqp.ts'
import { channelTimeoutMs, oneLine } from './webhook.ts'

// The NATS channel: an event stream for systems, not people. Every notification is the event as JSON
// (`message.data`) published on `<subject>.<event>` (`openorch.run.completed`).
// With JetStream (the default) the server stores it and acks it; the event id is the `Nats-Msg-Id`
// (`msgID`), so a retry inside the stream's de-duplication window (2 minutes by default) is dropped by
// the server itself. A stream covering the subject must exist: it is created (named by `stream`) when
// missing unless `createStream` is false. Without JetStream (`jetstream: false`) the message is a
// core NATS publish, at most once, with the event id in the `Nats-Msg-Id` header for consumers.
// One connection per distinct server list and credentials, kept open; the client does not reconnect
// or follow the cluster's gossip on its own (those addresses would bypass the egress guard): a closed
// connection is dropped and the next send opens a new one, to an address resolved and checked here.

const serverUrl = z
  .string()
  .trim()
  .min(1)
  .max(500)
  .refine((value) => parseServer(value) !== undefined, {
    error: 'must be a NATS server: host:port, nats://host:port or tls://host:port',
  })

export const natsConfigSchema = z
  .strictObject({
    servers: z
      .union([serverUrl, z.array(serverUrl).min(1).max(10)])
      .describe(
        'The server(s), e.g. `tls://nats.example:4222` (tried in order; `tls://` for a server that requires TLS, so its certificate is checked against its name); kept in the vault (a URL may carry `user:pass@` or a token).',
      ),
    subject: z
      .string()
      .trim()
      .max(200)
      .regex(
        /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
        'must be a subject prefix without wildcards, e.g. `openorch`',
      )
      .optional()
      .describe('The subject prefix; the event is appended: `openorch.run.completed`. Default `openorch`.'),
    token: z.string().min(1).max(1_000).optional().describe('A token the server expects; kept in the vault.'),
    user: z.string().min(1).max(200).optional().describe('A user name the server expects.'),
    pass: z.string().min(1).max(1_000).optional().describe("The user's password; kept in the vault."),
    jetstream: z
      .boolean()
      .optional()
      .describe(
        'Publish to JetStream (stored, acked, de-duplicated by event id). Default true; false: core NATS.',
      ),
    stream: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a stream name (letters, digits, - _)')
      .optional()
      .describe('The JetStream stream created for `<subject>.>` when none covers it. Default `OPENORCH`.'),
    createStream: z
      .boolean()
      .optional()
      .describe(
        'Create the stream when none covers the subject (default true); false: refuse and say what to create.',
      ),
  })
  .refine((config) => !(config.token && (config.user || config.pass)), {
    error: 'give a token or a user and password, not both',
    path: ['token'],
  })
  .refine((config) => config.pass === undefined || config.user !== undefined, {
    error: 'a password needs a user',
    path: ['user'],
  })

export type NatsConfig = z.infer<typeof natsConfigSchema>

const defaultSubject = 'openorch'
const defaultStream = 'OPENORCH'
const natsTimeoutMs = channelTimeoutMs

/** `openorch.run.completed`: the subject `event` is published on. */
export function natsSubject(config: Pick<NatsConfig, 'subject'>, event: string): string {
  return `${config.subject ?? defaultSubject}.${subjectToken(event)}`
}

export const natsAdapter: ChannelAdapter<NatsConfig> = {
  type: 'nats',
  configSchema: natsConfigSchema,
  secretFields: ['servers', 'token', 'pass'],
  async check(config, egress) {
    for (const server of serversOf(config)) {
      const refused = await refusalOf(server, egress)
      if (refused) throw new AppError('egress_refused', refused.message, 400)
    }
  },
  async send(message, { config, signal, egress }) {
    signal.throwIfAborted()
    const label = labelOf(config)
    try {
      const link = await untilAborted(linkFor(config, egress), signal, label)
      const subject = natsSubject(config, message.event)
      const body = JSON.stringify(message.data)
      if (config.jetstream === false) {
        const h = headers()
        h.set('Nats-Msg-Id', message.eventId)
        h.set('Content-Type', 'application/json')
        link.connection.publish(subject, body, { headers: h })
        // A round trip: the server has read the message (core NATS keeps nothing for later).
        await untilAborted(link.connection.flush(), signal, label)
        return
      }
      await untilAborted(link.ensureStream(config, subject), signal, label)
      const h = headers()
      h.set('Content-Type', 'application/json')
      const publish = () =>
        jetstream(link.connection).publish(subject, body, {
          msgID: message.eventId,
          timeout: natsTimeoutMs,
          headers: h,
        })
      try {
        await untilAborted(publish(), signal, label)
      } catch (error) {
        // No responders: the stream went away since it was checked. Check (create) it again, once.
        if (!isNoStream(error)) throw error
        link.forgetStream(subject)
        await untilAborted(link.ensureStream(config, subject), signal, label)
        await untilAborted(publish(), signal, label)
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw natsFailure(error, label, config)
    }
  },
}

// ---------------------------------------------------------------------------------------------------
// Servers and egress

interface NatsServer {
  tls: boolean
  host: string
  port: number
  user: string | undefined
  pass: string | undefined
}

/** `host:port`, `nats://[user[:pass]@]host[:port]`, `tls://…`; undefined when it is none of these. */
function parseServer(value: string): NatsServer | undefined {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `nats://${value}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    return undefined
  }
  if (url.protocol !== 'nats:' && url.protocol !== 'tls:') return undefined
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || !url.hostname)
    return undefined
  const port = url.port ? Number(url.port) : 4222
  return {
    tls: url.protocol === 'tls:',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    user: url.username ? decodeURIComponent(url.username) : undefined,
    pass: url.password ? decodeURIComponent(url.password) : undefined,
  }
}

function serversOf(config: Pick<NatsConfig, 'servers'>): NatsServer[] {
  const list = typeof config.servers === 'string' ? [config.servers] : config.servers
  return list.flatMap((value) => parseServer(value) ?? [])
}

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`

/** "The NATS server at nats.example:4222": servers as messages name them, no credentials. */
function labelOf(config: Pick<NatsConfig, 'servers'>): string {
  const servers = serversOf(config).map((server) => hostPort(server.host, server.port))
  return servers.length === 1 ? `The NATS server at ${servers[0]}` : `The NATS servers ${servers.join(', ')}`
}

/** The addresses `server`'s host resolves to, every one checked; throws EgressRefusedError for a refused one. */
async function checkedAddresses(server: NatsServer, egress: EgressPolicy): Promise<string[]> {
  const addresses = isIP(server.host)
    ? [server.host]
    : (await lookup(server.host, { all: true })).map((entry) => entry.address)
  for (const address of addresses) {
    const refused = egress.refusal(server.host, address, server.port)
    if (refused) throw refused
  }
  return addresses
}

async function refusalOf(server: NatsServer, egress: EgressPolicy): Promise<EgressRefusedError | undefined> {
  try {
    await checkedAddresses(server, egress)
    return undefined
  } catch (error) {
    // A name that does not resolve now passes: every connection checks again.
    return error instanceof EgressRefusedError ? error : undefined
  }
}

// ---------------------------------------------------------------------------------------------------
// Errors

const isNoStream = (error: unknown) => error instanceof Error && error.name === 'JetStreamNotEnabled'

class NoJetStreamError extends Error {}

/**
 * A server's refusal as a channel error: credentials, permissions, a missing JetStream or stream break
 * the channel (a person must change something); no connection, a timeout or a closed connection is
 * retried, and a retry carries the same msgID.
 */
export function natsFailure(error: unknown, label: string, config: Pick<NatsConfig, 'stream'>): ChannelError {
  if (error instanceof ChannelError) return error
  const refused = egressRefusal(error)
  if (refused)
    return new ChannelError('egress_refused', `${label} is not called: ${refused.message}`, {
      retryable: false,
    })
  const name = error instanceof Error ? error.name : ''
  const said = oneLine(error instanceof Error ? error.message : String(error), 300)
  if (name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError')
    return new ChannelError(
      'nats_refused',
      `${label} refused the credentials (${said}). Check the channel's token or user and password, then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (name === 'PermissionViolationError')
    return new ChannelError(
      'nats_refused',
      `${label} does not allow this user to publish (${said}). Grant it the channel's subjects, then send a test.`,
      { retryable: false, channelBroken: true },
    )
  if (error instanceof NoJetStreamError)
    return new ChannelError(
      'nats_no_jetstream',
      `${label} has no JetStream for this account, so events would not be stored. Enable JetStream (\`nats-server -js\`, or \`jetstream {}\` in its configuration and for the account), or set the channel's \`jetstream\` to false to publish on core NATS without persistence.`,
      { retryable: false, channelBroken: true },
    )
  if (error instanceof JetStreamApiError) {
    const status = error.status
    if (status >= 500 || status === 408)
      return new ChannelError(
        'nats_unavailable',
        `${label} could not store the event (${said}); the delivery is tried again.`,
        {
          retryable: true,
        },
      )
    return new ChannelError(
      'nats_rejected',
      `${label} refused the event or the stream ${config.stream ?? defaultStream} (${said}).`,
      { retryable: false, channelBroken: true },
    )
  }
  return new ChannelError(
    'nats_unavailable',
    `${label} could not be reached or did not ack the event (${networkFailureReason(error).reason}); the delivery is tried again.`,
    { retryable: true },
  )
}

/** Waits for `work` until the run's signal aborts (its reason is thrown) or the timeout passes (retryable). */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ChannelError(
            'nats_unavailable',
            `${label} did not answer within ${natsTimeoutMs / 1000} s; the delivery is tried again.`,
            { retryable: true },
          ),
        ),
      natsTimeoutMs,
    )
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, stopped])
  } finally {
    clearTimeout(timer)
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}

// ---------------------------------------------------------------------------------------------------
// Connections and the stream

interface NatsLink {
  connection: NatsConnection
  /** Makes sure a JetStream stream covers `subject` (created when allowed); once per subject. */
  ensureStream(config: NatsConfig, subject: string): Promise<void>
  forgetStream(subject: string): void
}

// Per egress policy, so a connection opened under one policy is never used under another.
const links = new Map<EgressPolicy, Map<string, Promise<NatsLink>>>()

/** Closes every kept NATS connection (at shutdown); a later send opens new ones. */
export async function closeNatsConnections(): Promise<void> {
  const open = [...links.values()].flatMap((byKey) => [...byKey.values()])
  links.clear()
  await Promise.all(open.map(async (link) => (await link.catch(() => undefined))?.connection.close()))
}

function linkFor(config: NatsConfig, egress: EgressPolicy): Promise<NatsLink> {
  let byKey = links.get(egress)
  if (!byKey) {
    byKey = new Map()
    links.set(egress, byKey)
  }
  // The key holds credentials: it stays in this map, never in a message or a log line.
  const key = JSON.stringify([
    serversOf(config),
    config.token ?? null,
    config.user ?? null,
    config.pass ?? null,
  ])
  const kept = byKey.get(key)
  if (kept) return kept
  const forget = () => {
    if (byKey.get(key) === opened) byKey.delete(key)
  }
  const opened = openLink(config, egress, forget)
  byKey.set(key, opened)
  opened.catch(forget)
  return opened
}

async function openLink(config: NatsConfig, egress: EgressPolicy, forget: () => void): Promise<NatsLink> {
  const connection = await connectFirst(config, egress)
  connection.closed().then(forget, forget)
  const ensured = new Map<string, Promise<void>>()
  let manager: Promise<JetStreamManager> | undefined
  const managerOf = () => {
    manager ??= jetstreamManager(connection, { timeout: natsTimeoutMs }).catch((error: unknown) => {
      manager = undefined
      throw isNoStream(error) ? new NoJetStreamError('JetStream is not enabled', { cause: error }) : error
    })
    return manager
  }
  return {
    connection,
    ensureStream(config, subject) {
      let done = ensured.get(subject)
      if (!done) {
        done = managerOf().then((jsm) => ensureStream(jsm, config, subject, labelOf(config)))
        ensured.set(subject, done)
        done.catch(() => ensured.delete(subject))
      }
      return done
    },
    forgetStream(subject) {
      ensured.delete(subject)
    },
  }
}

/**
 * Connects to the first server that answers, at an address resolved and checked here (TLS still
 * verifies the server's name). A refused credential is final; an unreachable server tries the next.
 */
async function connectFirst(config: NatsConfig, egress: EgressPolicy): Promise<NatsConnection> {
  let lastError: unknown = new Error('no server')
  for (const server of serversOf(config)) {
    const addresses = await checkedAddresses(server, egress).catch((error: unknown) => {
      if (error instanceof EgressRefusedError) throw error
      lastError = error
      return []
    })
    for (const address of addresses) {
      // `nats://<token>@host` carries a token, `nats://user:pass@host` a user; the config's fields win.
      const user = config.user ?? (server.pass === undefined ? undefined : server.user)
      const pass = config.pass ?? server.pass
      const token =
        config.token ?? (user === undefined && server.pass === undefined ? server.user : undefined)
      try {
        return await connect({
          servers: [hostPort(address, server.port)],
          name: 'openOrchestrator notifications',
          timeout: natsTimeoutMs,
          reconnect: false,
          ignoreClusterUpdates: true,
          noEcho: true,
          ...(server.tls ? { tls: tlsFor(server) } : {}),
          ...(user !== undefined
            ? { user, ...(pass !== undefined ? { pass } : {}) }
            : token !== undefined
              ? { token }
              : {}),
        })
      } catch (error) {
        const name = error instanceof Error ? error.name : ''
        if (name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError') throw error
        lastError = error
      }
    }
  }
  throw lastError
}

/**
 * The TLS options for `server`: the connection goes to a checked address, so the name the certificate
 * must carry is given as `servername` (the client passes its TLS options on to node's tls.connect;
 * its type does not list that field).
 */
function tlsFor(server: NatsServer): NodeConnectionOptions['tls'] {
  return (isIP(server.host) ? {} : { servername: server.host }) as NodeConnectionOptions['tls']
}

/** A stream covering `subject`: found, or created as `<prefix>.>` when allowed, or a clear refusal. */
async function ensureStream(jsm: JetStreamManager, config: NatsConfig, subject: string, label: string) {
  const found = await jsm.streams.find(subject).catch((error: unknown) => {
    if (error instanceof JetStreamApiError && error.code === 10059) return undefined
    if (error instanceof Error && /no stream matches subject/.test(error.message)) return undefined
    throw error
  })
  if (found) return
  const name = config.stream ?? defaultStream
  const subjects = `${config.subject ?? defaultSubject}.>`
  if (config.createStream === false)
    throw new ChannelError(
      'nats_no_stream',
      `${label} has no JetStream stream for ${subject}. Create one, e.g. \`nats stream add ${name} --subjects '${subjects}' --storage file --dupe-window 2m\`, or let the channel create it (\`createStream\`).`,
      { retryable: false, channelBroken: true },
    )
  try {
    await jsm.streams.add({ name, subjects: [subjects], storage: StorageType.File })
  } catch (error) {
    if (error instanceof JetStreamApiError && error.status < 500)
      throw new ChannelError(
        'nats_no_stream',
        `${label} has no stream for ${subject}, and the stream ${name} for ${subjects} could not be created (${oneLine(error.message, 200)}). Add ${subjects} to an existing stream or set the channel's \`stream\` to a new name.`,
        { retryable: false, channelBroken: true },
      )
    throw error
  }
}
