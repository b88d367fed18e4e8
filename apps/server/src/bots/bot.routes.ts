import {
  botCreateSchema,
  botExportSchema,
  botIdParamsSchema,
  botPageSchema,
  botRunRequestSchema,
  botSchema,
  botUpdateSchema,
  noteListSchema,
  noteParamsSchema,
  notePutSchema,
  noteSchema,
  pageQuerySchema,
  problemResponse,
  runPageSchema,
  runSchema,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../auth/auth.hook.ts'
import type { QuotasOf } from '../quotas/quotas.ts'
import type { RunService } from '../runs/run.service.ts'
import type { RunJsonOf } from '../runs/run-view.ts'
import type { BotService } from './bot.service.ts'
import type { BotNotes } from './bot-notes.ts'

// /api/v1/bots: validate (contracts) → bot service → reply. Every query is scoped by the caller's tenant.

export interface BotRoutesOptions {
  bots: BotService
  runs: Pick<RunService, 'list'>
  /** Runs as the API shows them (every domain's view, run-view.ts). */
  runJson: RunJsonOf
  notes: BotNotes
  /** Each workspace's quotas (notes per bot and their bytes); absent: notes are not limited. */
  quotasOf?: QuotasOf
}

const auth = { 401: problemResponse('No valid API key.') }
const notFound = { 404: problemResponse('No such bot in your workspace (`bot_not_found`).') }
const editor = { 403: problemResponse('The API key is below the editor role (`forbidden`).') }
const invalid = {
  400: problemResponse(
    'Invalid fields, every one listed in `errors` (`validation_failed`), or the provider is not set up (`provider_not_configured`).',
  ),
}
const nameTaken = { 409: problemResponse('Another bot has this name (`bot_name_taken`).') }
const iso = (ms: number) => new Date(ms).toISOString()

const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('The same key within 24 h returns the first run instead of starting a second.'),
})

export const botRoutes: FastifyPluginAsyncZod<BotRoutesOptions> = async (
  app,
  { bots, runs, runJson: toRunJson, notes, quotasOf },
) => {
  app.get(
    '/bots',
    {
      schema: {
        tags: ['bots'],
        summary: 'List bots',
        description: 'Oldest first, each with its next run and its last run in short. Cursor pagination.',
        querystring: pageQuerySchema,
        response: { 200: botPageSchema, ...invalid, ...auth },
      },
    },
    async (request) => bots.list(request.auth.tenantId, request.query),
  )

  app.post(
    '/bots',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Create a bot',
        body: botCreateSchema,
        response: { 201: botSchema, ...invalid, ...auth, ...editor, ...nameTaken },
      },
    },
    async (request, reply) => reply.code(201).send(await bots.create(request.auth.tenantId, request.body)),
  )

  app.post(
    '/bots/import',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Import a bot',
        description:
          'Creates a bot from an export. It arrives disabled (nothing runs at import); a taken name gets " (imported)".',
        body: botExportSchema,
        response: { 201: botSchema, ...invalid, ...auth, ...editor },
      },
    },
    async (request, reply) => reply.code(201).send(await bots.importBot(request.auth.tenantId, request.body)),
  )

  app.get(
    '/bots/:id',
    {
      schema: {
        tags: ['bots'],
        summary: 'Get a bot',
        params: botIdParamsSchema,
        response: { 200: botSchema, ...auth, ...notFound },
      },
    },
    async (request) => bots.get(request.auth.tenantId, request.params.id),
  )

  app.patch(
    '/bots/:id',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Change a bot',
        description: 'Schedule changes and enable/disable take effect at once, without a restart.',
        params: botIdParamsSchema,
        body: botUpdateSchema,
        response: { 200: botSchema, ...invalid, ...auth, ...editor, ...notFound, ...nameTaken },
      },
    },
    async (request) => bots.update(request.auth.tenantId, request.params.id, request.body),
  )

  app.delete(
    '/bots/:id',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Delete a bot',
        description: 'Deletes the bot and its notes; its runs stay for history and usage.',
        params: botIdParamsSchema,
        response: { 204: z.null().describe('Deleted.'), ...auth, ...editor, ...notFound },
      },
    },
    async (request, reply) => {
      await bots.remove(request.auth.tenantId, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/bots/:id/duplicate',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Duplicate a bot',
        description: 'A copy with its notes, named "<name> (copy)".',
        params: botIdParamsSchema,
        response: { 201: botSchema, ...auth, ...editor, ...notFound },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await bots.duplicate(request.auth.tenantId, request.params.id)),
  )

  app.get(
    '/bots/:id/export',
    {
      schema: {
        tags: ['bots'],
        summary: 'Export a bot',
        description: 'Its settings as JSON, for `POST /bots/import`: no ids, no state, no secrets.',
        params: botIdParamsSchema,
        response: { 200: botExportSchema, ...auth, ...notFound },
      },
    },
    async (request) => bots.exportBot(request.auth.tenantId, request.params.id),
  )

  app.post(
    '/bots/:id/runs',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Run a bot now',
        description:
          'Queues a run (202). With an `Idempotency-Key` header, the same key within 24 h returns the first run.',
        params: botIdParamsSchema,
        headers: idempotencyHeaders,
        body: botRunRequestSchema.nullish(),
        response: { 202: runSchema, ...invalid, ...auth, ...editor, ...notFound },
      },
    },
    async (request, reply) => {
      const body = request.body ?? { trigger: 'api' as const }
      const result = await bots.runNow(request.auth.tenantId, request.params.id, {
        input: body.input,
        trigger: body.trigger,
        idempotencyKey: request.headers['idempotency-key'],
      })
      if (result.status === 'dropped') throw new Error('a manual run is never dropped')
      if (result.status === 'existing') reply.header('idempotent-replayed', 'true')
      return reply.code(202).send(toRunJson(result.run))
    },
  )

  app.get(
    '/bots/:id/runs',
    {
      schema: {
        tags: ['bots'],
        summary: 'List a bot’s runs',
        description:
          'Newest first, including skipped and dropped slots (cancelled, with the reason as error).',
        params: botIdParamsSchema,
        querystring: pageQuerySchema,
        response: { 200: runPageSchema, ...invalid, ...auth, ...notFound },
      },
    },
    async (request) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const page = await runs.list(request.auth.tenantId, {
        subjectId: bot.id,
        limit: request.query.limit,
        before: request.query.cursor,
      })
      return { items: page.items.map(toRunJson), nextCursor: page.nextCursor }
    },
  )

  app.get(
    '/bots/:id/notes',
    {
      schema: {
        tags: ['bots'],
        summary: 'List a bot’s notes',
        params: botIdParamsSchema,
        response: { 200: noteListSchema, ...auth, ...notFound },
      },
    },
    async (request) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const items = await notes.list(bot.id)
      return { items: items.map((n) => ({ name: n.name, size: n.size, updatedAt: iso(n.updatedAt) })) }
    },
  )

  app.get(
    '/bots/:id/notes/:name',
    {
      schema: {
        tags: ['bots'],
        summary: 'Read a note',
        params: noteParamsSchema,
        response: { 200: noteSchema, 400: problemResponse('Invalid note name.'), ...auth, ...notFound },
      },
    },
    async (request) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const note = await notes.get(bot.id, request.params.name)
      return { ...note, updatedAt: iso(note.updatedAt) }
    },
  )

  app.put(
    '/bots/:id/notes/:name',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Write a note',
        description: 'Creates or replaces a note. Notes are part of every run’s context, newest first.',
        params: noteParamsSchema,
        body: notePutSchema,
        response: {
          200: noteSchema,
          400: problemResponse('Invalid note name.'),
          ...auth,
          ...editor,
          ...notFound,
        },
      },
    },
    async (request) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const quotas = quotasOf ? await quotasOf(request.auth.tenantId) : undefined
      const note = await bots.putNote(
        bot.tenant_id,
        bot.id,
        request.params.name,
        request.body.content,
        quotas,
      )
      return { ...note, updatedAt: iso(note.updatedAt) }
    },
  )

  app.delete(
    '/bots/:id/notes/:name',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['bots'],
        summary: 'Delete a note',
        params: noteParamsSchema,
        response: {
          204: z.null().describe('Deleted.'),
          400: problemResponse('Invalid note name.'),
          ...auth,
          ...editor,
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      await notes.remove(bot.id, request.params.name)
      return reply.code(204).send(null)
    },
  )
}
