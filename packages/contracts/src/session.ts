import { z } from 'zod'
import { roleSchema } from './api-key.ts'

// Dashboard sign-in (decision 0011): short-lived access tokens, rotating refresh tokens.

export const loginSchema = z
  .strictObject({ email: z.string().min(3).max(320), password: z.string().min(1).max(1024) })
  .meta({ id: 'Login', description: 'E-mail and password.' })

export const refreshSchema = z
  .strictObject({ refreshToken: z.string().min(10).max(200) })
  .meta({ id: 'Refresh', description: 'The refresh token of the session; it is spent by this call.' })

export const userSchema = z
  .object({ id: z.string(), email: z.string(), role: roleSchema, createdAt: z.iso.datetime() })
  .meta({ id: 'User', description: 'A person who signs in.' })

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
 * const session: Session = { accessToken: 'eyJ…', refreshToken: 'oor_…', expiresIn: 900, user: { id: '0190…', email: 'anna@example.com', role: 'owner', createdAt: '2026-01-01T00:00:00.000Z' } }
 */
export type Session = z.infer<typeof sessionSchema>

/**
 * A person who signs in, as /auth/me and the session answers show them.
 *
 * @example
 * const user: User = { id: '0190…', email: 'anna@example.com', role: 'owner', createdAt: '2026-01-01T00:00:00.000Z' }
 */
export type User = z.infer<typeof userSchema>
