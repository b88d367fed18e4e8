// Markdown as the channels read it. A message's text is Markdown (a bot's output, a system event's
// words); each adapter renders it in its own markup (Slack mrkdwn, Telegram HTML, e-mail HTML) from one
// parse, and cuts it to its own limits with the helpers below. The parse covers what bots write
// (headings, lists, quotes, fenced code, **bold**, *italic*, ~~strike~~, `code`, [links](…)), not all
// of CommonMark: anything it does not know stays text, which every renderer escapes.

/** Inline Markdown: text, or a span around more inline nodes. */
export type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'strong' | 'em' | 'strike'; children: Inline[] }
  | { type: 'link'; url: string; children: Inline[] }

/** A block of Markdown; `paragraph` keeps its line breaks (chat apps show them). */
export type Block =
  | { type: 'paragraph'; lines: Inline[][] }
  | { type: 'heading'; level: number; content: Inline[] }
  | { type: 'quote'; lines: Inline[][] }
  | { type: 'list_item'; depth: number; marker: string; content: Inline[] }
  | { type: 'code'; language: string; text: string }
  | { type: 'rule' }

const fence = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/
const heading = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/
const quote = /^ {0,3}>\s?(.*)$/
const listItem = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/
const rule = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/

/** The blocks of a Markdown text. */
export function parseMarkdown(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n')
  const blocks: Block[] = []
  let paragraph: Inline[][] | undefined
  let quoted: Inline[][] | undefined
  const close = () => {
    paragraph = undefined
    quoted = undefined
  }
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!
    const opened = fence.exec(line)
    if (opened) {
      close()
      const marker = opened[1]!
      const body: string[] = []
      index++
      while (index < lines.length) {
        const candidate = lines[index]!.trim()
        if (candidate.startsWith(marker[0]!.repeat(marker.length)) && /^(`+|~+)$/.test(candidate)) break
        body.push(lines[index]!)
        index++
      }
      blocks.push({ type: 'code', language: opened[2] ?? '', text: body.join('\n') })
      continue
    }
    if (line.trim() === '') {
      close()
      continue
    }
    if (rule.test(line)) {
      close()
      blocks.push({ type: 'rule' })
      continue
    }
    const titled = heading.exec(line)
    if (titled) {
      close()
      blocks.push({ type: 'heading', level: titled[1]!.length, content: parseInline(titled[2]!) })
      continue
    }
    const cited = quote.exec(line)
    if (cited) {
      paragraph = undefined
      if (!quoted) {
        quoted = []
        blocks.push({ type: 'quote', lines: quoted })
      }
      quoted.push(parseInline(cited[1]!))
      continue
    }
    const item = listItem.exec(line)
    if (item) {
      close()
      const depth = Math.floor(item[1]!.replace(/\t/g, '  ').length / 2)
      blocks.push({ type: 'list_item', depth, marker: item[2]!, content: parseInline(item[3]!) })
      continue
    }
    quoted = undefined
    if (!paragraph) {
      paragraph = []
      blocks.push({ type: 'paragraph', lines: paragraph })
    }
    paragraph.push(parseInline(line.trim()))
  }
  return blocks
}

// Each tried at a position, in this order; `y` anchors it there. Spans are bounded (2,000 characters,
// links 500 of text): an unclosed `**` then costs a bounded look ahead, not the rest of a long line,
// so a 1 MB output with thousands of stray markers parses in linear time.
const inlineRules: Array<[RegExp, (match: RegExpExecArray) => Inline]> = [
  [/\\([\\`*_{}[\]()#+\-.!~>|<])/y, (m) => ({ type: 'text', text: m[1]! })],
  [/(`+)(?!`)([^\n]{0,2000}?[^`\n])\1(?!`)/y, (m) => ({ type: 'code', text: trimCode(m[2]!) })],
  [
    /\[([^\]\n]{1,500})\]\(\s*<?((?:[^()\s<>]|\([^()\s<>]{0,200}\)){1,2000})>?(?:\s+"[^"\n]{0,200}")?\s*\)/y,
    (m) => ({ type: 'link', url: m[2]!, children: parseInline(m[1]!) }),
  ],
  [
    /<((?:https?:\/\/|mailto:)[^>\s]{1,2000})>/y,
    (m) => ({ type: 'link', url: m[1]!, children: [text(m[1]!)] }),
  ],
  [/\*\*(?=\S)([^\n]{0,2000}?\S)\*\*/y, (m) => ({ type: 'strong', children: parseInline(m[1]!) })],
  [/__(?=\S)([^\n]{0,2000}?\S)__(?!\w)/y, (m) => ({ type: 'strong', children: parseInline(m[1]!) })],
  [/~~(?=\S)([^\n]{0,2000}?\S)~~/y, (m) => ({ type: 'strike', children: parseInline(m[1]!) })],
  [/\*(?=[^\s*])([^\n*]{0,2000}?[^\s*])\*(?!\*)/y, (m) => ({ type: 'em', children: parseInline(m[1]!) })],
  [/_(?=\S)([^\n_]{0,2000}?\S)_(?!\w)/y, (m) => ({ type: 'em', children: parseInline(m[1]!) })],
]

const text = (value: string): Inline => ({ type: 'text', text: value })
/** `` ` a ` `` is the code `a`: one space on each side is padding (CommonMark). */
const trimCode = (code: string) => (/^ .* $/.test(code) && code.trim() !== '' ? code.slice(1, -1) : code)

/** The inline nodes of one line (or a span's content). */
export function parseInline(source: string): Inline[] {
  const nodes: Inline[] = []
  let plain = ''
  let index = 0
  outer: while (index < source.length) {
    const char = source[index]!
    // `_` opens emphasis only at a word's start (snake_case stays text), like CommonMark.
    const wordBefore = index > 0 && /\w/.test(source[index - 1]!)
    if ('\\`[<*_~'.includes(char) && !(char === '_' && wordBefore)) {
      for (const [pattern, build] of inlineRules) {
        pattern.lastIndex = index
        const match = pattern.exec(source)
        if (!match) continue
        const node = build(match)
        index += match[0].length
        if (node.type === 'text') {
          plain += node.text
          continue outer
        }
        if (plain) nodes.push(text(plain))
        plain = ''
        nodes.push(node)
        continue outer
      }
    }
    plain += char
    index++
  }
  if (plain) nodes.push(text(plain))
  return nodes
}

/** The text of inline nodes without markup (a link's words, not its URL). */
export function plainInline(nodes: readonly Inline[]): string {
  return nodes.map((node) => ('children' in node ? plainInline(node.children) : node.text)).join('')
}

/** True for a URL a chat app may link to: http(s) or mailto. */
export function isSafeLinkUrl(url: string): boolean {
  return /^(https?:\/\/|mailto:)/i.test(url)
}

/** The first non-empty line of a Markdown text (a `short` message shows only it), without fence lines. */
export function firstLine(markdown: string): string {
  for (const line of markdown.replace(/\r\n?/g, '\n').split('\n'))
    if (line.trim() !== '' && !fence.test(line)) return line.trim()
  return ''
}

/**
 * `text` cut to at most `max` characters (UTF-16 code units, as the chat APIs count), ending in "…"
 * when cut; never splits a surrogate pair.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text
  if (max <= 0) return ''
  let end = max - 1
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--
  return `${text.slice(0, end).trimEnd()}…`
}

/**
 * `text` in pieces of at most `max` characters, cut at a paragraph break where one falls in the second
 * half of a piece, else at a line break, else at a space, else anywhere (never inside a surrogate pair).
 */
export function splitText(text: string, max: number): string[] {
  const pieces: string[] = []
  let rest = text
  while (rest.length > max) {
    const window = rest.slice(0, max + 1)
    const half = Math.floor(max / 2)
    let cut = -1
    for (const separator of ['\n\n', '\n', ' ']) {
      const at = window.lastIndexOf(separator)
      if (at >= half && at <= max) {
        cut = at
        break
      }
    }
    let next: number
    if (cut === -1) {
      cut = isHighSurrogate(rest.charCodeAt(max - 1)) ? max - 1 : max
      next = cut
    } else next = cut + 1
    const piece = rest.slice(0, cut).trimEnd()
    if (piece) pieces.push(piece)
    rest = rest.slice(next).replace(/^\n+/, '')
  }
  if (rest.trim()) pieces.push(rest)
  return pieces
}

/**
 * Markdown cut to `max` characters with "…", a cut code fence closed again so the rest of the message
 * does not turn into code.
 */
export function truncateMarkdown(markdown: string, max: number): string {
  if (markdown.length <= max) return markdown
  const closing = '\n```'
  let cut = truncate(markdown, max)
  if (isInsideFence(cut)) cut = `${truncate(markdown, max - closing.length)}${closing}`
  return cut
}

function isInsideFence(markdown: string): boolean {
  let open = false
  for (const line of markdown.split('\n')) if (fence.test(line)) open = !open
  return open
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}
