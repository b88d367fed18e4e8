import { z } from 'zod'
import type { ToolSet } from '../tool.types.ts'
import { ToolError } from '../tool-error.ts'
import type { SearchSettings } from './search.settings.ts'
import { maxQueryChars, maxSearchCount, webSearch } from './search.ts'

// `search`: a web search through the workspace's provider (Brave, SearXNG or Tavily; PUT
// /api/v1/tools/search). Results are titles, URLs and snippets: the bot opens a page with `web`.
export function createSearchToolSet(settings: SearchSettings): ToolSet {
  return {
    name: 'search',
    description:
      'Search the web: titles, URLs and snippets of the best matches (needs a search provider set up).',
    functions: [
      {
        name: 'web_search',
        description:
          'Searches the web and returns up to `count` results, each with title, url and snippet. Open a result with http_fetch to read it.',
        input: z.strictObject({
          query: z.string().min(1).max(maxQueryChars),
          count: z.number().int().min(1).max(maxSearchCount).optional().describe('Default 8.'),
        }),
        async execute(input, context) {
          const config = await settings.configOf(context.tenantId)
          if (!config)
            throw new ToolError(
              'search_not_configured',
              'Web search is not set up in this workspace; an admin sets it with PUT /api/v1/tools/search.',
            )
          const results = await webSearch(config, {
            query: input.query,
            ...(input.count !== undefined ? { count: input.count } : {}),
            signal: context.signal,
            fetch: settings.fetch,
          })
          return { results }
        },
      },
    ],
  }
}
