// Whether a bot's run found something, decidable without reading prose (issue 14's `on_results`,
// issue 15's `onComplete` triggers): a bot with an output schema has results when its data holds
// something (a non-empty list, or an object with a non-empty list or any other value); a bot without
// one has results unless its answer is empty or starts with the marker NO_RESULTS, which its prompt
// should tell the model to use.

export const noResultsMarker = 'NO_RESULTS'

/** Whether a completed run's output holds results (see above). */
export function hasResults(output: unknown): boolean {
  if (typeof output !== 'object' || output === null) return false
  const { text, data } = output as { text?: unknown; data?: unknown }
  if (data !== undefined) return dataHoldsSomething(data)
  if (typeof text !== 'string') return false
  const trimmed = text.trim()
  return trimmed !== '' && !trimmed.toUpperCase().startsWith(noResultsMarker)
}

function dataHoldsSomething(data: unknown): boolean {
  if (data === null || data === undefined) return false
  if (Array.isArray(data)) return data.length > 0
  if (typeof data !== 'object') return data !== '' && data !== false
  const values = Object.values(data)
  const lists = values.filter(Array.isArray)
  // An object with lists has results when one of them is non-empty (`{ offers: [] }` has none).
  if (lists.length > 0) return lists.some((list) => list.length > 0)
  return values.some((value) => value !== null && value !== '' && value !== false)
}
