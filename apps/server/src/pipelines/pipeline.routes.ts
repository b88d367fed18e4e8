import {
  pageQuerySchema,
  pipelineCreateSchema,
  pipelineExportSchema,
  pipelinePageSchema,
  pipelineRunPageSchema,
  pipelineRunRequestSchema,
  pipelineRunSchema,
  pipelineSchema,
  pipelineUpdateSchema,
  pipelineVersionListSchema,
  problemResponse,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { requireRole } from '../platform/http/caller.ts'
import type { RunJsonOf } from '../runs/run-view.ts'
import type { PipelineService } from './pipeline.service.ts'

// /api/v1/pipelines: validate (contracts) → pipeline service → reply, scoped by the caller's tenant.

const idParams = z.object({ id: z.string().min(1).max(200).describe('The pipeline id.') })
const auth = { 401: problemResponse('No valid API key.') }
const notFound = { 404: problemResponse('No such pipeline in your workspace (`pipeline_not_found`).') }
const editor = { 403: problemResponse('The API key is below the editor role (`forbidden`).') }
const invalid = {
  400: problemResponse(
    'Invalid fields (`validation_failed`), or steps that cannot run (`pipeline_invalid`: unknown bots, duplicate keys, cycles, unknown dependencies), each named in `errors`.',
  ),
}
const nameTaken = { 409: problemResponse('Another pipeline has this name (`pipeline_name_taken`).') }
const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('The same key within 24 h returns the first run instead of starting a second.'),
})

export const pipelineRoutes: FastifyPluginAsyncZod<{
  pipelines: PipelineService
  runJson: RunJsonOf
}> = async (app, { pipelines, runJson }) => {
  app.get(
    '/pipelines',
    {
      schema: {
        tags: ['pipelines'],
        summary: 'List pipelines',
        querystring: pageQuerySchema,
        response: { 200: pipelinePageSchema, ...invalid, ...auth },
      },
    },
    async (request) => pipelines.list(request.auth.tenantId, request.query),
  )
  app.post(
    '/pipelines',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['pipelines'],
        summary: 'Create a pipeline',
        body: pipelineCreateSchema,
        response: { 201: pipelineSchema, ...invalid, ...auth, ...editor, ...nameTaken },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await pipelines.create(request.auth.tenantId, request.body)),
  )
  app.post(
    '/pipelines/import',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['pipelines'],
        summary: 'Import a pipeline',
        description:
          'Creates a pipeline from an export, disabled (nothing runs at import). Each step’s bot is found by id in this workspace, else by its `botName`; a step whose bot is found neither way is named in a 400 `pipeline_invalid`. A taken name gets " (imported)".',
        body: pipelineExportSchema,
        response: { 201: pipelineSchema, ...invalid, ...auth, ...editor },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await pipelines.importPipeline(request.auth.tenantId, request.body)),
  )
  app.get(
    '/pipelines/:id/export',
    {
      schema: {
        tags: ['pipelines'],
        summary: 'Export a pipeline',
        description: 'Its settings and steps as JSON for `POST /pipelines/import`: no state, no runs.',
        params: idParams,
        response: { 200: pipelineExportSchema, ...auth, ...notFound },
      },
    },
    async (request) => pipelines.exportPipeline(request.auth.tenantId, request.params.id),
  )
  app.get(
    '/pipelines/:id',
    {
      schema: {
        tags: ['pipelines'],
        summary: 'Get a pipeline',
        params: idParams,
        response: { 200: pipelineSchema, ...auth, ...notFound },
      },
    },
    async (request) => pipelines.get(request.auth.tenantId, request.params.id),
  )
  app.patch(
    '/pipelines/:id',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['pipelines'],
        summary: 'Change a pipeline',
        description:
          'Every change stores a new version; runs in flight finish on the version they started with.',
        params: idParams,
        body: pipelineUpdateSchema,
        response: {
          200: pipelineSchema,
          ...invalid,
          ...auth,
          ...editor,
          ...notFound,
          409: problemResponse(
            'Another pipeline has this name (`pipeline_name_taken`), or someone saved the pipeline meanwhile (`pipeline_changed`: load it again).',
          ),
        },
      },
    },
    async (request) => pipelines.update(request.auth.tenantId, request.params.id, request.body),
  )
  app.delete(
    '/pipelines/:id',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['pipelines'],
        summary: 'Remove a pipeline',
        description: 'Its schedule stops and its runs still going are cancelled; finished runs stay.',
        params: idParams,
        response: { 204: z.null().describe('Removed.'), ...auth, ...editor, ...notFound },
      },
    },
    async (request, reply) => {
      await pipelines.remove(request.auth.tenantId, request.params.id)
      return reply.code(204).send(null)
    },
  )
  app.post(
    '/pipelines/:id/duplicate',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['pipelines'],
        summary: 'Duplicate a pipeline',
        description: 'A copy named "… (copy)", its schedule disabled.',
        params: idParams,
        response: { 201: pipelineSchema, ...auth, ...editor, ...notFound },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await pipelines.duplicate(request.auth.tenantId, request.params.id)),
  )
  app.get(
    '/pipelines/:id/versions',
    {
      schema: {
        tags: ['pipelines'],
        summary: 'List a pipeline’s versions',
        params: idParams,
        response: { 200: pipelineVersionListSchema, ...auth, ...notFound },
      },
    },
    async (request) => pipelines.versions(request.auth.tenantId, request.params.id),
  )
  app.post(
    '/pipelines/:id/runs',
    {
      preValidation: requireRole('editor'),
      schema: {
        tags: ['pipelines'],
        summary: 'Run a pipeline now',
        description:
          'Queues a run of the current version (202). Its steps are bot runs with this run as parent. With an `Idempotency-Key` header, the same key within 24 h returns the first run.',
        params: idParams,
        headers: idempotencyHeaders,
        body: pipelineRunRequestSchema.nullish(),
        response: { 202: pipelineRunSchema, ...invalid, ...auth, ...editor, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await pipelines.start(request.auth.tenantId, request.params.id, {
        input: request.body?.input,
        trigger: request.body?.trigger ?? 'api',
        idempotencyKey: request.headers['idempotency-key'],
      })
      if (result.status === 'dropped') throw new Error('a run started by hand is never dropped')
      if (result.status === 'existing') reply.header('idempotent-replayed', 'true')
      const steps = await pipelines.stepsOf(request.auth.tenantId, [result.run])
      return reply
        .code(202)
        .send({ ...runJson(result.run), pipelineId: request.params.id, ...steps.get(result.run.id)! })
    },
  )
  app.get(
    '/pipelines/:id/runs',
    {
      schema: {
        tags: ['pipelines'],
        summary: 'List a pipeline’s runs',
        description: 'Newest first, each with its version and its steps.',
        params: idParams,
        querystring: pageQuerySchema,
        response: { 200: pipelineRunPageSchema, ...invalid, ...auth, ...notFound },
      },
    },
    async (request) => pipelines.runs(request.auth.tenantId, request.params.id, request.query, runJson),
  )
}
