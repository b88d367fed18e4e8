// Full-text search over run outputs (decision 0012): the user's text turned into an index query that
// cannot contain query syntax, and the snippet shown with each hit. Pure functions; the SQL that uses
// them is in run.store.ts and the indexes in migration 0007.

// A word is a run of letters, digits and combining marks (SQLite's unicode61 tokenizer splits the same
// way); anything else (operators, quotes, punctuation, emoji) separates words and never reaches a query.
const wordPattern = /[\p{L}\p{N}\p{M}\p{Co}]+/gu
/** More words than this only narrow an already narrow search; they are ignored (bounds the query). */
const maxTerms = 16

/**
 * Case and accents folded, as both indexes fold them: "Über" → "uber". Recomposed after the marks are
 * gone, so letters that decompose into other letters (Hangul) come back whole.
 */
export function foldWord(word: string): string {
  return word.normalize('NFD').replace(/\p{M}/gu, '').normalize('NFC').toLowerCase()
}

/**
 * The words of a search as typed, in order; empty when the text has no letter or digit at all. A word
 * of nothing but combining marks folds to nothing and is left out.
 */
export function searchWords(q: string): string[] {
  return [...q.matchAll(wordPattern)]
    .map((m) => m[0])
    .filter((w) => foldWord(w) !== '')
    .slice(0, maxTerms)
}

/** The words of a search, folded (what the snippet compares with). */
export function searchTerms(q: string): string[] {
  return searchWords(q).map(foldWord)
}

const quoted = (word: string) => `"${word.replaceAll('"', '""')}"`

/**
 * The FTS5 MATCH expression: every word a quoted string (a string is never an operator, a column filter
 * or NEAR; words hold no `"` by construction, and one would be doubled), all required (an explicit
 * AND: FTS5 does not AND a phrase and a parenthesis by juxtaposition). The last word
 * is the one being typed: it matches the indexed words it starts — `expansions` when the caller looked
 * them up (an OR of exact words, which FTS5 can walk newest first and stop early), else a prefix query.
 * FTS5 folds the words itself, so they go in as typed.
 *
 * @example ftsMatchQuery(['nike', 'ai'], ['air', 'airbag']) // '"nike" AND ("air" OR "airbag")'
 * @example ftsMatchQuery(['summ']) // '"summ"*'
 */
export function ftsMatchQuery(words: string[], expansions: string[] = []): string {
  const last = words[words.length - 1]
  if (last === undefined) return ''
  const lastMatch =
    expansions.length === 0
      ? `${quoted(last)}*`
      : expansions.length === 1
        ? quoted(expansions[0]!)
        : `(${expansions.map(quoted).join(' OR ')})`
  return [...words.slice(0, -1).map(quoted), lastMatch].join(' AND ')
}

/**
 * The user's text as PostgreSQL gets it (for `plainto_tsquery`, which reads no operators): control
 * characters and lone surrogates become spaces — a NUL cannot even be sent to PostgreSQL.
 */
export function postgresSearchText(q: string): string {
  return q.replace(/[\p{Cc}\p{Cs}]/gu, ' ')
}

/** Offsets are UTF-16 code units into `text` (JavaScript string indexes), end exclusive. */
export interface SearchSnippet {
  text: string
  highlights: Array<{ start: number; end: number }>
}

const snippetLength = 200
const contextBefore = 60
/** Matches are looked for in the first this many characters of an output's text. */
const scanLimit = 100_000

/** The string values of an output's JSON in document order — what the indexes hold. */
function textsOf(value: unknown, into: string[]): string[] {
  if (typeof value === 'string') into.push(value)
  else if (Array.isArray(value)) for (const item of value) textsOf(item, into)
  else if (value !== null && typeof value === 'object')
    for (const item of Object.values(value)) textsOf(item, into)
  return into
}

/**
 * About 200 characters of the output around its first match, whitespace collapsed, with the matching
 * words as offsets (never markup: the client renders text and marks). Words match as the indexes match
 * them: equal after folding, or starting with the last word. Undefined when the output has no text.
 */
export function searchSnippet(output: unknown, q: string): SearchSnippet | undefined {
  const text = textsOf(output, []).join(' ').replace(/\s+/g, ' ').trim()
  if (text === '') return undefined
  const terms = searchTerms(q)
  const last = terms[terms.length - 1]
  const exact = new Set(terms)
  const isMatch = (word: string) => {
    const folded = foldWord(word)
    return exact.has(folded) || (last !== undefined && folded.startsWith(last))
  }
  const scanned = text.slice(0, scanLimit)
  let first = -1
  for (const m of scanned.matchAll(wordPattern))
    if (isMatch(m[0])) {
      first = m.index
      break
    }
  let start = 0
  if (first > contextBefore) {
    start = first - contextBefore
    // Start at a word, not inside one.
    const space = text.indexOf(' ', start)
    start = space >= 0 && space < first ? space + 1 : first
  }
  let end = Math.min(text.length, start + snippetLength)
  if (end < text.length) {
    const space = text.lastIndexOf(' ', end)
    if (space > Math.max(start, first)) end = space
  }
  const prefix = start > 0 ? '…' : ''
  const body = text.slice(start, end)
  const highlights: SearchSnippet['highlights'] = []
  if (first >= 0)
    for (const m of body.matchAll(wordPattern)) {
      // A word cut at the snippet's end is not shown as a match.
      if (m.index + m[0].length === body.length && end < text.length) continue
      if (isMatch(m[0]))
        highlights.push({ start: prefix.length + m.index, end: prefix.length + m.index + m[0].length })
    }
  return { text: `${prefix}${body}${end < text.length ? '…' : ''}`, highlights }
}
