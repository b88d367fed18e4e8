import { z } from 'zod'
import { defaultPageLimit, maxPageLimit, pageSchemaOf } from './pagination.ts'
import { userSchema } from './session.ts'
import { emailText, nameText } from './text.ts'

// Workspaces of the installation (decision 0020): created, listed, renamed, disabled and enabled
// again by the installation's admins — the owners of its first workspace (`default`). A workspace
// is created with its first owner (an e-mail and an initial password to hand over).

/** The installation's first workspace: its owners manage every workspace; it cannot be disabled. */
export const defaultWorkspaceId = 'default'

/** A workspace's name, as the API and the CLI accept it (no control, bidi-control or invisible characters: text.ts). */
export const workspaceNameSchema = nameText(1, 100).describe('1 to 100 characters, shown in lists.')

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

export const workspaceSchema = z
  .object({
    id: z
      .string()
      .describe('Send it as `--workspace` to `openorch users create`; `default` for the first one.'),
    name: z.string(),
    isDefault: z.boolean().describe('The installation’s first workspace: its owners manage all workspaces.'),
    createdAt: isoTime,
    disabledAt: isoTime
      .nullable()
      .describe(
        'Set while the workspace is disabled: its keys and sessions are refused, its schedules do not fire.',
      ),
    users: z.number().int().describe('How many users the workspace has (enabled or not).'),
  })
  .meta({ id: 'Workspace', description: 'A workspace (tenant): it owns its bots, runs, keys and users.' })

export const workspaceCreateSchema = z
  .strictObject({
    name: workspaceNameSchema,
    owner: z
      .strictObject({
        email: emailText,
        password: z
          .string()
          .min(1)
          .max(1024)
          .describe('An initial password to hand over (12+ characters, not a common or breached one).'),
      })
      .describe('The workspace’s first owner: a new user (the e-mail may not have a user yet).'),
  })
  .meta({ id: 'WorkspaceCreate', description: 'A new workspace and its first owner.' })

export const workspaceUpdateSchema = z
  .strictObject({
    name: workspaceNameSchema.optional(),
    disabled: z
      .boolean()
      .optional()
      .describe(
        'true: every key and session of the workspace is refused (403 `workspace_disabled`) and its schedules stop; false: enabled again. The default workspace cannot be disabled.',
      ),
  })
  .refine((body) => body.name !== undefined || body.disabled !== undefined, {
    message: 'give name, disabled or both',
  })
  .meta({ id: 'WorkspaceUpdate', description: 'A new name, or disabling/enabling the workspace.' })

export const workspaceCreatedSchema = workspaceSchema
  .extend({ owner: userSchema.describe('The first owner, who signs in with the initial password.') })
  .meta({ id: 'WorkspaceCreated', description: 'The new workspace and its first owner.' })

export const workspacePageSchema = pageSchemaOf(workspaceSchema).meta({
  id: 'WorkspacePage',
  description: 'A page of workspaces: the default workspace first, then the newest first.',
})

export const workspacePageQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(maxPageLimit)
    .default(defaultPageLimit)
    .describe(`Items per page, 1 to ${maxPageLimit} (default ${defaultPageLimit}).`),
  cursor: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Opaque: the `nextCursor` of the previous page. Omit it for the first page.'),
})

/** Whether the installation has people yet (public): the sign-in page opens the key form when not. */
export const setupStateSchema = z
  .object({
    hasUsers: z
      .boolean()
      .describe('false on a new installation: sign in with the owner key printed at the first start.'),
  })
  .meta({ id: 'SetupState', description: 'What the sign-in page needs to know before anyone signs in.' })

/**
 * A workspace as listed.
 *
 * @example
 * const workspace: Workspace = { id: '0190…', name: 'Acme', isDefault: false, createdAt: '2026-01-01T00:00:00.000Z', disabledAt: null, users: 1 }
 */
export type Workspace = z.infer<typeof workspaceSchema>

/**
 * What creating a workspace takes.
 *
 * @example
 * const body: WorkspaceCreate = { name: 'Acme', owner: { email: 'anna@acme.example', password: 'a long passphrase to hand over' } }
 */
export type WorkspaceCreate = z.input<typeof workspaceCreateSchema>

/**
 * A change of a workspace.
 *
 * @example
 * const patch: WorkspaceUpdate = { disabled: true }
 */
export type WorkspaceUpdate = z.input<typeof workspaceUpdateSchema>

/**
 * A new workspace with its first owner.
 *
 * @example
 * const created: WorkspaceCreated = { id: '0190…', name: 'Acme', isDefault: false, createdAt: '2026-01-01T00:00:00.000Z', disabledAt: null, users: 1, owner: { id: '0190…', email: 'anna@acme.example', role: 'owner', createdAt: '2026-01-01T00:00:00.000Z', disabledAt: null } }
 */
export type WorkspaceCreated = z.infer<typeof workspaceCreatedSchema>

/**
 * What GET /auth/setup answers.
 *
 * @example
 * const state: SetupState = { hasUsers: false }
 */
export type SetupState = z.infer<typeof setupStateSchema>
