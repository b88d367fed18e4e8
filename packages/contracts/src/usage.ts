import { z } from 'zod'

// Token usage and cost: GET /api/v1/usage.

export const usageGroupings = ['bot', 'provider', 'model', 'day'] as const

export const usageQuerySchema = z.object({
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Start (inclusive); default 30 days before `to`.'),
  to: z.iso.datetime({ offset: true }).optional().describe('End (exclusive); default now.'),
  groupBy: z.enum(usageGroupings).default('day'),
  timezone: z.string().min(1).max(64).default('UTC').describe('Time zone of `day` buckets (IANA).'),
  botId: z.string().min(1).max(200).optional().describe('Only this bot.'),
})

export const usageRowSchema = z
  .object({
    key: z.string().describe('The bot id, provider, model, or day (YYYY-MM-DD).'),
    label: z.string().describe('A name for people: the bot’s name, the provider, the model, the day.'),
    calls: z.number().int().describe('Provider calls (one per run attempt).'),
    tokensIn: z.number().int(),
    tokensOut: z.number().int(),
    costUsd: z.number().describe('Sum of known costs.'),
    unpricedCalls: z.number().int().describe('Calls whose model has no known price (not in costUsd).'),
  })
  .meta({ id: 'UsageRow', description: 'Tokens and cost of one group.' })

export const usageSchema = z
  .object({
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    groupBy: z.enum(usageGroupings),
    items: z.array(usageRowSchema),
    total: usageRowSchema.omit({ key: true, label: true }),
  })
  .meta({ id: 'Usage', description: 'Token usage and cost in a period, grouped.' })

/**
 * The answer of `GET /api/v1/usage`.
 *
 * @example
 * const usage: Usage = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', groupBy: 'bot', items: [], total: { calls: 0, tokensIn: 0, tokensOut: 0, costUsd: 0, unpricedCalls: 0 } }
 */
export type Usage = z.infer<typeof usageSchema>
export type UsageRow = z.infer<typeof usageRowSchema>
