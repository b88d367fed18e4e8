import { describe, expect, it } from 'vitest'
import { type RunCodeInput, type RunCodeOptions, runCode } from './run-code.ts'
import { ToolError } from './tool-error.ts'

const signal = new AbortController().signal

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

  it('stops the code when the signal aborts while it runs, and rethrows the reason', async () => {
    // The code holds the thread, so no timer can call abort() during the run; this signal turns
    // aborted 100 ms into the run, which is what the interrupt handler polls.
    const reason = new Error('run cancelled')
    const abortsAt = performance.now() + 100
    const isAborted = () => performance.now() >= abortsAt
    const midRunSignal = {
      get aborted() {
        return isAborted()
      },
      reason,
      throwIfAborted() {
        if (isAborted()) throw reason
      },
    } as unknown as AbortSignal
    const started = performance.now()
    await expect(
      runCode({ code: 'while (true) {}' }, { signal: midRunSignal, timeoutMs: 5_000 }),
    ).rejects.toBe(reason)
    expect(performance.now() - started).toBeLessThan(1_000)
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
