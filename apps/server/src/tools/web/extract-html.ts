import { load } from 'cheerio'
import { ToolError } from '../tool-error.ts'
import { absoluteUrl, documentBase, readableText } from './html-text.ts'
import { type FetchLimits, fetchGuarded, loadHtml, type WebToolContext } from './http-fetch.ts'

export interface ExtractHtmlInput {
  url: string
  /** Name → CSS selector, at most 20. */
  selectors: Record<string, string>
  /** Read this attribute instead of the text, e.g. `href`; `href` and `src` come back absolute. */
  attribute?: string
}

export interface ExtractHtmlResult {
  /** The final URL, after redirects. */
  url: string
  status: number
  /** Per selector name, at most 100 values of at most 2,000 characters each, in document order. */
  matches: Record<string, string[]>
}

const maxSelectors = 20
const maxMatches = 100
const maxValueChars = 2_000
const urlAttributes = new Set(['href', 'src'])

/**
 * Fetches an HTML page through the egress guard and returns, for each named CSS selector, the text
 * (or the `attribute`) of the elements it matches. Elements without the attribute are left out.
 */
export async function extractHtml(
  input: ExtractHtmlInput,
  context: WebToolContext,
  limits: Pick<FetchLimits, 'maxBytes' | 'timeoutMs'> = {},
): Promise<ExtractHtmlResult> {
  const selectors = Object.entries(input.selectors ?? {})
  if (selectors.length === 0 || selectors.length > maxSelectors) {
    throw new ToolError(
      'request_invalid',
      `Give between 1 and ${maxSelectors} selectors (name → CSS selector); ${selectors.length} were given.`,
    )
  }
  for (const [name, selector] of selectors) checkSelector(name, selector)
  const attribute = input.attribute?.trim().toLowerCase() || undefined

  const response = await fetchGuarded({ url: input.url }, context, { ...limits, accept: ['html'] })
  const $ = loadHtml(response)
  const base = documentBase($, response.url)
  const matches: Record<string, string[]> = {}
  for (const [name, selector] of selectors) {
    const values: string[] = []
    // find() on the root always reads a selector; $(text) would build elements from "<p>".
    $.root()
      .find(selector)
      .each((_, element) => {
        if (values.length >= maxMatches) return false
        if (attribute === undefined) {
          values.push(readableText(element).slice(0, maxValueChars))
          return
        }
        const value = element.attribs[attribute]
        if (value === undefined) return
        const url = urlAttributes.has(attribute) ? absoluteUrl(value, base)?.href : undefined
        values.push((url ?? value).slice(0, maxValueChars))
      })
    matches[name] = values
  }
  return { url: response.url.href, status: response.status, matches }
}

// A page with elements, so the selector is compiled and not skipped as there is nothing to match.
const probe = load('<html><head><title>t</title></head><body><p class="c" id="i">t</p></body></html>')

function checkSelector(name: string, selector: unknown): void {
  const problem = selectorProblem(selector)
  if (problem !== undefined) {
    throw new ToolError(
      'selector_invalid',
      `The selector "${name}" (${JSON.stringify(selector)}) is not a valid CSS selector: ${problem}. Fix it, e.g. "article h2 a" or "table.prices td:nth-child(2)".`,
    )
  }
}

function selectorProblem(selector: unknown): string | undefined {
  if (typeof selector !== 'string' || selector.trim() === '') return 'it is empty'
  try {
    probe.root().find(selector)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}
