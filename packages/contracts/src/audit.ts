import { z } from 'zod'
import { pageQuerySchema, pageSchemaOf } from './pagination.ts'

// The audit trail (GET /api/v1/audit, admins): every change, who made it, when and from where.

export const auditQuerySchema = pageQuerySchema.omit({ cursor: true }).extend({
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'must be a nextCursor returned by this list')
    .optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('Entries at or after this time.'),
  to: z.iso.datetime({ offset: true }).optional().describe('Entries before this time.'),
  actorId: z.string().min(1).max(200).optional().describe('Only changes by this API key or user.'),
  action: z.string().min(1).max(200).optional().describe('Only this action, e.g. `PATCH /bots/:id`.'),
  targetType: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('Only changes to this kind of thing, e.g. `bots`.'),
  targetId: z.string().min(1).max(200).optional().describe('Only changes to this id.'),
})

export const auditEntrySchema = z
  .object({
    id: z.number().int(),
    at: z.iso.datetime(),
    actor: z.object({
      type: z
        .string()
        .describe(
          '`api_key` or `user` (through the API), `system` (a job: `scheduler`, `startup`, `sessions`), `cli` (an operator command; id = the OS account) or `anonymous` (a failed sign-in).',
        ),
      id: z.string().nullable(),
      role: z.string().nullable(),
    }),
    action: z.string(),
    target: z.object({ type: z.string().nullable(), id: z.string().nullable() }),
    ip: z.string().nullable(),
    requestId: z.string().nullable(),
    status: z.number().int().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    hash: z.string().describe('SHA-256 over this entry and the previous entry’s hash.'),
  })
  .meta({ id: 'AuditEntry', description: 'One change in the audit trail.' })

export const auditPageSchema = pageSchemaOf(auditEntrySchema).meta({
  id: 'AuditPage',
  description: 'A page of audit entries, newest first.',
})

/**
 * A page of the audit trail.
 *
 * @example
 * const page: AuditPage = { items: [], nextCursor: null }
 */
export type AuditPage = z.infer<typeof auditPageSchema>
