// CSV for spreadsheets: RFC 4180, every string cell quoted, numbers as they are. A spreadsheet runs a
// cell that starts with = + - @ (or a tab or CR) as a formula — and where a cell starts depends on the
// program's list separator: German Excel splits a comma-separated file at `;`, so in `x;=1+1;` the
// `=1+1` starts a cell of its own and quoting does not help. So a ' goes before every formula
// character at the start of the text and after every separator or line break (`,` `;` tab CR LF,
// optionally followed by spaces and quotes): an exported bot name is always text, whatever the locale.

/** A separator or line break (or the start), spaces and quotes, then a character that starts a formula. */
const formulaStart = /(^|[,;\t\r\n])([ "]*)(?=[=+\-@])/g

/** The text with a ' before each formula character a spreadsheet could see at the start of a cell. */
export function defuseFormulas(text: string): string {
  const defused = text.replace(formulaStart, "$1$2'")
  // A leading tab or CR is itself read as the start of a formula by some programs.
  return /^[\t\r]/.test(defused) ? `'${defused}` : defused
}

function cell(value: string | number): string {
  if (typeof value === 'number') return String(value)
  return `"${defuseFormulas(value).replace(/"/g, '""')}"`
}

export function toCsv(header: string[], rows: (string | number)[][]): string {
  return `${[header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`
}

export function download(filename: string, content: string, type: string): void {
  const url = URL.createObjectURL(new Blob([content], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}
