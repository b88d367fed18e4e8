import type { ModelMessage, ToolResultPart } from 'ai'
import type { GenerateResult, ModelTool } from '../providers/provider.types.ts'
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
}

export interface ToolLoopResult {
  /** The model's final answer. */
  final: GenerateResult
  tokensIn: number
  tokensOut: number
  toolCalls: number
  rounds: number
}

export async function runToolLoop(options: ToolLoopOptions): Promise<ToolLoopResult> {
  const byName = new Map(options.functions.map((fn) => [fn.name, fn]))
  const tools = Object.fromEntries(
    options.functions.map((fn) => [fn.name, { description: fn.description, inputSchema: inputSchemaOf(fn) }]),
  )
  const messages: ModelMessage[] = [{ role: 'user', content: options.prompt }]
  let tokensIn = 0
  let tokensOut = 0
  let toolCalls = 0
  for (let round = 0; ; round++) {
    const result = await options.call({ messages, tools, round })
    tokensIn += result.tokensIn
    tokensOut += result.tokensOut
    if (result.toolCalls.length === 0) return { final: result, tokensIn, tokensOut, toolCalls, rounds: round }
    if (round >= options.maxIterations)
      throw new RunFailure(
        'tool_iterations_exceeded',
        `The model still asked for tools after ${options.maxIterations} round${options.maxIterations === 1 ? '' : 's'} of tool calls (${toolCalls} calls): the run stops here. Raise maxToolIterations, or make the prompt say when to stop.`,
        false,
      )
    options.context.signal.throwIfAborted()
    messages.push(...result.responseMessages)
    const results = await Promise.all(result.toolCalls.map((call) => runCall(call, byName, options)))
    toolCalls += results.length
    messages.push({ role: 'tool', content: results })
  }
}

async function runCall(
  call: GenerateResult['toolCalls'][number],
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
