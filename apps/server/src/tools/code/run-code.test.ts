import type { Worker } from 'node:worker_threads'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ToolError } from '../tool-error.ts'
import { closeCodeWorkers, type RunCodeInput, type RunCodeOptions, runCode } from './run-code.ts'

const signal = new AbortController().signal

// Every worker thread this file's process starts (Node reports each on `process`), and those gone.
const workers: Worker[] = []
const exited = new Set<Worker>()
const onWorker = (worker: Worker) => {
  workers.push(worker)
  worker.once('exit', () => exited.add(worker))
}
process.on('worker', onWorker)

beforeAll(async () => {
  // The first worker loads tsx and QuickJS (~0.5 s); the timing tests below should not pay for it.
  await runCode({ code: '0' }, { signal })
})

afterAll(async () => {
  await closeCodeWorkers()
  process.off('worker', onWorker)
})

const running = () => workers.filter((worker) => !exited.has(worker))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error('timed out waiting for the workers')
    await sleep(10)
  }
}

async function toolErrorOf(input: RunCodeInput, options: Partial<RunCodeOptions> = {}): Promise<ToolError> {
  const error = await runCode(input, { signal, ...options }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ToolError)
  return error as ToolError
}

describe('runCode', () => {
  it('returns the value of the last expression, computed from input', async () => {
    const run = await runCode(
      { code: 'const { a, b } = input\na * b + 1', input: { a: 6, b: 7 } },
      { signal },
    )
    expect(run.result).toBe(43)
    expect(run.logs).toEqual([])
    expect(run.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('returns objects as JSON and undefined as null', async () => {
    const object = await runCode(
      { code: '({ total: input.length, first: input[0] })', input: ['x'] },
      { signal },
    )
    expect(object.result).toEqual({ total: 1, first: 'x' })
    expect((await runCode({ code: 'let unused = 1' }, { signal })).result).toBeNull()
    expect((await runCode({ code: 'input' }, { signal })).result).toBeNull()
  })

  it('awaits a promise result', async () => {
    const run = await runCode(
      { code: '(async () => { await null; return input * 2 })()', input: 21 },
      { signal },
    )
    expect(run.result).toBe(42)
  })

  it('captures console lines, printing values as JSON', async () => {
    const run = await runCode(
      {
        code: 'console.log("sum", 1 + 2, { a: [1] }, undefined); console.error(new TypeError("bad")); "done"',
      },
      { signal },
    )
    expect(run.logs).toEqual(['sum 3 {"a":[1]} undefined', 'TypeError: bad'])
    expect(run.result).toBe('done')
  })

  it('keeps at most 100 log lines of at most 1,000 characters', async () => {
    const many = await runCode({ code: 'for (let i = 0; i < 150; i++) console.log(i); 1' }, { signal })
    expect(many.logs).toHaveLength(100)
    expect(many.logs[98]).toBe('98')
    expect(many.logs[99]).toBe('… 51 more lines not shown (at most 100 are kept)')

    const long = await runCode(
      { code: 'console.log("x".repeat(5000)); console.log("y".repeat(1000)); 1' },
      { signal },
    )
    expect(long.logs[0]).toHaveLength(1_000)
    expect(long.logs[0]?.endsWith('…')).toBe(true)
    expect(long.logs[1]).toBe('y'.repeat(1_000))
  })

  it('stops an endless loop with code_timeout soon after the time limit', async () => {
    const started = performance.now()
    const error = await toolErrorOf({ code: 'while (true) {}' }, { timeoutMs: 300 })
    const elapsed = performance.now() - started
    expect(error.code).toBe('code_timeout')
    expect(error.message).toMatch(/^The code was stopped after 0\.3 s/)
    expect(elapsed).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeLessThan(1_300)
  })

  it('reports the console output that came before a timeout', async () => {
    const error = await toolErrorOf({ code: 'console.log("started"); for (;;) {}' }, { timeoutMs: 200 })
    expect(error.code).toBe('code_timeout')
    expect(error.message).toContain('Last console output before it stopped:\nstarted')
  })

  it('stops a memory bomb with code_memory, and the next call runs normally', async () => {
    const error = await toolErrorOf({ code: "let a = []; while (true) a.push('x'.repeat(1e6))" })
    expect(error.code).toBe('code_memory')
    expect(error.message).toMatch(/^The code ran out of memory \(limit 32 MiB\)/)

    const other = await toolErrorOf({ code: 'let m = new Map(); for (let i = 0; ; i++) m.set(i, "v" + i)' })
    expect(other.code).toBe('code_memory')

    expect((await runCode({ code: '[1, 2, 3].map((n) => n * 2)' }, { signal })).result).toEqual([2, 4, 6])
  })

  it('lets the code use memory up to the limit', async () => {
    const run = await runCode(
      { code: 'const a = []; for (let i = 0; i < 20; i++) a.push(new Uint8Array(1e6).fill(i)); a.length' },
      { signal },
    )
    expect(run.result).toBe(20)
  })

  it.each([
    ['process', "ReferenceError: 'process' is not defined"],
    ['require("fs")', "ReferenceError: 'require' is not defined"],
    ['fetch("http://127.0.0.1/")', "ReferenceError: 'fetch' is not defined"],
    ['globalThis.process.exit(1)', "TypeError: cannot read property 'exit' of undefined"],
    ["import('fs')", "ReferenceError: could not load module 'fs'"],
    ["new Function('return process')()", "ReferenceError: 'process' is not defined"],
    ["eval('require')", "ReferenceError: 'require' is not defined"],
  ])('gives the code no way to the host: %s fails inside', async (code, message) => {
    const error = await toolErrorOf({ code })
    expect(error.code).toBe('code_error')
    expect(error.message).toContain(message)
  })

  it('offers only the language built-ins and console', async () => {
    const run = await runCode(
      {
        code: `['process', 'require', 'fetch', 'setTimeout', 'setInterval', 'queueMicrotask', 'XMLHttpRequest',
          'WebSocket', 'Deno', 'Bun', 'std', 'os', 'print', 'module', 'exports', '__dirname']
          .filter((name) => typeof globalThis[name] !== 'undefined')`,
      },
      { signal },
    )
    expect(run.result).toEqual([])
  })

  it('refuses a static import as a syntax error', async () => {
    const error = await toolErrorOf({ code: "import fs from 'fs'\nfs" })
    expect(error.code).toBe('code_error')
    expect(error.message).toContain('SyntaxError')
  })

  it('treats input as data, never as code', async () => {
    const hostile = '"); process.exit(1); ("'
    const run = await runCode({ code: 'input.text', input: { text: hostile } }, { signal })
    expect(run.result).toBe(hostile)
    expect((await runCode({ code: 'input', input: hostile }, { signal })).result).toBe(hostile)
  })

  it('rethrows the reason of a signal aborted before the call, without running the code', async () => {
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    controller.abort(reason)
    await expect(runCode({ code: 'while (true) {}' }, { signal: controller.signal })).rejects.toBe(reason)
  })

  it('stops the code when the signal aborts while it runs, rethrows the reason at once, and runs the next call', async () => {
    const controller = new AbortController()
    const reason = new Error('run cancelled')
    setTimeout(() => controller.abort(reason), 100)
    const started = performance.now()
    await expect(
      runCode({ code: 'while (true) {}' }, { signal: controller.signal, timeoutMs: 5_000 }),
    ).rejects.toBe(reason)
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(95)
    expect(elapsed).toBeLessThan(300)
    expect((await runCode({ code: '1 + 1' }, { signal })).result).toBe(2)
  })

  it.each([
    ['(function named() {})', 'is a function'],
    ['Symbol("s")', 'is a symbol'],
    ['const o = {}; o.self = o; o', 'circular reference'],
    ['10n', 'BigInt'],
  ])('refuses a result without a JSON form: %s', async (code, reason) => {
    const error = await toolErrorOf({ code })
    expect(error.code).toBe('code_result_invalid')
    expect(error.message).toContain(reason)
  })

  it('refuses a result above 1 MB of JSON', async () => {
    const error = await toolErrorOf({ code: '"é".repeat(600_000)' })
    expect(error.code).toBe('code_result_invalid')
    expect(error.message).toMatch(/larger than 1 MB/)
  })

  it('refuses a promise that never settles', async () => {
    const error = await toolErrorOf({ code: 'new Promise(() => {})' })
    expect(error.code).toBe('code_result_invalid')
    expect(error.message).toMatch(/never settles/)
  })

  it('reports a thrown error with its message and line', async () => {
    const error = await toolErrorOf({ code: 'const a = 1\n\nthrow new RangeError("too far: " + a)' })
    expect(error.code).toBe('code_error')
    expect(error.message).toBe(
      'The code threw RangeError: too far: 1 (line 3). Fix the code and run it again.',
    )
  })

  it('reports a rejected promise result and a thrown non-error', async () => {
    expect((await toolErrorOf({ code: 'Promise.reject(new TypeError("nope"))' })).message).toContain(
      'TypeError: nope',
    )
    expect((await toolErrorOf({ code: 'throw "plain"' })).message).toContain('The code threw plain.')
  })

  it('reports a syntax error, and explains that a top-level return is not the way to answer', async () => {
    expect((await toolErrorOf({ code: 'let x = ;' })).message).toContain('SyntaxError')
    const error = await toolErrorOf({ code: 'return 1' })
    expect(error.code).toBe('code_error')
    expect(error.message).toContain('end the code with the expression whose value you want')
  })

  it('contains deep recursion as a code_error', async () => {
    const error = await toolErrorOf({ code: 'function f() { return f() }\nf()' })
    expect(error.code).toBe('code_error')
    expect(error.message).toContain('stack overflow')
  })

  it('allows ordinary recursion depth', async () => {
    const run = await runCode(
      { code: 'function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1) }\ndepth(500)' },
      { signal },
    )
    expect(run.result).toBe(500)
  })

  it('contains nesting that overflows the native stack, and the next call runs normally', async () => {
    const nested = await toolErrorOf({ code: 'eval("(".repeat(1e5) + "1" + ")".repeat(1e5))' })
    expect(nested.code).toBe('code_error')
    expect(nested.message).toContain('stack overflow')
    const data = await toolErrorOf({ code: 'let a = []; for (let i = 0; i < 1e5; i++) a = [a]; a' })
    expect(data.code).toMatch(/^code_(error|result_invalid)$/)
    expect((await runCode({ code: '"still here"' }, { signal })).result).toBe('still here')
  })

  it('refuses code that is not a string or larger than 100 KB', async () => {
    expect((await toolErrorOf({ code: 42 } as unknown as RunCodeInput)).code).toBe('code_invalid')
    expect((await toolErrorOf(null as unknown as RunCodeInput)).code).toBe('code_invalid')
    const large = await toolErrorOf({ code: `"${'x'.repeat(100 * 1024)}"` })
    expect(large.code).toBe('code_invalid')
    expect(large.message).toMatch(/at most 100 KB/)
  })

  it('refuses input that is not JSON or too large', async () => {
    expect((await toolErrorOf({ code: 'input', input: { n: 1n } })).code).toBe('code_invalid')
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect((await toolErrorOf({ code: 'input', input: cyclic })).code).toBe('code_invalid')
    const large = await toolErrorOf({ code: 'input.length', input: 'x'.repeat(5 * 1024 * 1024) })
    expect(large.code).toBe('code_invalid')
  })

  it('keeps globals from one call out of the next', async () => {
    await runCode(
      { code: 'globalThis.leak = 1; Array.prototype.sum = function () { return 1 }; 0' },
      { signal },
    )
    const run = await runCode({ code: '[typeof leak, typeof [].sum]' }, { signal })
    expect(run.result).toEqual(['undefined', 'undefined'])
  })

  it('keeps its own JSON when the code replaces the global one', async () => {
    const run = await runCode(
      { code: 'JSON.stringify = () => "forged"; JSON.parse = null; ({ ok: true })' },
      { signal },
    )
    expect(run.result).toEqual({ ok: true })
  })

  it('frees every handle: 200 calls in a row, succeeding and failing, without a leak', async () => {
    for (let i = 0; i < 200; i++) {
      if (i % 4 === 3) {
        expect((await toolErrorOf({ code: `throw new Error("n${i}")` })).code).toBe('code_error')
      } else {
        const run = await runCode(
          { code: 'console.log(input.i); ({ double: input.i * 2 })', input: { i } },
          { signal },
        )
        expect(run.result).toEqual({ double: i * 2 })
      }
    }
  })
})

describe('runCode on worker threads', () => {
  it('keeps the main thread responsive while the code runs', async () => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    try {
      const error = await toolErrorOf({ code: 'while (true) {}' }, { timeoutMs: 300 })
      expect(error.code).toBe('code_timeout')
    } finally {
      clearInterval(timer)
    }
    expect(ticks).toBeGreaterThanOrEqual(10)
  })

  it('terminates the worker of an aborted run, and starts another when needed', async () => {
    const controller = new AbortController()
    const reason = new Error('stop')
    const run = runCode({ code: 'while (true) {}' }, { signal: controller.signal, timeoutMs: 5_000 })
    await sleep(100)
    const busy = running()
    const abortedAt = performance.now()
    controller.abort(reason)
    await expect(run).rejects.toBe(reason)
    expect(performance.now() - abortedAt).toBeLessThan(100)
    await until(() => running().length === busy.length - 1)
    const results = await Promise.all([
      runCode({ code: '"a"' }, { signal }),
      runCode({ code: '"b"' }, { signal }),
    ])
    expect(results.map((each) => each.result)).toEqual(['a', 'b'])
  })

  it('runs at most OPENORCH_CODE_WORKERS (default 2) sandboxes at once', async () => {
    const started = performance.now()
    const settled: number[] = []
    const calls = [0, 1, 2].map((n) =>
      toolErrorOf({ code: 'for (;;) {}' }, { timeoutMs: 300 }).then((error) => {
        expect(error.code).toBe('code_timeout')
        settled[n] = performance.now() - started
      }),
    )
    await sleep(100)
    expect(running().length).toBeLessThanOrEqual(2)
    await Promise.all(calls)
    expect(settled[2]).toBeGreaterThanOrEqual(590)
  })

  it('fails the call of a worker that dies with code_error, and the next call runs', async () => {
    const before = new Set(running())
    const run = toolErrorOf({ code: 'while (true) {}' }, { timeoutMs: 5_000 })
    await sleep(100)
    // Killed from outside: the pool did not ask for it, so it is a crash to the call.
    await Promise.all(running().map((worker) => worker.terminate()))
    const error = await run
    expect(error.code).toBe('code_error')
    expect(error.message).toMatch(/^The sandbox process failed/)
    expect(before.size).toBeGreaterThan(0)
    expect((await runCode({ code: '"alive"' }, { signal })).result).toBe('alive')
  })

  it('closeCodeWorkers() stops every worker, fails a running call, and the next call starts afresh', async () => {
    await Promise.all([runCode({ code: '1' }, { signal }), runCode({ code: '2' }, { signal })])
    expect(running().length).toBeGreaterThan(0)
    const run = toolErrorOf({ code: 'while (true) {}' }, { timeoutMs: 5_000 })
    await sleep(100)
    await closeCodeWorkers()
    expect(running()).toEqual([])
    expect((await run).code).toBe('code_error')
    expect((await runCode({ code: '"again"' }, { signal })).result).toBe('again')
    await closeCodeWorkers()
    expect(running()).toEqual([])
  })

  describe('with a pool of one worker', () => {
    let saved: string | undefined

    beforeEach(async () => {
      saved = process.env.OPENORCH_CODE_WORKERS
      process.env.OPENORCH_CODE_WORKERS = '1'
      await closeCodeWorkers()
      await runCode({ code: '0' }, { signal })
    })

    afterEach(async () => {
      if (saved === undefined) delete process.env.OPENORCH_CODE_WORKERS
      else process.env.OPENORCH_CODE_WORKERS = saved
      await closeCodeWorkers()
    })

    it('runs two calls one after the other, in the order they came', async () => {
      const order: string[] = []
      const started = performance.now()
      const first = toolErrorOf({ code: 'while (true) {}' }, { timeoutMs: 300 }).then((error) => {
        order.push(error.code)
      })
      const second = runCode({ code: '"second"' }, { signal }).then((run) => {
        order.push(run.result as string)
        return performance.now() - started
      })
      await sleep(100)
      expect(running().length).toBe(1)
      await first
      expect(await second).toBeGreaterThanOrEqual(295)
      expect(order).toEqual(['code_timeout', 'second'])
    })

    it('drops a waiting call whose signal aborts, without ever running it', async () => {
      const count = workers.length
      const first = toolErrorOf({ code: 'while (true) {}' }, { timeoutMs: 400 })
      const controller = new AbortController()
      const reason = new Error('no longer needed')
      const waiting = runCode({ code: 'while (true) {}' }, { signal: controller.signal, timeoutMs: 5_000 })
      await sleep(50)
      const abortedAt = performance.now()
      controller.abort(reason)
      await expect(waiting).rejects.toBe(reason)
      expect(performance.now() - abortedAt).toBeLessThan(100)
      expect((await first).code).toBe('code_timeout')
      // Had the aborted call reached the worker, this one would wait for its 5 s or a new worker.
      const next = performance.now()
      expect((await runCode({ code: '"next"' }, { signal })).result).toBe('next')
      expect(performance.now() - next).toBeLessThan(1_000)
      expect(workers.length).toBe(count)
    })

    it('rejects a call aborted while waiting for the worker to start', async () => {
      await closeCodeWorkers()
      const controller = new AbortController()
      const reason = new Error('gone')
      const run = runCode({ code: '1' }, { signal: controller.signal })
      controller.abort(reason)
      await expect(run).rejects.toBe(reason)
      // The worker it started serves the next call.
      expect((await runCode({ code: '"served"' }, { signal })).result).toBe('served')
    })
  })
})
