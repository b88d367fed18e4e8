import type { CheerioAPI } from 'cheerio'
import type { AnyNode, Element } from 'domhandler'

// HTML reduced to what a model reads: the words, broken into lines where a browser breaks them, and
// the links as absolute URLs. Scripts, styles and other markup that is not read are left out.

/** Elements whose content is not text a reader sees. */
const unreadTags = new Set(['head', 'script', 'style', 'noscript', 'template', 'svg', 'iframe', 'object'])
const unreadSelector = [...unreadTags].filter((tag) => tag !== 'head').join(', ')

/** Elements a browser lays out on lines of their own. */
const blockTags = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'body',
  'caption',
  'dd',
  'details',
  'dialog',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'footer',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hgroup',
  'hr',
  'html',
  'li',
  'main',
  'nav',
  'ol',
  'option',
  'p',
  'section',
  'summary',
  'table',
  'tbody',
  'tfoot',
  'thead',
  'tr',
  'ul',
])

/**
 * The readable text of `roots`: whitespace collapsed, a line break at each block element and `<br>`,
 * `<pre>` kept as written. Walks iteratively, so a deeply nested page cannot overflow the stack.
 */
export function readableText(roots: AnyNode | readonly AnyNode[]): string {
  const lines: string[] = []
  let line = ''
  const breakLine = () => {
    const done = line.trim()
    if (done !== '') lines.push(done)
    line = ''
  }
  const lineBreak = Symbol('line break')
  const start = Array.isArray(roots) ? roots : [roots as AnyNode]
  // A root that is itself unread markup (a selected <script>) is read as its raw text.
  const [only] = start
  if (start.length === 1 && only && isElement(only) && unreadTags.has(only.name))
    return collapse(rawText(only))
  const stack: Array<AnyNode | typeof lineBreak> = [...start].reverse()
  while (stack.length > 0) {
    const node = stack.pop()!
    if (node === lineBreak) {
      breakLine()
    } else if (node.type === 'text') {
      const piece = node.data.replace(/\s+/g, ' ')
      line += line === '' || line.endsWith(' ') ? piece.trimStart() : piece
    } else if (isElement(node)) {
      const tag = node.name
      if (unreadTags.has(tag)) continue
      if (tag === 'br') {
        breakLine()
      } else if (tag === 'pre') {
        breakLine()
        for (const raw of rawText(node).split('\n')) lines.push(raw.trimEnd())
      } else if (tag === 'td' || tag === 'th') {
        if (line !== '' && !line.endsWith(' ')) line += ' '
        stack.push(...[...node.children].reverse())
      } else if (blockTags.has(tag)) {
        breakLine()
        stack.push(lineBreak, ...[...node.children].reverse())
      } else {
        stack.push(...[...node.children].reverse())
      }
    } else if ('children' in node) {
      stack.push(...[...node.children].reverse())
    }
  }
  breakLine()
  return lines.join('\n').replace(/^\n+|\n+$/g, '')
}

const isElement = (node: AnyNode): node is Element => 'children' in node && 'name' in node

/** The text of `node` and everything in it, as written. */
function rawText(node: AnyNode): string {
  let text = ''
  const stack: AnyNode[] = [node]
  while (stack.length > 0) {
    const current = stack.pop()!
    if (current.type === 'text') text += current.data
    else if ('children' in current) stack.push(...[...current.children].reverse())
  }
  return text
}

export const collapse = (text: string) => text.replace(/\s+/g, ' ').trim()

/** The URL relative references resolve against: the page's `<base href>`, else where it was fetched. */
export function documentBase($: CheerioAPI, pageUrl: URL): URL {
  const href = $('base[href]').first().attr('href')
  const base = href === undefined ? undefined : absoluteUrl(href, pageUrl)
  return base ?? pageUrl
}

/** `reference` made absolute against `base`, if it is an http(s) URL. */
export function absoluteUrl(reference: string, base: URL): URL | undefined {
  try {
    const url = new URL(reference.trim(), base)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined
  } catch {
    return undefined
  }
}

export interface ReducedPage {
  title: string | undefined
  text: string
  links: Array<{ text: string; url: string }>
}

const maxLinkTextChars = 200

/** A whole page reduced to its title, readable text and (up to `maxLinks`, distinct) http(s) links. */
export function reducePage($: CheerioAPI, pageUrl: URL, maxLinks: number): ReducedPage {
  const title = collapse($('title').first().text()) || undefined
  const base = documentBase($, pageUrl)
  // Links inside a <noscript> or <template> are no more the page's than their text.
  $(unreadSelector).remove()
  const links: ReducedPage['links'] = []
  const seen = new Set<string>()
  $('a[href]').each((_, anchor) => {
    if (links.length >= maxLinks) return false
    const url = absoluteUrl(anchor.attribs.href ?? '', base)
    if (!url || seen.has(url.href)) return
    seen.add(url.href)
    const text =
      collapse(readableText(anchor)) || collapse(anchor.attribs['aria-label'] ?? anchor.attribs.title ?? '')
    links.push({ text: text.slice(0, maxLinkTextChars), url: url.href })
  })
  return { title, text: readableText($.root()[0]!), links }
}
