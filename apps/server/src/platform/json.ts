/** A JSON text column's value: null stays null, and text that is not JSON comes back as the text itself. */
export function parseJson(text: string | null): unknown {
  if (text === null) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
