// run_code's start-up and a trivial call (issue 13: under 20 ms p50), in its own process, against
// bare quickjs-emscripten in the same process. Prints one JSON line.
// Usage: node bench/dist/code.run.js <json options>
//
// ours cold: a fresh worker pool for each sample — a worker thread starts, loads QuickJS's
//   WebAssembly module, then runs the call (what the first call after start-up, or after a worker
//   was retired, costs).
// ours warm: calls on a started worker (each in a fresh QuickJS runtime and context, as always).
// peer cold: newQuickJSWASMModule() and a context on the main thread, then the eval.
// peer warm: a fresh runtime and context on a loaded module, then the eval — what the worker does
//   per call, without the thread hop, the input and result JSON, or the limits.

import { newQuickJSWASMModule } from 'quickjs-emscripten'
import { closeCodeWorkers, runCode } from '../../../apps/server/src/tools/code/run-code.ts'
import { type Summary, summarise } from './stats.ts'

export interface CodeOptions {
  samples: number
}

export interface CodeResult {
  oursColdMs: Summary
  oursWarmMs: Summary
  peerColdMs: Summary
  peerWarmMs: Summary
}

const options = JSON.parse(process.argv[2] ?? '{}') as CodeOptions
const signal = new AbortController().signal
const code = 'input.a + input.b'
const now = () => performance.now()

async function oursCold(): Promise<number> {
  await closeCodeWorkers()
  const start = now()
  const { result } = await runCode({ code, input: { a: 1, b: 2 } }, { signal })
  const ms = now() - start
  if (result !== 3) throw new Error(`run_code answered ${JSON.stringify(result)}`)
  return ms
}

async function oursWarm(): Promise<number> {
  const start = now()
  const { result } = await runCode({ code, input: { a: 1, b: 2 } }, { signal })
  const ms = now() - start
  if (result !== 3) throw new Error(`run_code answered ${JSON.stringify(result)}`)
  return ms
}

function evalIn(module: Awaited<ReturnType<typeof newQuickJSWASMModule>>): number {
  const runtime = module.newRuntime()
  runtime.setMemoryLimit(32 * 1024 * 1024)
  const context = runtime.newContext()
  const handle = context.unwrapResult(context.evalCode('const input = { a: 1, b: 2 }; input.a + input.b'))
  const value = context.getNumber(handle)
  handle.dispose()
  context.dispose()
  runtime.dispose()
  return value
}

async function peerCold(): Promise<number> {
  const start = now()
  const module = await newQuickJSWASMModule()
  const value = evalIn(module)
  const ms = now() - start
  if (value !== 3) throw new Error(`quickjs answered ${value}`)
  return ms
}

async function sample(fn: () => Promise<number>, count: number, warmUp = 3): Promise<Summary> {
  for (let i = 0; i < warmUp; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < count; i++) samples.push(await fn())
  return summarise(samples)
}

const coldCount = Math.max(10, Math.floor(options.samples / 5))
const oursColdMs = await sample(oursCold, coldCount, 1)
await oursWarm()
const oursWarmMs = await sample(oursWarm, options.samples)
await closeCodeWorkers()
const peerColdMs = await sample(peerCold, coldCount, 1)
const loaded = await newQuickJSWASMModule()
const peerWarmMs = await sample(async () => {
  const start = now()
  const value = evalIn(loaded)
  const ms = now() - start
  if (value !== 3) throw new Error(`quickjs answered ${value}`)
  return ms
}, options.samples)

const result: CodeResult = { oursColdMs, oursWarmMs, peerColdMs, peerWarmMs }
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
