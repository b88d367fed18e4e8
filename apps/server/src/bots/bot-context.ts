import { outputText } from './bot.mapper.ts'
import type { NoteFile } from './bot-notes.ts'

// The context of a bot run (DESIGN.md): system = the bot's name and description, its last output
// (first 2,000 characters) with its time, its notes newest first within a token budget; user = the
// input, then the bot's prompt.

export const lastOutputChars = 2000
export const notesTokenBudget = 4000

/** About four characters per token for English text: close enough for budgets, no tokenizer download. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4)
}

/**
 * A pipeline step's input (pipelines/): what the steps before it produced, and how the bot takes it.
 * `forward`: it is the input ("The previous step produced: … Your task: <prompt>"); `merge`: it goes
 * into the system context and the bot's prompt is the task. `previous` is labelled by step key when
 * the step depends on several.
 */
export interface BotStepInput {
  pipelineStep: { mode: 'forward' | 'merge'; previous: string }
  /** Set when a trigger started the run (bot-triggers.ts): how deep its chain is. */
  chain?: { depth: number; fromRunId: string }
}

/** Triggers under which the orchestrator wrote the run's input (a pipeline step, an onComplete trigger). */
export function startedByOrchestrator(trigger: string): boolean {
  return trigger === 'pipeline' || trigger === 'event'
}

export function isBotStepInput(input: unknown): input is BotStepInput {
  const step = (input as { pipelineStep?: { mode?: unknown; previous?: unknown } } | null)?.pipelineStep
  return (
    typeof step === 'object' &&
    step !== null &&
    (step.mode === 'forward' || step.mode === 'merge') &&
    typeof step.previous === 'string'
  )
}

function withoutChain(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || !('chain' in input)) return input
  const { chain: _chain, ...rest } = input as Record<string, unknown>
  return Object.keys(rest).length === 0 ? null : rest
}

/** The most of the steps before that goes into a step's context. */
export const previousOutputChars = 20_000

export interface ContextInput {
  bot: { name: string; description: string; prompt: string }
  lastRun: { output: unknown; finishedAt: number } | undefined
  /** Newest first; `complete: false` when only the start was read (readWithin: the rest would not fit). */
  notes: Array<NoteFile & { complete?: boolean }>
  input: unknown
  /**
   * The run was started by the orchestrator (a pipeline step, a trigger: triggers `pipeline` and
   * `event`), so `pipelineStep` and `chain` in its input are ours. Otherwise the input is the
   * caller's own data, whatever keys it has: a webhook's body cannot reach the system message.
   */
  fromOrchestrator: boolean
}

export interface Truncation {
  what: string
  keptChars: number
  droppedChars: number
}

export interface BotContext {
  system: string
  prompt: string
  estimatedTokens: number
  notesIncluded: string[]
  notesLeftOut: string[]
  truncations: Truncation[]
}

export function buildBotContext({
  bot,
  lastRun,
  notes,
  input: given,
  fromOrchestrator,
}: ContextInput): BotContext {
  // A trigger's bookkeeping (`chain`) is not the model's business.
  const input = fromOrchestrator ? withoutChain(given) : given
  const truncations: Truncation[] = []
  const parts = [`You are "${bot.name}", a bot run on a schedule by openOrchestrator.`]
  if (bot.description.trim()) parts.push(`Your purpose: ${bot.description.trim()}`)

  if (lastRun) {
    const text = outputText(lastRun.output)
    const kept = text.slice(0, lastOutputChars)
    if (text.length > kept.length)
      truncations.push({
        what: 'last output',
        keptChars: kept.length,
        droppedChars: text.length - kept.length,
      })
    parts.push(
      `Your last output (${new Date(lastRun.finishedAt).toISOString()})${text.length > kept.length ? ', shortened' : ''}:\n<last_output>\n${kept}\n</last_output>\n` +
        'Say clearly what is new compared with it.',
    )
  }

  const notesIncluded: string[] = []
  const notesLeftOut: string[] = []
  let budget = notesTokenBudget
  const noteTexts: string[] = []
  for (const note of notes) {
    const header = `## ${note.name} (updated ${new Date(note.updatedAt).toISOString()})\n`
    const cost = estimateTokens(header + note.content)
    if (cost <= budget && note.complete !== false) {
      noteTexts.push(header + note.content)
      notesIncluded.push(note.name)
      budget -= cost
      continue
    }
    // The newest note that does not fit is cut to what is left; older ones are left out.
    const room = (budget - estimateTokens(header)) * 4
    if (room >= 200) {
      noteTexts.push(`${header + note.content.slice(0, room)}\n[…shortened]`)
      notesIncluded.push(note.name)
      truncations.push({
        what: `note ${note.name}`,
        keptChars: room,
        droppedChars: Math.max(note.content.length, note.size) - room,
      })
      budget = 0
    } else {
      notesLeftOut.push(note.name)
      truncations.push({
        what: `note ${note.name}`,
        keptChars: 0,
        droppedChars: Math.max(note.content.length, note.size),
      })
    }
  }
  if (noteTexts.length > 0)
    parts.push(`Your notes (newest first):\n<notes>\n${noteTexts.join('\n\n')}\n</notes>`)

  const step = fromOrchestrator && isBotStepInput(input) ? input.pipelineStep : undefined
  const previous = step ? step.previous.slice(0, previousOutputChars) : ''
  if (step && step.previous.length > previous.length)
    truncations.push({
      what: 'previous step output',
      keptChars: previous.length,
      droppedChars: step.previous.length - previous.length,
    })
  if (step?.mode === 'merge' && previous.trim())
    parts.push(
      `Context from the previous step of your pipeline:\n<previous_output>\n${previous}\n</previous_output>`,
    )

  const system = parts.join('\n\n')
  if (step) {
    const prompt =
      step.mode === 'forward' && previous.trim()
        ? `The previous step produced:\n<previous_output>\n${previous}\n</previous_output>\n\nYour task: ${bot.prompt}`
        : bot.prompt
    return {
      system,
      prompt,
      estimatedTokens: estimateTokens(system) + estimateTokens(prompt),
      notesIncluded,
      notesLeftOut,
      truncations,
    }
  }
  const inputText =
    input === null || input === undefined
      ? ''
      : typeof input === 'string'
        ? input
        : JSON.stringify(input, null, 2)
  const prompt = inputText ? `Input:\n${inputText}\n\n${bot.prompt}` : bot.prompt
  return {
    system,
    prompt,
    estimatedTokens: estimateTokens(system) + estimateTokens(prompt),
    notesIncluded,
    notesLeftOut,
    truncations,
  }
}
