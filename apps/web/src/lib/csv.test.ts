import { describe, expect, it } from 'vitest'
import { toCsv } from './csv.ts'

describe('toCsv', () => {
  it('quotes commas, quotes and line breaks, and defuses formulas', () => {
    expect(
      toCsv(
        ['day', 'cost'],
        [
          ['2026-01-01', 0.5],
          ['a,"b"\nc', 1],
          ['=HYPERLINK("x")', -1],
        ],
      ),
    ).toBe('day,cost\r\n2026-01-01,0.5\r\n"a,""b""\nc",1\r\n"\'=HYPERLINK(""x"")",-1\r\n')
  })
})
