// What the main thread and a sandbox worker say to each other (run-code.ts ↔ run-code.worker.ts), and
// the few texts both sides write. No QuickJS here: the main thread imports this file, never the sandbox.

export interface RunCodeResult {
  /** The JSON value of the code's last expression; `undefined` becomes `null`. */
  result: unknown
  /** `console.log` (and `info`, `warn`, `error`, `debug`) lines: at most 100, each at most 1,000 characters. */
  logs: string[]
  /** Wall time of the sandbox: runtime creation, the code, its result, teardown. */
  durationMs: number
}

/** The sandbox's default memory; the worker loads its module ahead of the first call. */
export const DEFAULT_MEMORY_BYTES = 32 * 1024 * 1024

export interface SandboxLimits {
  timeoutMs: number
  memoryBytes: number
}

/** Main thread → worker: one call. The input is already checked and turned into JSON text. */
export interface SandboxRequest {
  id: number
  code: string
  inputJson: string | undefined
  limits: SandboxLimits
}

/** Worker → main thread: `ready` once (QuickJS loaded), then one answer per request. */
export type SandboxMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: RunCodeResult }
  /** A ToolError: the code's own failure, with its code and the message for the model. */
  | { type: 'refusal'; id: number; code: string; message: string }
  /** Anything else came out of the sandbox (a bug, or a broken WebAssembly module): the worker is retired. */
  | { type: 'failure'; id: number; name: string; message: string }

export type RunCodeErrorCode =
  | 'code_timeout'
  | 'code_memory'
  | 'code_error'
  | 'code_invalid'
  | 'code_result_invalid'

export function timeoutMessage(timeoutMs: number): string {
  return (
    `The code was stopped after ${formatSeconds(timeoutMs)} (the time limit). ` +
    'Look for a loop that never ends, or do less work per call.'
  )
}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`
}

export function formatMib(bytes: number): string {
  return `${Number((bytes / (1024 * 1024)).toFixed(1))} MiB`
}

export function formatSize(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : formatMib(bytes)
}
