import { z } from 'zod'
import type { ToolSet } from '../tool.types.ts'
import { extractHtml } from './extract-html.ts'
import { httpFetch } from './http-fetch.ts'

// `web`: read pages and APIs on the public internet, through the egress guard (no private address,
// checked after DNS resolution and on every redirect; OPENORCH_EGRESS_ALLOW opens named places).

const url = z.string().min(1).max(4096).describe('An http or https URL.')

export const webToolSet: ToolSet = {
  name: 'web',
  description:
    'Read web pages and JSON APIs: fetch a URL as readable text with its links, or pick parts with CSS selectors.',
  functions: [
    {
      name: 'http_fetch',
      description:
        'Fetches a URL (GET, or POST with a body) and returns its status, content type and body as readable text: an HTML page as text with its title and links, JSON as JSON. Other content types are refused. Long pages are cut (truncated: true).',
      input: z.strictObject({
        url,
        method: z.enum(['GET', 'POST']).optional().describe('Default GET.'),
        body: z.string().max(100_000).optional().describe('The request body (POST only).'),
        headers: z.record(z.string(), z.string().max(1000)).optional().describe('Extra request headers.'),
      }),
      // A POST acts on the world: the run's lease is presented first.
      sideEffects: true,
      execute: (input, context) => httpFetch(input, context),
    },
    {
      name: 'extract_html',
      description:
        'Fetches an HTML page and returns, for each named CSS selector, the text of the matching elements (or an attribute such as href). Use it to pick listings, prices or links from a page without reading all of it.',
      input: z.strictObject({
        url,
        selectors: z
          .record(z.string().min(1).max(100), z.string().min(1).max(500))
          .describe(
            'Name → CSS selector, at most 20, e.g. { "titles": ".offer h2", "prices": ".offer .price" }.',
          ),
        attribute: z
          .string()
          .min(1)
          .max(100)
          .optional()
          .describe('Read this attribute instead of the text, e.g. "href".'),
      }),
      execute: (input, context) => extractHtml(input, context),
    },
  ],
}
