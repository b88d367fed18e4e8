import type { RunLog } from '@openorch/contracts'

// A run's tool calls, from its log (one line per finished call: `tool <name> completed|failed`) and
// from the live feed (`run.tool_call`, as each call starts and ends), merged into one timeline.

export type LogEntry = RunLog['items'][number]

export type ToolCallStatus = 'started' | 'completed' | 'failed'

export interface ToolCall {
  toolCallId: string
  tool: string
  status: ToolCallStatus
  arguments: unknown
  durationMs?: number
  /** The full result's size; `result` is a preview of it (≤ 2,000 characters). */
  resultChars?: number
  result?: string
  error?: { code: string; message: string }
  /** A bot file the call made (a screenshot). */
  file?: string
}

export type TimelineItem =
  | { kind: 'log'; entry: LogEntry }
  | { kind: 'tool'; call: ToolCall; at?: string; attempt?: number; level?: LogEntry['level'] }
  | { kind: 'approval'; approvalId: string; tool: string; entry: LogEntry }

const toolLine = /^tool (\S+) (completed|failed)$/

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The tool call a log line reports, or undefined for any other line. */
export function toolCallOfLogEntry(entry: LogEntry): ToolCall | undefined {
  const matched = toolLine.exec(entry.message)
  const data = entry.data
  if (!matched || !data || typeof data.toolCallId !== 'string') return undefined
  const call: ToolCall = {
    toolCallId: data.toolCallId,
    tool: typeof data.tool === 'string' ? data.tool : matched[1]!,
    status: matched[2] as 'completed' | 'failed',
    arguments: data.arguments,
  }
  if (typeof data.durationMs === 'number') call.durationMs = data.durationMs
  if (typeof data.resultChars === 'number') call.resultChars = data.resultChars
  if (typeof data.result === 'string') call.result = data.result
  if (typeof data.file === 'string') call.file = data.file
  if (isRecord(data.error))
    call.error = { code: String(data.error.code ?? ''), message: String(data.error.message ?? '') }
  return call
}

/** A live-feed `run.tool_call` payload as a call, or undefined when it is not one. */
export function toolCallOfEvent(payload: Record<string, unknown>): ToolCall | undefined {
  const { toolCallId, tool, toolStatus } = payload
  if (typeof toolCallId !== 'string' || typeof tool !== 'string') return undefined
  if (toolStatus !== 'started' && toolStatus !== 'completed' && toolStatus !== 'failed') return undefined
  const call: ToolCall = { toolCallId, tool, status: toolStatus, arguments: payload.arguments }
  if (typeof payload.durationMs === 'number') call.durationMs = payload.durationMs
  return call
}

/**
 * The log as a timeline: tool-call lines become calls, "waiting for approval" lines name their
 * approval, every other line stays a line. Calls the live feed reported that the log does not have
 * yet (running, or just ended) come last, in the order they started.
 */
export function timelineOf(log: readonly LogEntry[], live: readonly ToolCall[] = []): TimelineItem[] {
  const items: TimelineItem[] = []
  const logged = new Set<string>()
  for (const entry of log) {
    const call = toolCallOfLogEntry(entry)
    if (call) {
      logged.add(call.toolCallId)
      items.push({ kind: 'tool', call, at: entry.at, attempt: entry.attempt, level: entry.level })
      continue
    }
    const approvalId = entry.data?.approvalId
    if (entry.message.startsWith('waiting for approval') && typeof approvalId === 'string') {
      const tool = typeof entry.data?.tool === 'string' ? entry.data.tool : ''
      items.push({ kind: 'approval', approvalId, tool, entry })
      continue
    }
    items.push({ kind: 'log', entry })
  }
  for (const call of live) if (!logged.has(call.toolCallId)) items.push({ kind: 'tool', call })
  return items
}

/** Arguments as people read them: JSON, indented; a string as it is. */
export function formatArguments(value: unknown): string {
  if (value === undefined) return ''
  if (typeof value === 'string') return value
  return JSON.stringify(value, null, 2) ?? ''
}

/**
 * Arguments as a list of name and value when they are a flat object of short values (what a person
 * checks before approving: `name: seen.json`); undefined when they need the JSON to be read.
 */
export function argumentRows(value: unknown): Array<[string, string]> | undefined {
  if (!isRecord(value)) return undefined
  const entries = Object.entries(value)
  if (entries.length === 0 || entries.length > 20) return undefined
  const rows: Array<[string, string]> = []
  for (const [name, v] of entries) {
    if (v === null || typeof v === 'number' || typeof v === 'boolean') rows.push([name, String(v)])
    else if (typeof v === 'string' && v.length <= 2000) rows.push([name, v])
    else return undefined
  }
  return rows
}
