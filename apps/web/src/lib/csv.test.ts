import { describe, expect, it } from 'vitest'
import { defuseFormulas, toCsv } from './csv.ts'

/**
 * How a spreadsheet program splits a CSV file with its list separator: a field that starts with `"`
 * is quoted (`""` inside is one quote), any other field runs to the next separator or line break.
 * German Excel and LibreOffice split at `;`, English ones at `,`; some at tab.
 */
function spreadsheetCells(csv: string, separator: string): string[] {
  const cells: string[] = []
  let i = 0
  while (i < csv.length) {
    let value = ''
    if (csv[i] === '"') {
      i++
      while (i < csv.length) {
        if (csv[i] === '"' && csv[i + 1] === '"') {
          value += '"'
          i += 2
        } else if (csv[i] === '"') {
          i++
          break
        } else value += csv[i++]
      }
      // Anything after the closing quote up to the separator belongs to the same cell.
      while (i < csv.length && csv[i] !== separator && csv[i] !== '\r' && csv[i] !== '\n') value += csv[i++]
    } else
      while (i < csv.length && csv[i] !== separator && csv[i] !== '\r' && csv[i] !== '\n') value += csv[i++]
    cells.push(value)
    if (csv[i] === '\r' && csv[i + 1] === '\n') i += 2
    else i++
  }
  return cells
}

/**
 * Cells a spreadsheet would run as a formula (leading spaces trimmed, as some import dialogs do); a
 * number such as -0.5 is a number.
 */
function formulaCells(csv: string, separator: string): string[] {
  return spreadsheetCells(csv, separator).filter(
    (cell) => /^[=+\-@\t\r]/.test(cell.trimStart()) && !/^-?\d+(\.\d+)?$/.test(cell),
  )
}

/** Bot names from the review, and their relatives: formulas after every separator and line break. */
const attackNames = [
  'x;=1+1;',
  'x,=1+1,',
  'x\t=1+1',
  'x;+1+1',
  'x;-1+1',
  'x;@SUM(1)',
  'x; =1+1',
  'x;"=1+1"',
  'x;";=HYPERLINK(""http://evil.example"")',
  'x\n=1+1',
  'x\r\n=1+1',
  '=HYPERLINK("http://evil.example","click")',
  '\t=1+1',
  '\r=1+1',
  ' =1+1',
  '";=1+1;"',
]

describe('toCsv', () => {
  it('quotes every string cell, leaves numbers bare, doubles quotes and keeps line breaks', () => {
    expect(
      toCsv(
        ['day', 'cost'],
        [
          ['2026-01-01', 0.5],
          ['a,"b"\nc', 1],
          ['=HYPERLINK("x")', -1],
        ],
      ),
    ).toBe('"day","cost"\r\n"2026-01-01",0.5\r\n"a,""b""\nc",1\r\n"\'=HYPERLINK(""x"")",-1\r\n')
  })

  it('defuses a formula after a separator, so `x;=1+1;` is text in a spreadsheet that splits at ;', () => {
    expect(toCsv(['label'], [['x;=1+1;']])).toBe('"label"\r\n"x;\'=1+1;"\r\n')
    expect(defuseFormulas('x,=1+1,')).toBe("x,'=1+1,")
    expect(defuseFormulas('x\t=1+1')).toBe("x\t'=1+1")
    expect(defuseFormulas('x;"=1+1"')).toBe('x;"\'=1+1"')
    expect(defuseFormulas('x\n-1')).toBe("x\n'-1")
    expect(defuseFormulas('\t=1')).toBe("'\t'=1")
    // Formula characters inside a word or after a space are left alone.
    expect(defuseFormulas('Daily - summary 2026-01-01 a+b x=y mail@example.com')).toBe(
      'Daily - summary 2026-01-01 a+b x=y mail@example.com',
    )
  })

  it('leaves no cell a spreadsheet would run as a formula, whatever its list separator', () => {
    const csv = toCsv(
      ['bot', 'label', 'calls', 'costUsd'],
      attackNames.map((name, i) => [`bot-${i}`, name, i, -0.5]),
    )
    for (const separator of [',', ';', '\t'])
      expect({ separator, formulas: formulaCells(csv, separator) }).toEqual({ separator, formulas: [] })
    // The old export (only the start of a cell defused, quotes only when needed) fails this check:
    // its `"x;=1+1;"` has `=1+1` as a cell of its own when split at ;.
    expect(formulaCells('bot,label\r\nbot-0,x;=1+1;\r\n', ';')).toEqual(['=1+1'])
  })
})
