import {
  newQuickJSWASMModule,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSWASMModule,
  RELEASE_SYNC,
  Scope,
} from 'quickjs-emscripten'
import { ToolError } from '../tool-error.ts'
import {
  DEFAULT_MEMORY_BYTES,
  formatMib,
  type RunCodeErrorCode,
  type RunCodeResult,
  type SandboxLimits,
  timeoutMessage,
} from './run-code.protocol.ts'

// The sandbox itself, run inside a worker thread (run-code.worker.ts): every call gets a fresh QuickJS
// runtime and context with a memory limit, a stack limit and an interrupt handler (the time limit).
// The context has only the language's own built-ins: no module loader, no timers, no host objects.
// Two doors lead out, both carrying strings the host checks: `console.*` (one line per call) and the
// result (one JSON text). `input` goes in as JSON text and is parsed inside. The code runs
// synchronously on the worker's thread; the main thread stays free, and stops the worker when the
// caller aborts or the interrupt handler fails to end the run.

const MAX_RESULT_BYTES = 1024 * 1024
const MAX_LOG_LINES = 100
const MAX_LOG_LINE_CHARS = 1_000
// QuickJS checks its own stack (in WebAssembly memory), but every QuickJS frame is also a frame on
// this thread's native stack. 192 KiB leaves plain JS recursion (~1,000 calls deep) a 2x margin to a
// ~1 MB stack (Node's main thread; measured: contained at 256 KiB, native overflow at 384 KiB), and a
// wider one to the worker's 4 MB (stackSizeMb in run-code.ts). A few C paths (the parser, JSON of
// deeply nested data) use more native stack per byte and can still overflow the native stack first:
// that is caught below, reported as code_error, and the module is replaced.
const MAX_STACK_BYTES = 192 * 1024
// QuickJS's own limit counts small blocks but not the bytes of large strings, arrays and buffers
// (malloc_usable_size is 0 under Emscripten, quickjs-emscripten#255, #271): under a 32 MiB limit a
// run reached 2 GiB. So each module gets its own WebAssembly memory with a maximum: the engine's
// initial 16 MiB (code, stack, first heap) plus the limit. Past it malloc fails and QuickJS throws.
const ENGINE_BYTES = 16 * 1024 * 1024
const WASM_PAGE_BYTES = 64 * 1024
// Reading a thrown error after an out-of-memory needs room the code used up: a block taken before
// the code runs and freed before its error is read, and a little more of QuickJS's own limit.
const RESERVE_BYTES = 1024 * 1024
const ERROR_READING_HEADROOM_BYTES = 1024 * 1024
const FILENAME = 'code.js'
// A thrown value's description is read back only up to this size (its message is cut in the sandbox).
const MAX_THROWN_CHARS = 64 * 1024

// Evaluated before the user's code. Captures JSON before the code can replace it, installs `console`
// (formatting happens inside, under the limits; a long line is cut to one character more than the
// host keeps, so the host sees it was cut), and hands the host three helpers the code cannot reach.
const PRELUDE = `(function (hostLog) {
  'use strict'
  var stringify = JSON.stringify
  var parse = JSON.parse
  var toString = String
  var ErrorClass = Error
  function toText(value) {
    if (typeof value === 'string') return value
    try {
      if (value instanceof ErrorClass) return toString(value)
      var json = stringify(value)
      if (typeof json === 'string') return json
    } catch (error) {}
    try {
      return toString(value)
    } catch (error) {
      return '[value that cannot be printed]'
    }
  }
  function log() {
    var line = ''
    for (var i = 0; i < arguments.length; i++) line += (i > 0 ? ' ' : '') + toText(arguments[i])
    hostLog(line.length > ${MAX_LOG_LINE_CHARS} ? line.slice(0, ${MAX_LOG_LINE_CHARS + 1}) : line)
  }
  globalThis.console = { log: log, info: log, warn: log, error: log, debug: log }
  globalThis.input = undefined
  return {
    setInput: function (json) { globalThis.input = parse(json) },
    serialize: function (value) { return value === undefined ? 'null' : stringify(value) },
    describe: function (error) {
      var out = { message: '' }
      try {
        if (error !== null && (typeof error === 'object' || typeof error === 'function')) {
          if (typeof error.name === 'string') out.name = error.name.slice(0, 200)
          out.message = (typeof error.message === 'string' ? error.message : toText(error)).slice(0, 2000)
          if (typeof error.stack === 'string') out.stack = error.stack.slice(0, 2000)
        } else {
          out.message = toText(error).slice(0, 2000)
          if (error === null) out.isNull = true
        }
      } catch (ignored) {}
      return stringify(out)
    },
  }
})`

interface ThrownValue {
  name?: string
  message: string
  stack?: string
  /** QuickJS throws null when it cannot allocate even the out-of-memory error. */
  isNull?: boolean
}

// One WebAssembly module per memory size (in practice one per worker), instantiated on first use.
// Each call's runtime lives in its memory and is freed before the call returns; calls never overlap:
// a worker gets its next call only after it answered the last one.
const modules = new Map<number, Promise<QuickJSWASMModule>>()

function loadQuickJs(memoryBytes: number): Promise<QuickJSWASMModule> {
  let loading = modules.get(memoryBytes)
  if (loading === undefined) {
    const wasmMemory = new WebAssembly.Memory({
      initial: ENGINE_BYTES / WASM_PAGE_BYTES,
      maximum: Math.ceil((ENGINE_BYTES + memoryBytes) / WASM_PAGE_BYTES),
    })
    const started = newQuickJSWASMModule(newVariant(RELEASE_SYNC, { wasmMemory }))
    loading = started.catch((error: unknown) => {
      dropQuickJs(memoryBytes, started)
      throw error
    })
    modules.set(memoryBytes, loading)
  }
  return loading
}

function dropQuickJs(memoryBytes: number, loading: Promise<QuickJSWASMModule>): void {
  if (modules.get(memoryBytes) === loading) modules.delete(memoryBytes)
}

/** Loads the module for the default memory size ahead of the first call. */
export async function preloadSandbox(): Promise<void> {
  await loadQuickJs(DEFAULT_MEMORY_BYTES)
}

/**
 * Runs `code` (at most 100 KB, checked by the caller) in a fresh QuickJS sandbox and returns the JSON of
 * its last expression. Throws a ToolError (code_invalid, code_timeout, code_memory, code_error,
 * code_result_invalid); anything else is a bug or a broken module, and the caller retires the worker.
 */
export async function runInSandbox(
  code: string,
  inputJson: string | undefined,
  limits: SandboxLimits,
): Promise<RunCodeResult> {
  const loading = loadQuickJs(limits.memoryBytes)
  const module = await loading
  const run = new SandboxRun(limits)
  let isModuleBroken = false
  try {
    return run.execute(module, code, inputJson)
  } catch (error) {
    if (error instanceof ToolError && error.code === 'code_memory') {
      // QuickJS does not survive every failed allocation cleanly (it may throw null, and the
      // bindings write through a null pointer when their own malloc fails): start afresh.
      isModuleBroken = true
      dropQuickJs(limits.memoryBytes, loading)
    }
    if (error instanceof ToolError) throw error
    // Anything else came out of the WebAssembly module: Node's own stack overflow inside QuickJS's
    // C code, or an abort. Its memory may be half-updated, so it is dropped; the next call loads a
    // new one (and nothing here touches the old one again).
    isModuleBroken = true
    dropQuickJs(limits.memoryBytes, loading)
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw failure(
        'code_error',
        'The code nested too deeply (stack overflow): deep recursion, or deeply nested data or expressions. ' +
          'Use a loop instead of recursion, or flatten the data.',
        run.logs,
      )
    }
    throw error
  } finally {
    if (!isModuleBroken) {
      try {
        run.dispose()
      } catch (error) {
        // QuickJS aborts when a handle outlives its runtime: a bug here, and the module is unusable.
        dropQuickJs(limits.memoryBytes, loading)
        // biome-ignore lint/correctness/noUnsafeFinally: a leak must surface even over the run's own error
        throw error
      }
    }
  }
}

interface Helpers {
  setInput: QuickJSHandle
  serialize: QuickJSHandle
  describe: QuickJSHandle
}

// One call's runtime, context and handles. Every handle goes into `scope`, whose dispose frees them
// in reverse order: handles, then the context, then the runtime.
class SandboxRun {
  readonly logs: string[] = []
  stop: 'timeout' | undefined
  private logLineCount = 0
  private readonly scope = new Scope()
  private readonly startedAt = performance.now()
  private readonly limits: SandboxLimits

  constructor(limits: SandboxLimits) {
    this.limits = limits
  }

  execute(module: QuickJSWASMModule, code: string, inputJson: string | undefined): RunCodeResult {
    const deadline = this.startedAt + this.limits.timeoutMs
    const runtime = this.scope.manage(module.newRuntime())
    runtime.setMemoryLimit(this.limits.memoryBytes)
    runtime.setMaxStackSize(MAX_STACK_BYTES)
    // No loader at all: `import()` rejects with "could not load module".
    runtime.removeModuleLoader()
    runtime.setInterruptHandler(() => {
      if (this.stop === undefined && performance.now() > deadline) this.stop = 'timeout'
      return this.stop !== undefined
    })
    const ctx = this.scope.manage(runtime.newContext())
    const helpers = this.installPrelude(ctx)
    // Made inside (a host buffer copied in costs ~2 ms until V8 optimises the copy); only this handle holds it.
    const reserve = this.scope.manage(
      ctx.unwrapResult(ctx.evalCode(`new ArrayBuffer(${RESERVE_BYTES})`, 'reserve.js', { type: 'global' })),
    )
    const readThrown = (errorHandle: QuickJSHandle): ThrownValue | undefined => {
      if (reserve.alive) reserve.dispose()
      runtime.setMemoryLimit(this.limits.memoryBytes + ERROR_READING_HEADROOM_BYTES)
      try {
        return this.readThrown(ctx, helpers, errorHandle)
      } finally {
        runtime.setMemoryLimit(this.limits.memoryBytes)
      }
    }

    if (inputJson !== undefined) {
      const json = this.scope.manage(ctx.newString(inputJson))
      const parsed = ctx.callFunction(helpers.setInput, ctx.undefined, json)
      if (parsed.error) {
        const thrown = readThrown(this.scope.manage(parsed.error))
        this.throwIfStopped()
        if (isOutOfMemory(thrown)) {
          throw new ToolError(
            'code_invalid',
            `\`input\` does not fit in the sandbox's ${formatMib(this.limits.memoryBytes)} of memory. Pass less data.`,
          )
        }
        throw new ToolError(
          'code_invalid',
          `\`input\` could not be read in the sandbox: ${thrown?.message ?? ''}`,
        )
      }
      this.scope.manage(parsed.value)
    }

    const evaluated = ctx.evalCode(code, FILENAME, { type: 'global' })
    if (evaluated.error) throw this.codeFailure(readThrown(this.scope.manage(evaluated.error)))
    let value = this.scope.manage(evaluated.value)

    // Promise callbacks run after the script, as in any engine; a promise result is awaited.
    const jobs = runtime.executePendingJobs()
    if (jobs.error) throw this.codeFailure(readThrown(this.scope.manage(jobs.error)))
    const state = ctx.getPromiseState(value)
    if (state.type === 'pending') {
      throw failure(
        'code_result_invalid',
        'The code returned a promise that never settles. There are no timers or I/O here: ' +
          'compute the value synchronously, or await only promises the code resolves itself.',
        this.logs,
      )
    }
    if (state.type === 'rejected') throw this.codeFailure(readThrown(this.scope.manage(state.error)))
    if (!state.notAPromise) value = this.scope.manage(state.value)

    const serialized = ctx.callFunction(helpers.serialize, ctx.undefined, value)
    if (serialized.error) {
      const thrown = readThrown(this.scope.manage(serialized.error))
      this.throwIfStopped()
      if (isOutOfMemory(thrown)) throw this.memoryFailure()
      throw failure(
        'code_result_invalid',
        `The code's last value cannot be turned into JSON (${thrown?.message ?? 'unknown reason'}). ` +
          'End the code with plain data (objects, arrays, strings, numbers, booleans, null) without cycles or BigInts.',
        this.logs,
      )
    }
    const json = this.scope.manage(serialized.value)
    if (ctx.typeof(json) !== 'string') {
      throw failure(
        'code_result_invalid',
        `The code's last value is a ${ctx.typeof(value)}, which has no JSON form. ` +
          'End the code with plain data: objects, arrays, strings, numbers, booleans or null.',
        this.logs,
      )
    }
    const result = parseResult(ctx, json, this.logs)
    return { result, logs: this.finishLogs(), durationMs: Math.round(performance.now() - this.startedAt) }
  }

  dispose(): void {
    this.scope.dispose()
  }

  private installPrelude(ctx: QuickJSContext): Helpers {
    const hostLog = this.scope.manage(
      ctx.newFunction('hostLog', (line) => {
        this.logLineCount++
        if (this.logs.length < MAX_LOG_LINES && line !== undefined && ctx.typeof(line) === 'string') {
          this.logs.push(truncateLine(ctx.getString(line)))
        }
      }),
    )
    const prelude = this.scope.manage(
      ctx.unwrapResult(ctx.evalCode(PRELUDE, 'prelude.js', { type: 'global' })),
    )
    const helpers = this.scope.manage(ctx.unwrapResult(ctx.callFunction(prelude, ctx.undefined, hostLog)))
    return {
      setInput: this.scope.manage(ctx.getProp(helpers, 'setInput')),
      serialize: this.scope.manage(ctx.getProp(helpers, 'serialize')),
      describe: this.scope.manage(ctx.getProp(helpers, 'describe')),
    }
  }

  // Keeps 99 lines and says in the 100th how many more there were.
  private finishLogs(): string[] {
    if (this.logLineCount <= MAX_LOG_LINES) return this.logs
    const kept = this.logs.slice(0, MAX_LOG_LINES - 1)
    kept.push(`… ${this.logLineCount - kept.length} more lines not shown (at most ${MAX_LOG_LINES} are kept)`)
    return kept
  }

  private readThrown(
    ctx: QuickJSContext,
    helpers: Helpers,
    errorHandle: QuickJSHandle,
  ): ThrownValue | undefined {
    if (this.stop !== undefined) return undefined
    const described = ctx.callFunction(helpers.describe, ctx.undefined, errorHandle)
    if (described.error) {
      this.scope.manage(described.error)
      return undefined
    }
    const json = this.scope.manage(described.value)
    if (ctx.typeof(json) !== 'string' || (ctx.getLength(json) ?? 0) > MAX_THROWN_CHARS) return undefined
    try {
      return JSON.parse(ctx.getString(json)) as ThrownValue
    } catch {
      return undefined
    }
  }

  private codeFailure(thrown: ThrownValue | undefined): Error {
    this.throwIfStopped()
    if (isOutOfMemory(thrown)) return this.memoryFailure()
    if (thrown === undefined)
      return failure('code_error', 'The code threw a value that cannot be read.', this.logs)
    if (thrown.isNull) {
      return failure(
        'code_memory',
        `The code stopped without an error value: it most likely ran out of memory (limit ${formatMib(this.limits.memoryBytes)}), ` +
          'or it threw null. Work on less data at a time, and throw Error objects.',
        this.logs,
      )
    }
    const line = lineOf(thrown.stack)
    const where = line === undefined ? '' : ` (line ${line})`
    const what = thrown.name ? `${thrown.name}: ${thrown.message}` : thrown.message
    let hint = 'Fix the code and run it again.'
    if (thrown.message === 'stack overflow') {
      hint = 'The code nested too deeply: use a loop instead of deep recursion, or flatten the data.'
    } else if (thrown.message === 'return not in a function') {
      hint = 'A top-level `return` is not allowed: end the code with the expression whose value you want.'
    } else if (/could not load module/.test(thrown.message)) {
      hint = 'There is no module system here: write the code without imports.'
    }
    return failure('code_error', `The code threw ${what}${where}. ${hint}`, this.logs)
  }

  private memoryFailure(): ToolError {
    return failure(
      'code_memory',
      `The code ran out of memory (limit ${formatMib(this.limits.memoryBytes)}). ` +
        'Work on less data at a time, and avoid building very large strings or arrays.',
      this.logs,
    )
  }

  private throwIfStopped(): void {
    if (this.stop === 'timeout')
      throw failure('code_timeout', timeoutMessage(this.limits.timeoutMs), this.logs)
  }
}

function parseResult(ctx: QuickJSContext, json: QuickJSHandle, logs: string[]): unknown {
  const tooLarge = () =>
    failure(
      'code_result_invalid',
      'The result is larger than 1 MB of JSON. Return a summary, a count or the first items instead of everything.',
      logs,
    )
  // Characters never outnumber UTF-8 bytes: a long string is refused before it is copied out.
  if ((ctx.getLength(json) ?? 0) > MAX_RESULT_BYTES) throw tooLarge()
  const text = ctx.getString(json)
  if (Buffer.byteLength(text, 'utf8') > MAX_RESULT_BYTES) throw tooLarge()
  try {
    return JSON.parse(text)
  } catch {
    throw failure('code_result_invalid', 'The result is not valid JSON. Return plain data.', logs)
  }
}

function failure(code: RunCodeErrorCode, message: string, logs: string[]): ToolError {
  if (logs.length === 0) return new ToolError(code, message)
  const last = logs.slice(-10).join('\n')
  const shown = last.length > 2_000 ? `…${last.slice(-2_000)}` : last
  return new ToolError(code, `${message}\nLast console output before it stopped:\n${shown}`)
}

function isOutOfMemory(thrown: ThrownValue | undefined): boolean {
  return thrown?.name === 'InternalError' && thrown.message === 'out of memory'
}

function lineOf(stack: string | undefined): number | undefined {
  const match = stack?.match(/code\.js:(\d+)/)
  return match ? Number(match[1]) : undefined
}

function truncateLine(line: string): string {
  return line.length > MAX_LOG_LINE_CHARS ? `${line.slice(0, MAX_LOG_LINE_CHARS - 1)}…` : line
}
