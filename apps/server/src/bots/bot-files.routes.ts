import {
  botFileListSchema,
  botFileParamsSchema,
  botIdParamsSchema,
  problemResponse,
} from '@openorch/contracts'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { BotService } from './bot.service.ts'
import type { BotFiles } from './bot-files.ts'

// /api/v1/bots/{id}/files: the files a bot's tools keep (texts of the files tool set, browser
// screenshots), for people to read; viewers included. The bytes are served as stored, so what a page
// wrote cannot act as this origin's content: nosniff, the API's `default-src 'none'` CSP, and
// anything but a raster image as a download.

export interface BotFileRoutesOptions {
  bots: Pick<BotService, 'load'>
  files: BotFiles
}

const auth = { 401: problemResponse('No valid API key.') }
const iso = (ms: number) => new Date(ms).toISOString()
/** Shown in the browser; everything else (SVG included: it can carry scripts) is an attachment. */
const inlineTypes = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

export const botFileRoutes: FastifyPluginAsyncZod<BotFileRoutesOptions> = async (app, { bots, files }) => {
  app.get(
    '/bots/:id/files',
    {
      schema: {
        tags: ['bots'],
        summary: 'List a bot’s files',
        description:
          'The files its tools keep between runs (files tool set, browser screenshots), newest first. Not part of the run context, unlike notes.',
        params: botIdParamsSchema,
        response: {
          200: botFileListSchema,
          ...auth,
          404: problemResponse('No such bot in your workspace (`bot_not_found`).'),
        },
      },
    },
    async (request) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const items = await files.list(bot.id)
      return { items: items.map((file) => ({ ...file, updatedAt: iso(file.updatedAt) })) }
    },
  )

  app.get(
    '/bots/:id/files/:name',
    {
      schema: {
        tags: ['bots'],
        summary: 'Fetch a bot’s file',
        description:
          'The file’s bytes with its content type: `image/png` for a screenshot (shown inline), `text/plain; charset=utf-8` for text (as a download, like anything but an image).',
        params: botFileParamsSchema,
        response: {
          200: {
            description: 'The file as stored.',
            content: {
              'image/png': { schema: z.string().describe('The image (binary).') },
              'text/plain': { schema: z.string() },
              'application/octet-stream': { schema: z.string().describe('Any other stored type (binary).') },
            },
          },
          ...auth,
          404: problemResponse('No such bot (`bot_not_found`) or file (`file_not_found`) in your workspace.'),
        },
      },
    },
    async (request, reply) => {
      const bot = await bots.load(request.auth.tenantId, request.params.id)
      const file = await files.get(bot.id, request.params.name)
      const disposition = inlineTypes.has(file.contentType) ? 'inline' : 'attachment'
      // Fastify sends a Buffer as it is, past the serializer; the response schema only documents it.
      return (
        reply
          .type(file.contentType)
          .header('x-content-type-options', 'nosniff')
          // Opened however (a new tab, a frame), a file is no page of this origin: no script, no plug-in.
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('content-disposition', `${disposition}; filename="${file.name}"`)
          .header('cache-control', 'private, no-cache')
          .header('last-modified', new Date(file.updatedAt).toUTCString())
          .send(file.bytes as unknown as string)
      )
    },
  )
}
