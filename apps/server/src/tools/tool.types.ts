import type { z } from 'zod'
import type { EgressPolicy } from '../platform/egress/egress.ts'

// A tool set is what a bot is given (`web`, `code`, …): named functions the model may call. The
// functions know nothing of bots or runs; what they may reach comes in the context (decision 0029).

/** What a function may use while it runs: the run's signal and the installation's egress rules. */
export interface ToolContext {
  tenantId: string
  runId: string
  /** Cancel, timeout, a lost lease: every fetch, sandbox and child process stops with it. */
  signal: AbortSignal
  egress: EgressPolicy
  /** The files of whoever the run is for (a bot's own space): the files tool set reads and writes here. */
  files?: FileSpace
  /**
   * Registers work for when this attempt of the run ends, however it ends (a stdio MCP server started
   * for the run is stopped). Absent: the caller keeps nothing open past the call.
   */
  atEnd?(cleanup: () => Promise<void>): void
}

/**
 * A file space (a bot's own): names are flat, checked, and quotas hold (in bytes, text or binary);
 * errors are ToolErrors. Files are text, or binary (a screenshot) written by a tool with writeBinary.
 */
export interface FileSpace {
  /** Newest first; `contentType` is `text/plain; charset=utf-8` for text, e.g. `image/png` otherwise. */
  list(): Promise<Array<{ name: string; size: number; updatedAt: number; contentType: string }>>
  /** A text file; a binary one is refused with `file_binary`, naming its type and size. */
  read(name: string): Promise<{ name: string; content: string; size: number; updatedAt: number }>
  write(name: string, content: string): Promise<{ name: string; size: number }>
  /** Creates or replaces a binary file; `contentType` a MIME type such as `image/png`. */
  writeBinary(name: string, bytes: Uint8Array, contentType: string): Promise<{ name: string; size: number }>
  /** Text only: appending to a binary file is refused with `file_binary`. */
  append(name: string, content: string): Promise<{ name: string; size: number }>
  delete(name: string): Promise<void>
}

export interface ToolFunction<Input = unknown> {
  /** Unique over all tool sets (`http_fetch`): the name the model calls. */
  name: string
  /** For the model: what it does, when to use it, what it returns. */
  description: string
  /** The arguments; validated before the call, their JSON Schema is what the model sees. */
  input: z.ZodType<Input>
  /**
   * The JSON Schema the model sees when it is not `input`'s own (an MCP server's tool brings its
   * schema; `input` then checks it). Absent: derived from `input`.
   */
  inputSchema?: Record<string, unknown>
  /** Every call waits for a person's approval (files_delete; MCP tools a server lists), whatever the policy. */
  requiresApproval?: boolean
  /** Acts outside the orchestrator (sends, writes, posts): the run's lease is presented first. */
  sideEffects?: boolean
  execute(input: Input, context: ToolContext): Promise<unknown>
}

export interface ToolSet {
  name: string
  description: string
  // biome-ignore lint/suspicious/noExplicitAny: each function has its own input type
  functions: ToolFunction<any>[]
  /** False while the workspace has not set the set up (a search provider); absent: always ready. */
  configured?(tenantId: string): Promise<boolean>
}

export { ToolError } from './tool-error.ts'
