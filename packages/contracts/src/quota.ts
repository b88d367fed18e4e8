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
