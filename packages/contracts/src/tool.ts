import { z } from 'zod'

// Tools (issue 13): the tool sets a bot may be given, as `GET /api/v1/tools` lists them.

export const toolFunctionSchema = z
  .object({
    name: z.string().describe('The name the model calls, e.g. `http_fetch`.'),
    description: z.string(),
    inputSchema: z.record(z.string(), z.unknown()).describe('JSON Schema of the arguments.'),
  })
  .meta({ id: 'ToolFunction', description: 'A function of a tool set.' })

export const toolSetSchema = z
  .object({
    name: z.string().describe('What a bot names in `tools`, e.g. `web`.'),
    description: z.string(),
    configured: z.boolean().describe('False when the set needs setting up first (a search key, …).'),
    needsApproval: z
      .array(z.string())
      .describe('Functions whose calls wait for a person’s approval (empty: none).'),
    functions: z.array(toolFunctionSchema),
  })
  .meta({ id: 'ToolSet', description: 'Tools a bot may be given.' })

/**
 * A tool set as `GET /api/v1/tools` lists it.
 *
 * @example
 * const web: ToolSet = { name: 'web', description: 'Read web pages…', configured: true, needsApproval: [],
 *   functions: [{ name: 'http_fetch', description: 'Fetches a URL…', inputSchema: { type: 'object' } }] }
 */
export type ToolSet = z.infer<typeof toolSetSchema>

export const toolSetListSchema = z
  .object({ items: z.array(toolSetSchema) })
  .meta({ id: 'ToolSetList', description: 'The tool sets of this installation.' })

export const searchProviderNames = ['brave', 'searxng', 'tavily'] as const

export const searchSettingsPutSchema = z
  .strictObject({
    provider: z
      .enum(searchProviderNames)
      .describe('`brave` and `tavily` need a key; `searxng` (self-hosted) a `baseUrl`.'),
    apiKey: z
      .string()
      .min(1)
      .max(500)
      .optional()
      .describe('Kept encrypted, never returned; checked with a real search first.'),
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional()
      .describe('The API root (SearXNG: the instance).'),
  })
  .meta({ id: 'SearchSettingsPut', description: 'The web search provider of a workspace.' })

export type SearchSettingsPut = z.input<typeof searchSettingsPutSchema>

export const searchSettingsSchema = z
  .object({
    provider: z.enum(searchProviderNames),
    keyHint: z.string().nullable().describe('The saved key, masked (`BS…3456`); null without a key.'),
    baseUrl: z.string().nullable(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'SearchSettings', description: 'The web search set-up of a workspace (the key never shown).' })

/**
 * What `GET /api/v1/tools/search` returns.
 *
 * @example
 * const search: SearchSettings = { provider: 'brave', keyHint: 'BS…3456', baseUrl: null, updatedAt: '2026-12-04T08:00:00.000Z' }
 */
export type SearchSettings = z.infer<typeof searchSettingsSchema>
