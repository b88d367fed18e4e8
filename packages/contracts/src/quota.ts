import { z } from 'zod'

// GET /api/v1/quotas: what the caller's workspace may hold and ask for, and what it uses now
// (issue 11 item 7; decision 0019). A limit that is hit answers 409 `quota_exceeded` with `quota`
// and `limit`.

export const quotasSchema = z
  .object({
    bots: z.object({ limit: z.number().int(), used: z.number().int() }).describe('Bots of the workspace.'),
    notesPerBot: z.number().int().describe('Notes one bot may have (`notes_per_bot`).'),
    noteBytesPerBot: z.number().int().describe('Bytes all notes of one bot may take (`note_bytes_per_bot`).'),
    inputBytes: z.number().int().describe('Bytes of one run input, as JSON (`input_bytes`).'),
    minScheduleSeconds: z
      .number()
      .int()
      .describe('A schedule fires at most once in this many seconds (`min_schedule_seconds`).'),
    dailyBudget: z
      .object({
        limitUsd: z.number().nullable().describe('null: no workspace budget.'),
        spentTodayUsd: z.number().describe('Spent since midnight UTC, all bots together.'),
      })
      .describe('What all runs of the workspace may cost per UTC day (`daily_budget_usd`).'),
  })
  .meta({ id: 'Quotas', description: 'The workspace’s limits and what it uses of them.' })

/**
 * The answer of `GET /api/v1/quotas`.
 *
 * @example
 * const quotas: Quotas = {
 *   bots: { limit: 500, used: 12 }, notesPerBot: 100, noteBytesPerBot: 4194304, inputBytes: 65536,
 *   minScheduleSeconds: 60, dailyBudget: { limitUsd: 5, spentTodayUsd: 0.42 },
 * }
 */
export type Quotas = z.infer<typeof quotasSchema>

const limit = (max: number) => z.number().int().min(0).max(max).nullable().optional()

export const quotaOverridesSchema = z
  .object({
    bots: limit(1_000_000).describe('null or absent: the installation’s limit (OPENORCH_MAX_BOTS).'),
    notesPerBot: limit(100_000),
    noteBytesPerBot: limit(1024 ** 3),
    inputBytes: limit(16 * 1024 ** 2),
    minScheduleSeconds: z.number().int().min(1).max(86_400).nullable().optional(),
    dailyBudgetUsd: z
      .number()
      .min(0)
      .max(1_000_000)
      .nullable()
      .optional()
      .describe(
        'USD per UTC day for all runs together; 0: no budget; null or absent: the installation’s default.',
      ),
  })
  .strict()
  .meta({
    id: 'QuotaOverrides',
    description: 'A workspace’s own limits; each field left out or null takes the installation’s value.',
  })

/** The body of `PUT /api/v1/workspaces/{id}/quotas` (installation admins). */
export type QuotaOverrides = z.infer<typeof quotaOverridesSchema>
