import { z } from 'zod'

// RFC 9457 problem details: every error the API returns has this shape and content type.

export const problemContentType = 'application/problem+json'

/** The `type` URI of a problem code; a stable link per code, documented at that address. */
export function problemTypeOf(code: string): string {
  return `https://openorch.dev/problems/${code}`
}

export const fieldErrorSchema = z
  .object({
    field: z
      .string()
      .describe('Dotted path of the bad field inside its part of the request (query, params, body).'),
    message: z.string(),
    code: z
      .string()
      .optional()
      .describe(
        'A stable code for this refusal where there is one (`password_too_short`, `password_breached`, …); `message` says it in English.',
      ),
  })
  .meta({ id: 'FieldError', description: 'One invalid field of a request.' })

/**
 * One field a request got wrong.
 *
 * @example
 * const error: FieldError = { field: 'limit', message: 'Too big: expected number to be <=200' }
 */
export type FieldError = z.infer<typeof fieldErrorSchema>

export const problemSchema = z
  .object({
    type: z.string().describe('A URI naming the problem code, `https://openorch.dev/problems/<code>`.'),
    title: z.string().describe('A short, human summary of the problem type.'),
    status: z.number().int().min(400).max(599),
    detail: z.string().describe('What went wrong with this request, and how to fix it when the caller can.'),
    code: z.string().describe('Stable, machine-readable error code (snake_case). Programs branch on this.'),
    errors: z.array(fieldErrorSchema).optional().describe('Every invalid field, for validation failures.'),
    quota: z
      .string()
      .optional()
      .describe(
        'With `quota_exceeded`: which quota (`bots`, `notes_per_bot`, `note_bytes_per_bot`, `input_bytes`, `min_schedule_seconds`, `daily_budget_usd`).',
      ),
    limit: z.number().optional().describe("With `quota_exceeded`: the quota's limit."),
  })
  .meta({ id: 'Problem', description: 'An error, as RFC 9457 problem details (`application/problem+json`).' })

/**
 * An error returned by the API (RFC 9457 `application/problem+json`).
 *
 * @example
 * const problem: Problem = {
 *   type: 'https://openorch.dev/problems/run_not_found',
 *   title: 'Not Found',
 *   status: 404,
 *   detail: 'Run 0190d7c1-… does not exist.',
 *   code: 'run_not_found',
 * }
 */
export type Problem = z.infer<typeof problemSchema>

/** An OpenAPI response entry for a problem, so documented errors carry the problem content type. */
export function problemResponse(description: string) {
  return { description, content: { [problemContentType]: { schema: problemSchema } } }
}
