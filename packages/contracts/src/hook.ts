import { z } from 'zod'

// Inbound webhooks of bots (issue 14): a URL whose POST starts a run with the body as input.

export const botHookSchema = z
  .object({
    id: z.string(),
    botId: z.string(),
    tokenHint: z
      .string()
      .describe('The token masked (`ooh_AbCd…wxyz`); the token itself is shown only at creation.'),
    expiresAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
    lastUsedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'BotHook', description: 'An inbound webhook of a bot.' })

export type BotHook = z.infer<typeof botHookSchema>

export const botHookCreateSchema = z
  .strictObject({
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(5 * 365 * 24 * 3600)
      .nullable()
      .default(null)
      .describe('The URL stops working after this long; null: until revoked.'),
  })
  .meta({ id: 'BotHookCreate', description: 'A new inbound webhook.' })

export const botHookCreatedSchema = botHookSchema
  .extend({
    url: z.string().describe('POST JSON or text here to start a run; keep it secret, it is the credential.'),
    token: z.string().describe('Shown this once; only its hash is kept.'),
  })
  .meta({ id: 'BotHookCreated', description: 'The webhook made, with its URL and token shown once.' })

export const botHookListSchema = z
  .object({ items: z.array(botHookSchema) })
  .meta({ id: 'BotHookList', description: 'A bot’s inbound webhooks, newest first.' })

export const hookAcceptedSchema = z
  .object({
    runId: z.string(),
    status: z
      .enum(['created', 'existing'])
      .describe('`existing`: the same Idempotency-Key started this run before.'),
  })
  .meta({ id: 'HookAccepted', description: 'The run the request started.' })
