import { z } from 'zod'
import { roleSchema } from './api-key.ts'
import { pageSchemaOf } from './pagination.ts'
import { emailText } from './text.ts'

/** The shortest password the server accepts. */
export const minPasswordLength = 12

/** Why a new password is refused (`FieldError.code`); the dashboard words each one. */
export const passwordRefusalCodes = [
  'password_too_short',
  'password_too_long',
  'password_contains_email',
  'password_breached',
  'password_too_guessable',
] as const
export type PasswordRefusalCode = (typeof passwordRefusalCodes)[number]

// Dashboard sign-in (decision 0011): short-lived access tokens, rotating refresh tokens.

export const loginSchema = z
  .strictObject({ email: emailText, password: z.string().min(1).max(1024) })
  .meta({ id: 'Login', description: 'E-mail and password.' })

export const refreshSchema = z
  .strictObject({ refreshToken: z.string().min(10).max(200) })
  .meta({ id: 'Refresh', description: 'The refresh token of the session; it is spent by this call.' })

export const userSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    role: roleSchema,
    createdAt: z.iso.datetime(),
    disabledAt: z.iso.datetime().nullable().describe('Set while the user may not sign in.'),
  })
  .meta({ id: 'User', description: 'A person who signs in.' })

export const userPageSchema = pageSchemaOf(userSchema).meta({
  id: 'UserPage',
  description: 'A page of the workspace’s users, newest first.',
})

const newPasswordSchema = z
  .string()
  .min(1)
  .max(1024)
  .describe(`${minPasswordLength} or more characters; common and breached passwords are refused.`)

export const userCreateSchema = z
  .strictObject({ email: emailText, password: newPasswordSchema, role: roleSchema })
  .meta({ id: 'UserCreate', description: 'A new user of the workspace; the role may not be above yours.' })

export const userUpdateSchema = z
  .strictObject({
    role: roleSchema.optional(),
    disabled: z.boolean().optional().describe('true: signed out at once and refused until enabled again.'),
  })
  .refine((body) => body.role !== undefined || body.disabled !== undefined, {
    message: 'give role, disabled or both',
  })
  .meta({ id: 'UserUpdate', description: 'A new role, or disabling/enabling the user.' })

export const passwordChangeSchema = z
  .strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: newPasswordSchema })
  .meta({ id: 'PasswordChange', description: 'The current password and the new one.' })

export const sessionSchema = z
  .object({
    accessToken: z
      .string()
      .describe('Send as `Authorization: Bearer <token>`; valid for `expiresIn` seconds.'),
    refreshToken: z.string().describe('Exchange at /auth/refresh for a new pair; each can be used once.'),
    expiresIn: z.number().int(),
    user: userSchema,
  })
  .meta({ id: 'Session', description: 'A signed-in session.' })

/**
 * What /auth/login and /auth/refresh answer.
 *
 * @example
 * const session: Session = { accessToken: 'eyJ…', refreshToken: 'oor_…', expiresIn: 900, user: { id: '0190…', email: 'anna@example.com', role: 'owner', createdAt: '2026-01-01T00:00:00.000Z', disabledAt: null } }
 */
export type Session = z.infer<typeof sessionSchema>

/**
 * A user as listed and answered by /users and /auth/me.
 *
 * @example
 * const user: User = { id: '0190…', email: 'ben@example.com', role: 'editor', createdAt: '2026-01-01T00:00:00.000Z', disabledAt: null }
 */
export type User = z.infer<typeof userSchema>

/**
 * What adding a user takes.
 *
 * @example
 * const body: UserCreate = { email: 'ben@example.com', password: 'a long passphrase of my own', role: 'editor' }
 */
export type UserCreate = z.input<typeof userCreateSchema>

/**
 * A change of a user: a new role, disabling/enabling, or both.
 *
 * @example
 * const patch: UserUpdate = { disabled: true }
 */
export type UserUpdate = z.input<typeof userUpdateSchema>
