import { z } from 'zod'
import { pageSchemaOf } from './pagination.ts'
import { nameText } from './text.ts'

// API keys of a workspace (admins): created with a role and an optional expiry, shown once, stored
// hashed, listed with their prefix and last use, revocable.

export const roleSchema = z.enum(['owner', 'admin', 'editor', 'viewer']).meta({
  id: 'Role',
  description:
    '`viewer` reads; `editor` changes and runs bots; `admin` manages providers, keys and users; `owner` the workspace.',
})

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key, to tell keys apart.'),
    role: roleSchema,
    createdAt: isoTime,
    lastUsedAt: isoTime.nullable(),
    expiresAt: isoTime.nullable(),
    revokedAt: isoTime.nullable(),
    userId: z
      .string()
      .nullable()
      .describe(
        'The user a personal key belongs to (it works only while that user is enabled, with at most their role); null for a service key.',
      ),
    createdBy: z
      .string()
      .nullable()
      .describe(
        'The user who created a service key: it acts with at most their current role and is revoked when they are disabled or removed. Null for personal keys and for keys made at start-up or from the CLI.',
      ),
  })
  .meta({ id: 'ApiKey', description: 'An API key, without the key itself.' })

export const apiKeyCreateSchema = z
  .strictObject({
    name: nameText(1, 200).describe('Shown in key lists; no control, bidi-control or invisible characters.'),
    role: roleSchema,
    expiresAt: z.iso.datetime({ offset: true }).nullable().default(null).describe('Refused after this time.'),
  })
  .meta({ id: 'ApiKeyCreate', description: 'A new API key; its role may not be above the caller’s.' })

export const apiKeyCreatedSchema = z
  .object({
    key: z.string().describe('The key itself: shown this once, never again. Store it now.'),
    apiKey: apiKeySchema,
  })
  .meta({ id: 'ApiKeyCreated', description: 'A new key, with its secret this once.' })

export const apiKeyPageSchema = pageSchemaOf(apiKeySchema).meta({
  id: 'ApiKeyPage',
  description: 'A page of API keys, newest first.',
})

/**
 * An API key as listed.
 *
 * @example
 * const key: ApiKey = { id: '0190…', name: 'CI', prefix: 'oo_Ab3dE9', role: 'editor', createdAt: '2026-01-01T00:00:00.000Z', lastUsedAt: null, expiresAt: null, revokedAt: null, userId: null, createdBy: '0190…' }
 */
export type ApiKey = z.infer<typeof apiKeySchema>

/**
 * A role of a workspace, lowest to highest: viewer, editor, admin, owner.
 *
 * @example
 * const role: Role = 'editor'
 */
export type Role = z.infer<typeof roleSchema>

/**
 * What creating a key takes (`expiresAt` may be left out: no expiry).
 *
 * @example
 * const body: ApiKeyCreate = { name: 'CI', role: 'editor', expiresAt: '2027-01-01T00:00:00.000Z' }
 */
export type ApiKeyCreate = z.input<typeof apiKeyCreateSchema>

/**
 * A new key with its secret, answered once.
 *
 * @example
 * const created: ApiKeyCreated = { key: 'oo_…', apiKey: { id: '0190…', name: 'CI', prefix: 'oo_Ab3dE9', role: 'editor', createdAt: '2026-01-01T00:00:00.000Z', lastUsedAt: null, expiresAt: null, revokedAt: null, userId: null, createdBy: '0190…' } }
 */
export type ApiKeyCreated = z.infer<typeof apiKeyCreatedSchema>
