import { describe, expect, it } from 'vitest'
import {
  firstLine,
  parseInline,
  parseMarkdown,
  plainInline,
  splitText,
  truncate,
  truncateMarkdown,
} from './markup.ts'

/** No lone surrogate: the cut did not break a character in two. */
const isWellFormed = (text: string) =>
  !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)

// The Markdown every channel renders from: what the parse makes of what bots write, and the cuts that
// keep a message within a channel's limits without breaking a character or a code block.

describe('markup', () => {
  it('parses the Markdown bots write into blocks', () => {
    const blocks = parseMarkdown(
      '# Title #\n\nline one\nline **two**\n\n- a\n  1. b\n> quoted\n\n```ts\nconst x = 1\n\n```\n---\ntail',
    )
    expect(blocks.map((block) => block.type)).toEqual([
      'heading',
      'paragraph',
      'list_item',
      'list_item',
      'quote',
      'code',
      'rule',
      'paragraph',
    ])
    expect(blocks[0]).toEqual({ type: 'heading', level: 1, content: [{ type: 'text', text: 'Title' }] })
    expect(blocks[1]).toEqual({
      type: 'paragraph',
      lines: [
        [{ type: 'text', text: 'line one' }],
        [
          { type: 'text', text: 'line ' },
          { type: 'strong', children: [{ type: 'text', text: 'two' }] },
        ],
      ],
    })
    expect(blocks[3]).toMatchObject({ type: 'list_item', depth: 1, marker: '1.' })
    expect(blocks[5]).toEqual({ type: 'code', language: 'ts', text: 'const x = 1\n' })
  })

  it('keeps an unclosed code fence to the end as code', () => {
    expect(parseMarkdown('```\nno end\n**not bold**')).toEqual([
      { type: 'code', language: '', text: 'no end\n**not bold**' },
    ])
  })

  it('parses inline spans and leaves what is not one as text', () => {
    expect(
      parseInline('a **b _c_** `d*e*` [f](https://x.example/p_(1)) ~~g~~ snake_case \\*h\\* 2 * 3'),
    ).toEqual([
      { type: 'text', text: 'a ' },
      {
        type: 'strong',
        children: [
          { type: 'text', text: 'b ' },
          { type: 'em', children: [{ type: 'text', text: 'c' }] },
        ],
      },
      { type: 'text', text: ' ' },
      { type: 'code', text: 'd*e*' },
      { type: 'text', text: ' ' },
      { type: 'link', url: 'https://x.example/p_(1)', children: [{ type: 'text', text: 'f' }] },
      { type: 'text', text: ' ' },
      { type: 'strike', children: [{ type: 'text', text: 'g' }] },
      { type: 'text', text: ' snake_case *h* 2 * 3' },
    ])
    expect(plainInline(parseInline('**a** [b](https://x) `c`'))).toBe('a b c')
  })

  it('parses a long line full of stray markers in linear time', () => {
    const started = performance.now()
    parseMarkdown('**a [b `c ~~d '.repeat(50_000))
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('truncates with "…" and never splits a surrogate pair', () => {
    expect(truncate('hello', 5)).toBe('hello')
    expect(truncate('hello world', 8)).toBe('hello w…')
    expect(truncate('hello world', 7)).toBe('hello…')
    const emoji = `ab${'😀'.repeat(5)}`
    for (let max = 1; max < emoji.length; max++) {
      const cut = truncate(emoji, max)
      expect(cut.length).toBeLessThanOrEqual(max)
      expect(isWellFormed(cut)).toBe(true)
    }
  })

  it('splits at paragraph breaks, then lines, then words, then anywhere', () => {
    expect(splitText('aaaa\n\nbbbb\ncccc dddd', 10)).toEqual(['aaaa\n\nbbbb', 'cccc dddd'])
    expect(splitText('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)])
    const pieces = splitText('😀'.repeat(20), 9)
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(9)
      expect(isWellFormed(piece)).toBe(true)
    }
    expect(pieces.join('')).toBe('😀'.repeat(20))
  })

  it('closes a code fence a cut falls into', () => {
    const cut = truncateMarkdown(`intro\n\`\`\`\n${'code\n'.repeat(100)}\`\`\``, 100)
    expect(cut.length).toBeLessThanOrEqual(100)
    expect(cut.endsWith('…\n```')).toBe(true)
    expect(truncateMarkdown('short', 100)).toBe('short')
  })

  it('takes the first line that says something', () => {
    expect(firstLine('\n\n```\ncode\n```')).toBe('code')
    expect(firstLine('  \nFound 3 offers\nmore')).toBe('Found 3 offers')
    expect(firstLine('')).toBe('')
  })
})
