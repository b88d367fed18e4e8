import { existsSync } from 'node:fs'
import { ToolError } from '../tool-error.ts'
import {
  DEFAULT_MEMORY_BYTES,
  formatSize,
  type RunCodeResult,
  type SandboxLimits,
  type SandboxMessage,
  type SandboxRequest,
  timeoutMessage,
} from './run-code.protocol.ts'
import { WorkerPool } from './worker-pool.ts'

// The `run_code` tool: untrusted JavaScript in QuickJS compiled to WebAssembly (run-code.sandbox.ts),
// run in a small pool of worker threads so that a long run never holds the server's event loop (HTTP,
// lease heartbeats, the scheduler). The input is checked here, on the main thread; the worker runs the
// sandbox with its own time limit (QuickJS's interrupt handler) and memory limit (QuickJS's own and
// the WebAssembly memory's maximum). The main thread adds what the sandbox cannot do for itself: an
// abort terminates the worker mid-run, so does a watchdog when the worker misses the time limit by
// 2 s, and a worker that dies fails its call; a new worker replaces each one when a call needs it.
//
// OPENORCH_CODE_WORKERS (default 2) caps the sandboxes that run at once; further calls wait in order.
// A warm worker costs ~23 MB of RSS (measured on the bundle): its V8 isolate and the sandbox's
// WebAssembly memory, 16 MiB at first, growing with use up to 16 MiB + the call's memory limit.

export type { RunCodeResult } from './run-code.protocol.ts'

export interface RunCodeInput {
  /** JavaScript (a script, not a module), at most 100 KB. Its last expression is the result. */
  code: string
  /** Any JSON value, available to the code as the global `input`. */
  input?: unknown
}

export interface RunCodeOptions {
  signal: AbortSignal
  /** Default 5,000. */
  timeoutMs?: number
  /**
   * The sandbox's memory, default 32 MiB: QuickJS's own limit, and (as QuickJS does not count large
   * strings and buffers) the WebAssembly memory's maximum, 16 MiB for the engine plus this.
   */
  memoryBytes?: number
}

/** The tool description the model reads: what the result is and what the sandbox lacks. */
export const runCodeDescription = [
  'Runs JavaScript in an isolated sandbox (QuickJS) and returns the value of its last expression as JSON,',
  'like a REPL: end the code with the expression you want back (e.g. `input.items.filter(i => i.price > 10).length`);',
  'a top-level `return` is a syntax error. If that value is a promise (e.g. an async IIFE), it is awaited.',
  '`undefined` comes back as null; functions, symbols, BigInts and cyclic values are refused.',
  'The JSON you pass as `input` is available as the global `input`.',
  'console.log lines come back as `logs` (at most 100 lines of 1,000 characters).',
  'There is no network, file system, module system (`import`, `require`), timers, `process` or `fetch`.',
  'Limits: 5 s, 32 MiB of memory, 100 KB of code, 1 MB of result.',
].join(' ')

const DEFAULT_TIMEOUT_MS = 5_000
const MIN_MEMORY_BYTES = 1024 * 1024
const MAX_MEMORY_BYTES = 1024 * 1024 * 1024
const MAX_INPUT_BYTES = 4 * 1024 * 1024
const MAX_CODE_BYTES = 100 * 1024
const DEFAULT_WORKERS = 2
const MAX_WORKERS = 64
// How long past its time limit a worker may stay silent before it is terminated: the interrupt
// handler ends a run within milliseconds, so this only catches a run it could not stop.
const WATCHDOG_GRACE_MS = 2_000
// The worker's own V8 heap (the sandbox's memory is WebAssembly memory, outside it): the result and
// logs as host strings, the input's JSON text, QuickJS's bindings. The stack is 4 MB, where the
// sandbox's 192 KiB stack limit leaves a wide margin (run-code.sandbox.ts).
const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 }

let pool: WorkerPool<SandboxRequest, Exclude<SandboxMessage, { type: 'ready' }>> | undefined
/** Set from the configuration (OPENORCH_CODE_WORKERS, checked there) before the first call. */
let configuredWorkers: number | undefined

/** The sandboxes that may run at once, from the configuration; takes effect for a pool not yet started. */
export function configureCodeWorkers(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_WORKERS)
    throw new RangeError(`code workers must be an integer from 1 to ${MAX_WORKERS}, got ${count}`)
  configuredWorkers = count
}
let nextId = 1

/**
 * Runs `code` in a fresh QuickJS sandbox on a worker thread and returns the JSON of its last expression.
 * Throws a ToolError (code_invalid, code_timeout, code_memory, code_error, code_result_invalid),
 * or `signal.reason` when the signal aborts (at once, also while the code runs or waits for a worker).
 *
 * @example
 * const { result } = await runCode({ code: 'input.a + input.b', input: { a: 1, b: 2 } }, { signal })
 * // result === 3
 */
export async function runCode(input: RunCodeInput, options: RunCodeOptions): Promise<RunCodeResult> {
  const limits = checkOptions(options)
  options.signal.throwIfAborted()
  const { code, inputJson } = checkInput(input, limits)
  pool ??= createPool()
  const reply = await pool.run(
    { id: nextId++, code, inputJson, limits },
    {
      signal: options.signal,
      watchdogMs: limits.timeoutMs + WATCHDOG_GRACE_MS,
      onWatchdog: () => new ToolError('code_timeout', timeoutMessage(limits.timeoutMs)),
      retire: (message) => message.type === 'failure',
    },
  )
  if (reply.type === 'result') return reply.result
  if (reply.type === 'refusal') throw new ToolError(reply.code, reply.message)
  // A bug, or a broken WebAssembly module: the worker is gone, the error surfaces as it was thrown.
  const error = new Error(reply.message)
  error.name = reply.name
  throw error
}

/** Terminates every sandbox worker (shutdown, tests); calls still waiting or running fail with code_error. */
export async function closeCodeWorkers(): Promise<void> {
  const closing = pool
  pool = undefined
  await closing?.close()
}

function createPool(): NonNullable<typeof pool> {
  const { entry, execArgv } = workerEntry()
  return new WorkerPool({
    size: workerCount(),
    entry,
    ...(execArgv === undefined ? {} : { execArgv }),
    resourceLimits: WORKER_RESOURCE_LIMITS,
    name: 'run_code sandbox',
    crashed: (error, isStarting) =>
      isStarting
        ? new Error(`run_code: the sandbox worker did not start (${error?.message ?? 'it exited'})`, {
            cause: error,
          })
        : new ToolError(
            'code_error',
            'The sandbox process failed while running the code (it crashed or was stopped). ' +
              'Run the code again; if it fails again, make it do less work or use less memory.',
          ),
    closed: () => new ToolError('code_error', 'The sandbox was shut down before the code finished.'),
  })
}

// The bundle (scripts/build.mjs) puts the worker next to itself as dist/run-code.worker.js. From the
// sources (tsx, vitest) the worker is the TypeScript file next to this one, and needs tsx's loader:
// registered in the worker by a one-line --import (tsx's own `--import tsx` registers on the main
// thread only). A worker given execArgv no longer inherits the main thread's Node options.
function workerEntry(): { entry: URL; execArgv?: string[] } {
  const bundled = new URL('./run-code.worker.js', import.meta.url)
  if (existsSync(bundled)) return { entry: bundled }
  const tsx = import.meta.resolve('tsx/esm/api')
  const register = `import { register } from ${JSON.stringify(tsx)}; register()`
  return {
    entry: new URL('./run-code.worker.ts', import.meta.url),
    execArgv: ['--import', `data:text/javascript,${encodeURIComponent(register)}`],
  }
}

function workerCount(): number {
  if (configuredWorkers !== undefined) return configuredWorkers
  // Without a configuration (tests, a library use): the variable as it is now.
  const value = process.env.OPENORCH_CODE_WORKERS
  if (value === undefined || value === '') return DEFAULT_WORKERS
  const count = Number(value)
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_WORKERS) {
    throw new RangeError(`OPENORCH_CODE_WORKERS must be an integer from 1 to ${MAX_WORKERS}, got "${value}"`)
  }
  return count
}

function checkOptions(options: RunCodeOptions): SandboxLimits {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`runCode: timeoutMs must be a positive number, got ${timeoutMs}`)
  }
  if (
    !Number.isSafeInteger(memoryBytes) ||
    memoryBytes < MIN_MEMORY_BYTES ||
    memoryBytes > MAX_MEMORY_BYTES
  ) {
    throw new RangeError(`runCode: memoryBytes must be an integer from 1 MiB to 1 GiB, got ${memoryBytes}`)
  }
  return { timeoutMs, memoryBytes }
}

function checkInput(
  input: RunCodeInput,
  limits: SandboxLimits,
): { code: string; inputJson: string | undefined } {
  if (typeof input !== 'object' || input === null || typeof input.code !== 'string') {
    throw new ToolError('code_invalid', '`code` must be a string of JavaScript.')
  }
  const codeBytes = Buffer.byteLength(input.code, 'utf8')
  if (codeBytes > MAX_CODE_BYTES) {
    throw new ToolError(
      'code_invalid',
      `The code is ${formatSize(codeBytes)}; at most 100 KB is accepted. ` +
        'Send shorter code, and pass data through `input` instead of writing it into the code.',
    )
  }
  let inputJson: string | undefined
  try {
    inputJson = JSON.stringify(input.input)
  } catch (error) {
    throw new ToolError(
      'code_invalid',
      `\`input\` is not JSON (${(error as Error).message}). ` +
        'Pass plain objects, arrays, strings, numbers, booleans and null.',
    )
  }
  // The text is copied into the sandbox's memory before it is parsed there: it must leave room.
  const maxInputBytes = Math.min(MAX_INPUT_BYTES, limits.memoryBytes / 4)
  const inputBytes = inputJson === undefined ? 0 : Buffer.byteLength(inputJson, 'utf8')
  if (inputBytes > maxInputBytes) {
    throw new ToolError(
      'code_invalid',
      `\`input\` is ${formatSize(inputBytes)} of JSON; at most ${formatSize(maxInputBytes)} is accepted. Pass less data.`,
    )
  }
  return { code: input.code, inputJson }
}
