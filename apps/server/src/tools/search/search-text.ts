import type { RawResult, SearchResult } from './search.types.ts'

// What a search provider sends is text from the web: it reaches the model and the run log, so it is
// reduced to plain, short, single-line text, and only http(s) links are passed on.

export const maxTitleChars = 300
export const maxSnippetChars = 1_000
const maxUrlChars = 2_048

const namedEntities: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  laquo: '«',
  raquo: '»',
  middot: '·',
  bull: '•',
  copy: '©',
  reg: '®',
  trade: '™',
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (entity, name: string) => {
    if (name[0] !== '#') return namedEntities[name.toLowerCase()] ?? entity
    const codePoint =
      name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1))
    const valid = codePoint > 0 && codePoint <= 0x10ffff && !(codePoint >= 0xd800 && codePoint <= 0xdfff)
    return valid ? String.fromCodePoint(codePoint) : entity
  })
}

/**
 * `value` as plain text of at most `maxLength` characters: tags stripped (Brave marks the query's
 * words with `<strong>`), entities decoded, control and direction characters removed, whitespace
 * collapsed. A cut text ends with `…`.
 */
export function plainSnippet(value: unknown, maxLength: number): string {
  if (typeof value !== 'string') return ''
  // Tags only (a letter or `/` after `<`): "a < b" in text stays; `&lt;b&gt;` decodes to text, not a tag.
  const untagged = value.replace(/<!--[\s\S]*?-->|<\/?[a-z][^<>]*>/gi, ' ')
  const text = decodeEntities(untagged)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return cut(text, maxLength)
}

function cut(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text
  let end = maxLength - 1
  // Never split a surrogate pair.
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${text.slice(0, end).trimEnd()}…`
}

/** `value` as an http(s) URL of sane length, or undefined. */
export function httpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > maxUrlChars) return undefined
  try {
    const url = new URL(value.trim())
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined
  } catch {
    return undefined
  }
}

/** The first `count` results with an http(s) URL, each URL once, as plain text. */
export function cleanResults(raw: readonly RawResult[], count: number): SearchResult[] {
  const results: SearchResult[] = []
  const seen = new Set<string>()
  for (const item of raw) {
    if (results.length >= count) break
    const url = httpUrl(item.url)
    if (url === undefined || seen.has(url)) continue
    seen.add(url)
    const title = plainSnippet(item.title, maxTitleChars) || new URL(url).hostname
    results.push({ title, url, snippet: plainSnippet(item.snippet, maxSnippetChars) })
  }
  return results
}

/** A provider's own words, short and on one line, for messages people read; the key never. */
export function quoteProvider(words: string | undefined, apiKey: string | undefined): string {
  if (!words) return ''
  const scrubbed = apiKey && apiKey.length >= 4 ? words.split(apiKey).join('***') : words
  // Without its closing period, so it reads inside parentheses: `(401: The token is invalid)`.
  return plainSnippet(scrubbed, 300).replace(/[.\s]+$/, '')
}
