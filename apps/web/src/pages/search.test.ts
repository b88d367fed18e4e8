import { describe, expect, it } from 'vitest'
import { highlightParts } from './search.tsx'

describe('search snippet highlighting', () => {
  it('cuts the text at the highlights and keeps everything else as plain text', () => {
    expect(
      highlightParts({
        text: '…the <b>weekly</b> summary',
        highlights: [
          { start: 8, end: 14 },
          { start: 19, end: 26 },
        ],
      }),
    ).toEqual([
      { text: '…the <b>', marked: false },
      { text: 'weekly', marked: true },
      { text: '</b> ', marked: false },
      { text: 'summary', marked: true },
    ])
  })

  it('skips offsets that overlap, run backwards or leave the text, losing no character', () => {
    const snippet = {
      text: 'abc def',
      highlights: [
        { start: 4, end: 7 },
        { start: 2, end: 5 },
        { start: 6, end: 6 },
        { start: 5, end: 99 },
      ],
    }
    const parts = highlightParts(snippet)
    expect(parts.map((p) => p.text).join('')).toBe('abc def')
    expect(parts.filter((p) => p.marked).map((p) => p.text)).toEqual(['def'])
    expect(highlightParts({ text: 'plain', highlights: [] })).toEqual([{ text: 'plain', marked: false }])
  })
})
