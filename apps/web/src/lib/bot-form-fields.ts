import type { Bot } from '@openorch/contracts'

// The bot form's lists (fallback models, what starts when a run completes) and where the server's
// refusals of them belong. zod names a field `fallbacks.1.model` (or `body.fallbacks.1.model`), the
// bot service `onComplete[0].start.botId`: both are read as one key, `fallbacks[1].model`.

export type Fallback = Bot['fallbacks'][number]
export type OnComplete = Bot['onComplete'][number]
export type TargetKind = 'bot' | 'pipeline'

/** The server allows at most this many of each. */
export const maxFallbacks = 3
export const maxOnComplete = 10

/** A refusal's field as the form's key: no `body.` prefix, list indexes in brackets. */
export function fieldKey(field: string): string {
  return field.replace(/^body\./, '').replace(/\.(\d+)(?=\.|$)/g, '[$1]')
}

/** The refusals by field key; several for one field are joined. */
export function fieldErrorsOf(errors: readonly { field: string; message: string }[]): Map<string, string> {
  const map = new Map<string, string>()
  for (const error of errors) {
    const key = fieldKey(error.field)
    map.set(key, map.has(key) ? `${map.get(key)} ${error.message}` : error.message)
  }
  return map
}

/** The messages for `prefix` and any field inside it (`onComplete[0]` → `onComplete[0].start.botId`). */
export function errorsUnder(errors: ReadonlyMap<string, string>, prefix: string): string | undefined {
  const found = [...errors].filter(
    ([key]) => key === prefix || key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}[`),
  )
  return found.length > 0 ? found.map(([, message]) => message).join(' ') : undefined
}

/** What a rule starts: a bot or a pipeline, and its id. */
export function targetOf(rule: OnComplete): { kind: TargetKind; id: string } {
  return 'botId' in rule.start
    ? { kind: 'bot', id: rule.start.botId }
    : { kind: 'pipeline', id: rule.start.pipelineId }
}

export function startOf(kind: TargetKind, id: string): OnComplete['start'] {
  return kind === 'bot' ? { botId: id } : { pipelineId: id }
}

/** A new rule: the first bot (else pipeline) offered, after every run, with the output. */
export function newOnComplete(botIds: readonly string[], pipelineIds: readonly string[]): OnComplete {
  const start =
    botIds[0] !== undefined || pipelineIds[0] === undefined
      ? startOf('bot', botIds[0] ?? '')
      : startOf('pipeline', pipelineIds[0])
  return { start, when: 'always', passOutput: true }
}

/** The list with the item at `from` moved to `to` (clamped); the same list when nothing moves. */
export function moveItem<T>(items: readonly T[], from: number, to: number): T[] {
  const target = Math.max(0, Math.min(items.length - 1, to))
  if (from === target || from < 0 || from >= items.length) return [...items]
  const next = [...items]
  const [moved] = next.splice(from, 1)
  next.splice(target, 0, moved as T)
  return next
}
