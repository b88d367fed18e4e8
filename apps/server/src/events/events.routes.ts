import type { ServerResponse } from 'node:http'
import { eventStreamHeadersSchema, eventStreamQuerySchema, problemResponse } from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { personOf } from '../auth/api-key.service.ts'
import { apiKeyOf, type CredentialCheck } from '../auth/auth.hook.ts'
import { hasRole } from '../auth/role.ts'
import type { Db } from '../database.ts'
import type { Bus } from '../platform/bus.ts'
import { AppError, toError } from '../platform/errors.ts'
import { parseJson } from '../runs/run.mapper.ts'
import type { RunEvent } from '../runs/run.types.ts'
import { eventPayloadJsonOf, listEventsAfter, type RunKindView } from '../runs/runs.ts'

// GET /api/v1/events: the live feed of run state changes, as server-sent events, for the caller's
// tenant only. With Last-Event-ID it first replays the outbox table after that id, then goes live
// from the bus (the relay broadcasts each event once it is dispatched).

/** Limits of the live feed, per process (decision 0018). */
export interface StreamLimits {
  /** A stream ends after this long; the client reconnects with Last-Event-ID (default 1 hour). */
  maxStreamMs?: number
  /** Open streams per credential (an API key, or a session's key) (default 10). */
  maxStreamsPerCredential?: number
  /** Open streams per workspace (default 200); the last tenth of them only for admins and owners. */
  maxStreamsPerWorkspace?: number
  /** Open streams per person, over all their keys and sessions (default 20). */
  maxStreamsPerPerson?: number
}

export interface EventRoutesOptions extends StreamLimits {
  database: Db
  bus: Bus
  /**
   * Checks the stream's credential again at every heartbeat: a revoked key, a disabled user or
   * workspace, a changed password or an expired session ends the stream (decision 0018).
   */
  checkCredential?: CredentialCheck
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number
  /** How each kind's domain names its subject in a payload (run-view.ts). */
  views?: readonly RunKindView[]
}

const replayPage = 500
/** A client this far behind is dropped; it reconnects with Last-Event-ID and catches up from the table. */
const maxBufferedBytes = 1024 * 1024
/** Live copies of replayed events arrive within a relay cycle; remembering them longer is waste. */
const replayMemoryMs = 60_000

function frameOf(event: RunEvent, present: (payload: unknown) => Record<string, unknown>): string {
  const type = event.type.replace(/[\r\n]/g, '')
  // A live-only event (id 0, a claim's run.running) carries no id: the client's Last-Event-ID must
  // keep pointing at the last stored event, the one a replay can start after.
  const id = event.id > 0 ? `id: ${event.id}\n` : ''
  return `${id}event: ${type}\ndata: ${JSON.stringify(present(event.payload))}\n\n`
}

export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, options) => {
  const { database, bus } = options
  const present = eventPayloadJsonOf(options.views ?? [])
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const maxStreamMs = options.maxStreamMs ?? 60 * 60_000
  const perCredential = options.maxStreamsPerCredential ?? 10
  const perWorkspace = options.maxStreamsPerWorkspace ?? 200
  const perPerson = options.maxStreamsPerPerson ?? 20
  // Members cannot take the whole workspace's streams: an admin can always still open one and act.
  const forMembers = perWorkspace - Math.max(1, Math.ceil(perWorkspace / 10))
  const byPerson = new Map<string, number>()
  const open = new Set<ServerResponse>()
  const byCredential = new Map<string, number>()
  const byWorkspace = new Map<string, number>()
  const count = (map: Map<string, number>, key: string, delta: number) => {
    const next = (map.get(key) ?? 0) + delta
    if (next > 0) map.set(key, next)
    else map.delete(key)
  }

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
          'A `: heartbeat` comment comes every 15 s; the credential is checked again at each, so a revoked key, a disabled user or workspace or an ended session ends the stream (with a last `stream.closed` event saying why). A stream ends after an hour at most (reconnect with Last-Event-ID); at most 10 streams per key, 20 per person and 200 per workspace are open at once (the last 20 of a workspace only for its admins).',
        headers: eventStreamHeadersSchema,
        querystring: eventStreamQuerySchema,
        response: {
          200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } },
          400: problemResponse('Invalid Last-Event-ID.'),
          401: problemResponse('No valid API key.'),
          429: problemResponse(
            'Too many open streams (`too_many_streams`): `cap` says which limit was hit — `credential` (this key or session), `person` (all your keys and sessions), `workspace`, or `workspace_members` (the rest is kept for admins) — and `limit` its size. Close one, or share one stream between views.',
          ),
        },
      },
    },
    async (request, reply) => {
      const tenantId = request.auth.tenantId
      const credential = request.auth.keyId
      const person = personOf(request.auth) ?? `key:${credential}`
      const inWorkspace = byWorkspace.get(tenantId) ?? 0
      // Counted before the stream opens, so N parallel requests cannot all slip under the cap.
      const refusal: [cap: string, limit: number, detail: string] | undefined =
        (byCredential.get(credential) ?? 0) >= perCredential
          ? [
              'credential',
              perCredential,
              `This key already has ${perCredential} live streams open, the most it may have.`,
            ]
          : (byPerson.get(person) ?? 0) >= perPerson
            ? [
                'person',
                perPerson,
                `You already have ${perPerson} live streams open over your keys and sessions, the most one person may have.`,
              ]
            : inWorkspace >= perWorkspace
              ? [
                  'workspace',
                  perWorkspace,
                  `This workspace already has ${perWorkspace} live streams open, the most it may have.`,
                ]
              : inWorkspace >= forMembers && !hasRole(request.auth.role, 'admin')
                ? [
                    'workspace_members',
                    forMembers,
                    `This workspace already has ${inWorkspace} live streams open; the last ${perWorkspace - forMembers} are kept for its admins.`,
                  ]
                : undefined
      if (refusal)
        throw new AppError(
          'too_many_streams',
          `${refusal[2]} Close a stream (a browser tab, a script) or share one stream between views, then try again.`,
          429,
          { headers: { 'retry-after': '30' }, members: { cap: refusal[0], limit: refusal[1] } },
        )
      count(byCredential, credential, 1)
      count(byPerson, person, 1)
      count(byWorkspace, tenantId, 1)
      const key = apiKeyOf(request)
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
        write(frameOf(event, present))
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
      // The last word before the stream ends on purpose; the client knows why and whether to reconnect.
      const end = (code: string, detail: string) => {
        if (closed) return
        write(`event: stream.closed\ndata: ${JSON.stringify({ code, detail })}\n\n`)
        res.end()
      }
      const heartbeat = setInterval(async () => {
        write(': heartbeat\n\n')
        if (!options.checkCredential || key === undefined || closed) return
        try {
          const now = await options.checkCredential(key)
          if (now instanceof AppError) end(now.code, now.message)
        } catch (error) {
          // The database is away: the next heartbeat asks again; nothing new is delivered meanwhile
          // that the credential did not already see.
          log.warn({ err: toError(error) }, 'live feed could not check its credential')
        }
      }, heartbeatMs)
      heartbeat.unref()
      const lifetime = setTimeout(
        () => end('stream_lifetime', 'This stream reached its longest life; reconnect with Last-Event-ID.'),
        maxStreamMs,
      )
      lifetime.unref()
      let forget: NodeJS.Timeout | undefined

      res.on('close', () => {
        closed = true
        unsubscribe()
        clearInterval(heartbeat)
        clearTimeout(lifetime)
        clearTimeout(forget)
        open.delete(res)
        count(byCredential, credential, -1)
        count(byPerson, person, -1)
        count(byWorkspace, tenantId, -1)
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
