import type { ModelMessage, ToolResultPart } from 'ai'
import { withToolSpan } from '../platform/tracing.ts'
import type { GenerateResult, ModelTool, ModelToolCall } from '../providers/provider.types.ts'
import { RunFailure } from '../runs/run.failure.ts'
import { type ToolContext, ToolError, type ToolFunction } from './tool.types.ts'
import { inputSchemaOf } from './tool-registry.ts'

// The conversation of a run with tools (decision 0029): the model is called with the functions of
// the bot's tool sets; the calls it asks for run (those of one step concurrently), their results go
// back, and it is called again, until it answers or the rounds run out. The loop is ours, not the
// AI SDK's: each model call passes the caller's budget and usage bookkeeping, each side effect the
// lease, and a tool's failure is told to the model instead of failing the run.

/** A tool call as the run log and the live feed show it. */
export interface ToolCallReport {
  toolCallId: string
  tool: string
  /** The arguments with secret-looking fields redacted and long strings cut. */
  arguments: unknown
  status: 'started' | 'completed' | 'failed'
  durationMs?: number
  /** Characters of the result as sent to the model (before truncation). */
  resultChars?: number
  /** The start of the result, for people reading the run (at most 2,000 characters). */
  result?: string
  /** A file the call stored in the run's file space (a screenshot), to link from the run. */
  file?: string
  error?: { code: string; message: string }
}

export interface ToolLoopOptions {
  prompt: string
  functions: readonly ToolFunction[]
  context: ToolContext
  /** Rounds of tool calls allowed; the model asking for one more fails the run. */
  maxIterations: number
  /** One model call with the conversation so far (the caller adds credentials, budget, usage). */
  call(request: {
    messages: ModelMessage[]
    tools: Record<string, ModelTool>
    round: number
  }): Promise<GenerateResult>
  /** Presents the run's lease (fencing) before a call with side effects. */
  assertLease(): Promise<void>
  /** Every tool call, when it starts and ends: the run log and the live feed. */
  onToolCall(report: ToolCallReport): void | Promise<void>
  /** A result longer than this (as JSON) is cut, with a note to the model (default 20,000). */
  maxResultChars?: number
  /** Whether a call of this function waits for a person first (absent: only `requiresApproval` ones). */
  needsApproval?(fn: ToolFunction): boolean
  /** Goes on with a conversation that was parked for an approval, now decided. */
  resume?: { state: ToolLoopState; decision: ApprovalDecisionOutcome }
  /**
   * Runs an approved call at most once, even when the process dies during it and the run is taken up
   * again (the caller keeps a marker before and the result after). Absent: the call simply runs.
   */
  runApproved?(toolCallId: string, run: () => Promise<ToolResultPart>): Promise<ToolResultPart>
}

/** How a person decided on the call a parked conversation waits for. */
export interface ApprovalDecisionOutcome {
  toolCallId: string
  status: 'approved' | 'rejected' | 'expired'
  comment: string | null
}

/** A conversation with its step in progress: what a parked run resumes from (JSON). */
export interface ToolLoopState {
  messages: ModelMessage[]
  /** The calls the model asked for in the current round, their results so far (null: not yet). */
  step: { calls: ModelToolCall[]; results: Array<ToolResultPart | null>; reason: string | null } | null
  tokensIn: number
  tokensOut: number
  toolCalls: number
  rounds: number
}

interface Totals {
  tokensIn: number
  tokensOut: number
  toolCalls: number
  rounds: number
}

/** The model answered. */
export interface ToolLoopAnswer extends Totals {
  parked?: undefined
  final: GenerateResult
}

/** A call waits for a person: the caller parks the run with `state` and asks for approval. */
export interface ToolLoopParked extends Totals {
  parked: {
    toolCallId: string
    tool: string
    /** The arguments as logged (redacted). */
    arguments: unknown
    /** The arguments as the call will get them. */
    input: unknown
    /** What the model said along with the call: its stated reason. */
    reason: string | null
  }
  state: ToolLoopState
  final?: undefined
}

export type ToolLoopResult = ToolLoopAnswer | ToolLoopParked

export async function runToolLoop(options: ToolLoopOptions): Promise<ToolLoopResult> {
  const byName = new Map(options.functions.map((fn) => [fn.name, fn]))
  const tools = Object.fromEntries(
    options.functions.map((fn) => [fn.name, { description: fn.description, inputSchema: inputSchemaOf(fn) }]),
  )
  const needsApproval = (call: ModelToolCall) => {
    const fn = byName.get(call.toolName)
    if (!fn || call.invalid) return false
    return options.needsApproval ? options.needsApproval(fn) : fn.requiresApproval === true
  }
  const state: ToolLoopState = options.resume
    ? structuredClone(options.resume.state)
    : {
        messages: [{ role: 'user', content: options.prompt }],
        step: null,
        tokensIn: 0,
        tokensOut: 0,
        toolCalls: 0,
        rounds: 0,
      }
  let decision = options.resume?.decision
  for (;;) {
    if (!state.step) {
      const result = await options.call({ messages: state.messages, tools, round: state.rounds })
      state.tokensIn += result.tokensIn
      state.tokensOut += result.tokensOut
      if (result.toolCalls.length === 0) return { final: result, ...totalsOf(state) }
      if (state.rounds >= options.maxIterations)
        throw new RunFailure(
          'tool_iterations_exceeded',
          `The model still asked for tools after ${options.maxIterations} round${options.maxIterations === 1 ? '' : 's'} of tool calls (${state.toolCalls} calls): the run stops here. Raise maxToolIterations, or make the prompt say when to stop.`,
          false,
        )
      state.messages.push(...result.responseMessages)
      state.step = {
        calls: result.toolCalls,
        results: result.toolCalls.map(() => null),
        reason: result.text.trim() || null,
      }
    }
    options.context.signal.throwIfAborted()
    const step = state.step
    // Calls that need nobody run at once, together; those that wait for a person come after, in order.
    const free = step.calls.flatMap((call, index) =>
      step.results[index] === null && !needsApproval(call) ? [index] : [],
    )
    const done = await Promise.all(free.map((index) => runCall(step.calls[index]!, byName, options)))
    free.forEach((index, i) => {
      step.results[index] = done[i]!
    })
    for (const [index, call] of step.calls.entries()) {
      if (step.results[index] !== null) continue
      if (decision?.toolCallId !== call.toolCallId)
        return {
          parked: {
            toolCallId: call.toolCallId,
            tool: call.toolName,
            arguments: redactArguments(call.input),
            input: call.input,
            reason: step.reason,
          },
          state: structuredClone(state),
          ...totalsOf(state),
        }
      const decided = decision
      decision = undefined
      step.results[index] =
        decided.status === 'approved'
          ? await (options.runApproved
              ? options.runApproved(call.toolCallId, () => runCall(call, byName, options))
              : runCall(call, byName, options))
          : await refused(call, decided, options)
    }
    state.toolCalls += step.calls.length
    state.rounds++
    state.messages.push({ role: 'tool', content: step.results as ToolResultPart[] })
    state.step = null
  }
}

function totalsOf(state: ToolLoopState): Totals {
  return {
    tokensIn: state.tokensIn,
    tokensOut: state.tokensOut,
    toolCalls: state.toolCalls,
    rounds: state.rounds,
  }
}

/** A call a person rejected (or let expire): the model is told so, in words, as the call's result. */
async function refused(
  call: ModelToolCall,
  decision: ApprovalDecisionOutcome,
  options: ToolLoopOptions,
): Promise<ToolResultPart> {
  const message =
    decision.status === 'expired'
      ? 'nobody approved this call in time; it was not made. Do not try it again in this run.'
      : `rejected by a person${decision.comment ? `: ${decision.comment}` : ''}. The call was not made.`
  const code = decision.status === 'expired' ? 'approval_expired' : 'approval_rejected'
  await options.onToolCall({
    toolCallId: call.toolCallId,
    tool: call.toolName,
    arguments: redactArguments(call.input),
    status: 'failed',
    durationMs: 0,
    error: { code, message },
  })
  return {
    type: 'tool-result',
    toolCallId: call.toolCallId,
    toolName: call.toolName,
    output: { type: 'error-text', value: `${code}: ${message}` },
  }
}

/** One tool call in its span (`execute_tool <name>`, when tracing is on): an error-text result marks it failed. */
function runCall(
  call: ModelToolCall,
  byName: Map<string, ToolFunction>,
  options: ToolLoopOptions,
): Promise<ToolResultPart> {
  return withToolSpan(
    { name: call.toolName, callId: call.toolCallId },
    () => runCallUntraced(call, byName, options),
    (part) => (part.output.type === 'error-text' ? part.output.value.split(':')[0] : undefined),
  )
}

async function runCallUntraced(
  call: ModelToolCall,
  byName: Map<string, ToolFunction>,
  options: ToolLoopOptions,
): Promise<ToolResultPart> {
  const report: ToolCallReport = {
    toolCallId: call.toolCallId,
    tool: call.toolName,
    arguments: redactArguments(call.input),
    status: 'started',
  }
  const started = Date.now()
  const answer = (output: ToolResultPart['output']): ToolResultPart => ({
    type: 'tool-result',
    toolCallId: call.toolCallId,
    toolName: call.toolName,
    output,
  })
  const failed = async (code: string, message: string) => {
    await options.onToolCall({
      ...report,
      status: 'failed',
      durationMs: Date.now() - started,
      error: { code, message },
    })
    return answer({ type: 'error-text', value: `${code}: ${message}` })
  }
  const fn = byName.get(call.toolName)
  if (!fn)
    return failed(
      'tool_unknown',
      `There is no tool "${call.toolName}". The tools you have: ${[...byName.keys()].join(', ')}.`,
    )
  if (call.invalid)
    return failed('tool_arguments_invalid', `The arguments were not valid JSON: ${call.invalid}`)
  const parsed = fn.input.safeParse(call.input)
  if (!parsed.success)
    return failed(
      'tool_arguments_invalid',
      `The arguments do not match ${fn.name}'s schema: ${parsed.error.issues
        .slice(0, 10)
        .map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`)
        .join('; ')}`,
    )
  await options.onToolCall(report)
  try {
    if (fn.sideEffects) await options.assertLease()
    const value = await fn.execute(parsed.data, options.context)
    const text = JSON.stringify(value ?? null)
    const limit = options.maxResultChars ?? 20_000
    await options.onToolCall({
      ...report,
      status: 'completed',
      durationMs: Date.now() - started,
      resultChars: text.length,
      result: text.length <= resultPreviewChars ? text : `${text.slice(0, resultPreviewChars)}…`,
      ...(typeof (value as { file?: unknown })?.file === 'string'
        ? { file: (value as { file: string }).file }
        : {}),
    })
    return answer(
      text.length <= limit
        ? { type: 'json', value: JSON.parse(text) }
        : {
            type: 'text',
            value: `${text.slice(0, limit)}\n[The result was ${text.length} characters; only the first ${limit} are shown. Ask for less, e.g. with selectors.]`,
          },
    )
  } catch (error) {
    // The run itself stopping (cancel, timeout, lost lease) ends the loop; a tool's failure does not.
    if (options.context.signal.aborted) throw options.context.signal.reason
    if (error instanceof ToolError || (error as { name?: string })?.name === 'ToolError')
      return failed((error as ToolError).code, (error as Error).message)
    if (error instanceof RunFailure) throw error
    return failed('tool_failed', error instanceof Error ? error.message : String(error))
  }
}

/** How much of a result the run log keeps for people. */
const resultPreviewChars = 2000

const secretName = /pass(word)?|secret|token|api[-_]?key|auth|cookie|credential|private/i

/** Arguments for the log: fields that look secret are redacted, long strings cut, depth bounded. */
export function redactArguments(value: unknown, depth = 0): unknown {
  if (typeof value === 'string')
    return value.length > 500 ? `${value.slice(0, 500)}… (${value.length} chars)` : value
  if (value === null || typeof value !== 'object') return value
  if (depth >= 4) return '[…]'
  if (Array.isArray(value)) return value.slice(0, 20).map((item) => redactArguments(item, depth + 1))
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 50)
      .map(([key, item]) => [key, secretName.test(key) ? '[redacted]' : redactArguments(item, depth + 1)]),
  )
}
