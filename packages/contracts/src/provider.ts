import { z } from 'zod'
import { pageSchemaOf } from './pagination.ts'

// LLM providers of a workspace: `/api/v1/providers/{openai|anthropic|google|mistral|ollama}`.
// Keys go in once (PUT) and never come out; people see a masked hint (`sk-…3456`).

export const providerNames = ['openai', 'anthropic', 'google', 'mistral', 'ollama'] as const

export const providerNameSchema = z.enum(providerNames).meta({
  id: 'ProviderName',
  description: 'An LLM provider the orchestrator speaks to.',
})

/**
 * An LLM provider's name.
 *
 * @example
 * const name: ProviderName = 'anthropic'
 */
export type ProviderName = z.infer<typeof providerNameSchema>

export const providerStatuses = ['valid', 'failing'] as const

export const providerStatusSchema = z.enum(providerStatuses).meta({
  id: 'ProviderStatus',
  description:
    '`valid`: the key passed its last check. `failing`: a call with the saved key was refused for good (see `lastErrorCode`); save a new key.',
})

/**
 * Whether a provider's saved key works.
 *
 * @example
 * const status: ProviderStatus = 'valid'
 */
export type ProviderStatus = z.infer<typeof providerStatusSchema>

export const providerParamsSchema = z.object({ name: providerNameSchema })

const isoTime = z.iso.datetime().describe('ISO-8601 UTC timestamp.')

export const providerConfigSchema = z
  .object({
    apiKey: z
      .string()
      .trim()
      .min(1)
      .max(1000)
      .optional()
      .describe(
        'The provider key. Required the first time (except for Ollama) and whenever the base URL moves to another origin; omit it to keep the saved key while changing the other fields.',
      ),
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2000)
      // The call's path is appended: a `?` or `#` would turn it into a query and let any path be read,
      // and credentials belong in apiKey, not in a URL that is shown and logged.
      .refine((url) => !/[?#]/.test(url), 'must not have a query (?) or fragment (#): give the API root only')
      .refine((url) => {
        const parsed = URL.parse(url)
        return parsed !== null && parsed.username === '' && parsed.password === ''
      }, 'must not carry a user name or password (user:pass@): send the key as apiKey')
      .nullable()
      .optional()
      .describe(
        "The API root with its version path (`https://api.openai.com/v1`, `http://localhost:11434` for Ollama). null: the provider's default; omitted: the saved one. A saved key is only sent to the origin it was saved for: changing the origin needs `apiKey` again.",
      ),
    defaultModel: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .nullable()
      .optional()
      .describe('The model bots use when they name none. null clears it; omitted: the saved one.'),
  })
  .meta({
    id: 'ProviderConfig',
    description: 'How to reach a provider. The key is checked with a real call before it is saved.',
  })

/**
 * The body of `PUT /api/v1/providers/{name}`.
 *
 * @example
 * const config: ProviderConfig = { apiKey: 'sk-…', defaultModel: 'gpt-4o-mini' }
 */
export type ProviderConfig = z.input<typeof providerConfigSchema>

export const providerValidationSchema = z
  .object({
    valid: z.literal(true),
    models: z.array(z.string()).describe('The models the key may use, as the provider lists them.'),
  })
  .meta({ id: 'ProviderValidation', description: 'The key worked; it is saved.' })

/**
 * The answer of a successful `PUT /api/v1/providers/{name}`.
 *
 * @example
 * const result: ProviderValidation = { valid: true, models: ['gpt-4o', 'gpt-4o-mini'] }
 */
export type ProviderValidation = z.infer<typeof providerValidationSchema>

export const providerSchema = z
  .object({
    name: providerNameSchema,
    label: z.string().describe('The provider as people call it: `OpenAI`.'),
    status: providerStatusSchema,
    keyHint: z
      .string()
      .nullable()
      .describe('The key, masked (`sk-…3456`); null when none is saved (Ollama).'),
    baseUrl: z.string().nullable().describe("The configured API root; null: the provider's default."),
    defaultModel: z.string().nullable(),
    models: z.array(z.string()).describe('The models the key could use at its last check.'),
    lastCheckedAt: isoTime.nullable(),
    lastErrorCode: z
      .string()
      .nullable()
      .describe('Why the status is `failing` (`provider_auth`, `provider_quota`).'),
    createdAt: isoTime,
    updatedAt: isoTime,
    circuit: z
      .object({
        state: z
          .enum(['closed', 'open', 'half_open'])
          .describe(
            '`closed`: calls go out; `open`: none do (runs use fallbacks or wait); `half_open`: one probe call is out.',
          ),
        openedAt: isoTime.nullable(),
        failures: z.number().int().describe('Transient failures in a row.'),
      })
      .optional()
      .describe('The circuit breaker of this provider in the workspace (`GET /providers/{name}`).'),
  })
  .meta({ id: 'Provider', description: 'A configured LLM provider. The key itself is never returned.' })

/**
 * A configured provider, as `GET /api/v1/providers` lists it.
 *
 * @example
 * const provider: Provider = {
 *   name: 'openai', label: 'OpenAI', status: 'valid', keyHint: 'sk-…3456', baseUrl: null,
 *   defaultModel: 'gpt-4o-mini', models: ['gpt-4o', 'gpt-4o-mini'],
 *   lastCheckedAt: '2026-01-01T08:00:00.000Z', lastErrorCode: null,
 *   createdAt: '2026-01-01T08:00:00.000Z', updatedAt: '2026-01-01T08:00:00.000Z',
 * }
 */
export type Provider = z.infer<typeof providerSchema>

export const providerPageSchema = pageSchemaOf(providerSchema).meta({
  id: 'ProviderPage',
  description: 'The configured providers, by name (one page: there are at most five).',
})

/**
 * The list of configured providers.
 *
 * @example
 * const page: ProviderPage = { items: [], nextCursor: null }
 */
export type ProviderPage = z.infer<typeof providerPageSchema>
