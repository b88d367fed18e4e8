import { afterEach, describe, expect, it } from 'vitest'
import { WorkerPool, type WorkerPoolOptions } from './worker-pool.ts'

// Workers written inline (data: URLs), so each test decides how its worker misbehaves.
function workerUrl(source: string): URL {
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`)
}

// Answers `{ id, echo }`; `hang` holds the thread for ever, `exit` ends the worker.
const echoWorker = workerUrl(`
  import { parentPort } from 'node:worker_threads'
  parentPort.on('message', (request) => {
    if (request.hang) for (;;) {}
    if (request.exit) process.exit(3)
    parentPort.postMessage({ id: request.id, echo: request.value })
  })
  parentPort.postMessage({ type: 'ready' })
`)

interface Request {
  id: number
  value?: string
  hang?: boolean
  exit?: boolean
}
interface Reply {
  id: number
  echo: string
}

const signal = new AbortController().signal
const pools: WorkerPool<Request, Reply>[] = []
let nextId = 1

function newPool(options: Partial<WorkerPoolOptions> = {}): WorkerPool<Request, Reply> {
  const pool = new WorkerPool<Request, Reply>({
    size: 1,
    entry: echoWorker,
    name: 'test',
    crashed: (error, isStarting) => new Error(isStarting ? `did not start: ${error?.message}` : 'crashed'),
    closed: () => new Error('closed'),
    ...options,
  })
  pools.push(pool)
  return pool
}

function job(pool: WorkerPool<Request, Reply>, request: Omit<Request, 'id'>, watchdogMs = 5_000) {
  return pool.run(
    { id: nextId++, ...request },
    { signal, watchdogMs, onWatchdog: () => new Error('watchdog') },
  )
}

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error('timed out waiting for the pool')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()))
})

describe('WorkerPool', () => {
  it('starts workers lazily, reuses a warm one, and never runs more than its size', async () => {
    const pool = newPool({ size: 2 })
    expect(pool.stats()).toEqual({ workers: 0, busy: 0, waiting: 0 })
    expect((await job(pool, { value: 'a' })).echo).toBe('a')
    expect(pool.stats()).toEqual({ workers: 1, busy: 0, waiting: 0 })
    const replies = await Promise.all(['b', 'c', 'd', 'e'].map((value) => job(pool, { value })))
    expect(replies.map((reply) => reply.echo)).toEqual(['b', 'c', 'd', 'e'])
    expect(pool.stats().workers).toBe(2)
  })

  it('terminates a worker that misses its watchdog, and replaces it', async () => {
    const pool = newPool()
    const started = performance.now()
    await expect(job(pool, { hang: true }, 200)).rejects.toThrow('watchdog')
    expect(performance.now() - started).toBeLessThan(2_000)
    expect((await job(pool, { value: 'next' })).echo).toBe('next')
  })

  it('fails the job of a worker that exits, and replaces it', async () => {
    const pool = newPool()
    await expect(job(pool, { exit: true })).rejects.toThrow('crashed')
    expect((await job(pool, { value: 'next' })).echo).toBe('next')
  })

  it('fails the waiting jobs when a worker cannot start, instead of restarting it for ever', async () => {
    const pool = newPool({ entry: workerUrl(`throw new Error('broken entry')`) })
    await expect(job(pool, { value: 'a' })).rejects.toThrow('did not start: broken entry')
  })

  it('retires a worker whose reply says it is broken', async () => {
    const pool = newPool()
    const reply = await pool.run(
      { id: nextId++, value: 'last' },
      { signal, watchdogMs: 5_000, onWatchdog: () => new Error('watchdog'), retire: () => true },
    )
    expect(reply.echo).toBe('last')
    await until(() => pool.stats().workers === 0)
  })

  it('refuses jobs once closed, and fails those waiting', async () => {
    const pool = newPool()
    const running = job(pool, { hang: true })
    const waiting = job(pool, { value: 'never' })
    const failures = [expect(running).rejects.toThrow('closed'), expect(waiting).rejects.toThrow('closed')]
    await until(() => pool.stats().busy === 1)
    expect(pool.stats()).toEqual({ workers: 1, busy: 1, waiting: 1 })
    await pool.close()
    await Promise.all(failures)
    await expect(job(pool, { value: 'late' })).rejects.toThrow('closed')
    expect(pool.stats()).toEqual({ workers: 0, busy: 0, waiting: 0 })
  })

  it('refuses a size below one', () => {
    expect(() => newPool({ size: 0 })).toThrow(RangeError)
  })
})
