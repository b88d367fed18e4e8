import { EventEmitter } from 'node:events'
import pg from 'pg'
import type { Logger } from './logger.ts'

// Messages between the processes that share one database. On PostgreSQL: LISTEN/NOTIFY (delivered at
// commit, so nobody is woken for a row it cannot see yet); on SQLite there is one process, so an emitter.
export type Topic = 'wake' | 'events' | 'control'

export interface Bus {
  /** Sends the messages in order; on PostgreSQL all of them in one statement (one round trip, one commit). */
  publish(topic: Topic, ...messages: string[]): Promise<void>
  subscribe(topic: Topic, handler: (message: string) => void): () => void
  /** The NOTIFY channel for a topic, for `pg_notify` inside a transaction (PostgreSQL only). */
  channel(topic: Topic): string
  /**
   * Whether a publish on `topic` can reach anyone: false on the in-process bus while nothing is
   * subscribed (so the relay need not encode events nobody reads); always true on PostgreSQL, where
   * another process may listen.
   */
  isHeard(topic: Topic): boolean
  /** Resolves once this process listens (PostgreSQL); publishes before that may be missed. */
  ready(): Promise<void>
  close(): Promise<void>
}

/** NOTIFY payloads must stay below 8000 bytes. */
export const maxNotifyPayload = 7900

export function createLocalBus(): Bus {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  return {
    async publish(topic, ...messages) {
      for (const message of messages) emitter.emit(topic, message)
    },
    subscribe(topic, handler) {
      emitter.on(topic, handler)
      return () => emitter.off(topic, handler)
    },
    channel: (topic) => `openorch_${topic}`,
    isHeard: (topic) => emitter.listenerCount(topic) > 0,
    ready: async () => {},
    async close() {
      emitter.removeAllListeners()
    },
  }
}

export function createPostgresBus(options: {
  pool: pg.Pool
  clientConfig: pg.ClientConfig
  namespace: string | undefined
  log: Logger
}): Bus {
  const local = new EventEmitter()
  local.setMaxListeners(0)
  const prefix = options.namespace ? `openorch_${options.namespace}` : 'openorch'
  const channel = (topic: Topic) => `${prefix}_${topic}`
  const topics: Topic[] = ['wake', 'events', 'control']
  let client: pg.Client | undefined
  let closed = false
  let retryTimer: NodeJS.Timeout | undefined

  async function connect(attempt = 0): Promise<void> {
    if (closed) return
    const next = new pg.Client(options.clientConfig)
    try {
      await next.connect()
      next.on('notification', (msg) => {
        const topic = topics.find((t) => channel(t) === msg.channel)
        if (topic) local.emit(topic, msg.payload ?? '')
      })
      next.on('error', (error) => {
        options.log.warn({ err: error }, 'LISTEN connection lost; polling until it is back')
        next.end().catch(() => {})
        if (client === next) client = undefined
        scheduleReconnect(0)
      })
      for (const topic of topics) await next.query(`LISTEN ${channel(topic)}`)
      if (closed) {
        await next.end()
        return
      }
      client = next
      // Anything published while we were away is picked up by polling; wake everyone once.
      if (attempt > 0) local.emit('wake', '')
    } catch (error) {
      next.end().catch(() => {})
      options.log.warn({ err: error, attempt }, 'LISTEN connection failed; retrying')
      scheduleReconnect(attempt + 1)
    }
  }

  function scheduleReconnect(attempt: number) {
    if (closed) return
    clearTimeout(retryTimer)
    retryTimer = setTimeout(() => void connect(attempt + 1), Math.min(10_000, 250 * 2 ** attempt))
    retryTimer.unref()
  }

  const ready = connect()

  return {
    async publish(topic, ...messages) {
      if (messages.length === 1) {
        await options.pool.query('SELECT pg_notify($1, $2)', [channel(topic), messages[0]])
      } else if (messages.length > 1) {
        // As one JSON array: node-postgres escapes a text[] parameter character by character in JavaScript.
        await options.pool.query(
          'SELECT count(pg_notify($1, m)) FROM json_array_elements_text($2::json) AS m',
          [channel(topic), JSON.stringify(messages)],
        )
      }
    },
    subscribe(topic, handler) {
      local.on(topic, handler)
      return () => local.off(topic, handler)
    },
    channel,
    isHeard: () => true,
    ready: () => ready,
    async close() {
      closed = true
      clearTimeout(retryTimer)
      await ready
      local.removeAllListeners()
      await client?.end().catch(() => {})
    },
  }
}
