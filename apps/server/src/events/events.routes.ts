import type { ServerResponse } from 'node:http'
import { eventStreamHeadersSchema, eventStreamQuerySchema, problemResponse } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Db } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import { toError } from '../platform/errors.ts'
import { parseJson } from '../runs/run.mapper.ts'
import { listEventsAfter } from '../runs/run.store.ts'
import type { RunEvent } from '../runs/run.types.ts'

// GET /api/v1/events: the live feed of run state changes, as server-sent events, for the caller's
// tenant only. With Last-Event-ID it first replays the outbox table after that id, then goes live
// from the bus (the relay broadcasts each event once it is dispatched).

export interface EventRoutesOptions {
  database: Db
  bus: Bus
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number
}

const replayPage = 500
/** A client this far behind is dropped; it reconnects with Last-Event-ID and catches up from the table. */
const maxBufferedBytes = 1024 * 1024
/** Live copies of replayed events arrive within a relay cycle; remembering them longer is waste. */
const replayMemoryMs = 60_000

function frameOf(event: RunEvent): string {
  const type = event.type.replace(/[\r\n]/g, '')
  // A live-only event (id 0, a claim's run.running) carries no id: the client's Last-Event-ID must
  // keep pointing at the last stored event, the one a replay can start after.
  const id = event.id > 0 ? `id: ${event.id}\n` : ''
  return `${id}event: ${type}\ndata: ${JSON.stringify(event.payload)}\n\n`
}

export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, options) => {
  const { database, bus } = options
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const open = new Set<ServerResponse>()

  // Streams never end by themselves; without this, closing the server would wait for every client.
  app.addHook('preClose', async () => {
    for (const res of open) res.end()
  })

  app.get(
    '/events',
    {
      config: { metrics: false },
      schema: {
        tags: ['events'],
        summary: 'Live feed of run state changes (server-sent events)',
        description:
          'A `text/event-stream`: each message has `event` (`run.pending`, `run.running`, `run.completed`, ' +
          '`run.failed`, …), `data` (RunEventPayload JSON) and `id` (the stored event id). Send `Last-Event-ID` ' +
          'to replay the stored events you missed. `run.running` is announced live only: it has no `id` and is ' +
          'not replayed. Live events may arrive out of order between runs; order by `id` where it matters. ' +
          'A `: heartbeat` comment comes every 15 s.',
        headers: eventStreamHeadersSchema,
        querystring: eventStreamQuerySchema,
        response: {
          200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } },
          400: problemResponse('Invalid Last-Event-ID.'),
          401: problemResponse('No valid API key.'),
        },
      },
    },
    async (request, reply) => {
      const tenantId = request.auth.tenantId
      const lastEventId = request.headers['last-event-id'] ?? request.query.lastEventId
      const after = lastEventId === undefined ? undefined : Number(lastEventId)
      const log = request.log

      reply.hijack()
      const res = reply.raw
      const earlier = Object.entries(reply.getHeaders()).filter(
        (entry): entry is [string, string | number | string[]] => entry[1] !== undefined,
      )
      res.writeHead(200, {
        ...Object.fromEntries(earlier),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx buffers responses unless told otherwise.
        'x-accel-buffering': 'no',
      })
      open.add(res)

      let closed = false
      let live = false
      const waiting: RunEvent[] = []
      // The client has the event it names in Last-Event-ID; the relay may still be broadcasting it.
      const replayed = new Set<number>(after !== undefined ? [after] : [])

      const write = (chunk: string) => {
        if (closed) return
        res.write(chunk)
        if (res.writableLength > maxBufferedBytes) {
          log.warn({ buffered: res.writableLength }, 'event stream client too slow; closing it')
          res.destroy()
        }
      }
      const send = (event: RunEvent) => {
        // Not `id <= after`: on PostgreSQL ids commit out of order, so a lower id may be news.
        if (event.id > 0 && replayed.has(event.id)) return
        write(frameOf(event))
      }

      const unsubscribe = bus.subscribe('events', (message) => {
        let events: RunEvent[]
        try {
          events = JSON.parse(message) as RunEvent[]
        } catch {
          log.warn('ignored a malformed events message')
          return
        }
        for (const event of events) {
          if (event.tenantId !== tenantId) continue
          if (live) send(event)
          else waiting.push(event)
        }
      })
      const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs)
      heartbeat.unref()
      let forget: NodeJS.Timeout | undefined

      res.on('close', () => {
        closed = true
        unsubscribe()
        clearInterval(heartbeat)
        clearTimeout(forget)
        open.delete(res)
      })

      write('retry: 2000\n: connected\n\n')

      if (after !== undefined) {
        try {
          let cursor = after
          while (!closed) {
            const rows = await listEventsAfter(database, tenantId, cursor, replayPage)
            for (const row of rows) {
              const event: RunEvent = {
                id: Number(row.id),
                tenantId: row.tenant_id,
                runId: row.run_id,
                type: row.type,
                payload: parseJson(row.payload) as RunEvent['payload'],
                createdAt: Number(row.created_at),
              }
              send(event)
              replayed.add(event.id)
              cursor = event.id
            }
            if (rows.length < replayPage) break
          }
        } catch (error) {
          log.error({ err: toError(error) }, 'event replay failed; closing the stream')
          res.end()
          return
        }
        forget = setTimeout(() => replayed.clear(), replayMemoryMs)
        forget.unref()
      }
      live = true
      for (const event of waiting.splice(0)) send(event)
    },
  )
}
