import { type ResourceLimits, Worker } from 'node:worker_threads'

// A small pool of worker threads that each do one job at a time. Workers start when a job needs one
// (at most `size`, counting those still starting and those being stopped), stay warm between jobs,
// and keep the process alive only while they start or work. Jobs beyond `size` wait in FIFO order; a waiting
// job whose signal aborts leaves the queue at once. A running job's abort or watchdog terminates its
// worker (the only way to stop code that holds the worker's thread); the pool starts another when a
// job needs it.
//
// The protocol: a worker posts `{ type: 'ready' }` once it can take jobs, then one message carrying
// the job's `id` per job it is sent.

export interface WorkerPoolOptions {
  size: number
  entry: URL
  /** Node options of the workers; by default the main thread's. */
  execArgv?: string[]
  resourceLimits?: ResourceLimits
  name: string
  /**
   * The error of a job whose worker exited under it (crashed, killed from outside, out of memory), or
   * of the jobs waiting for a worker that exited before it was ready (`isStarting`).
   */
  crashed: (error: Error | undefined, isStarting: boolean) => Error
  /** The error of jobs still waiting or running when the pool closes. */
  closed: () => Error
}

export interface JobOptions<Reply> {
  signal: AbortSignal
  /** How long the worker may take to answer; then it is terminated and the job fails with `onWatchdog()`. */
  watchdogMs: number
  onWatchdog: () => Error
  /** Whether the worker that sent this reply is past trusting: it is terminated instead of reused. */
  retire?: (reply: Reply) => boolean
}

interface Slot {
  worker: Worker
  state: 'starting' | 'idle' | 'busy' | 'stopping'
  exited: Promise<void>
  /** The running job's handlers, while `busy` and the job is sent. */
  job: { id: number; settle: (reply: unknown) => void; fail: (error: unknown) => void } | undefined
  /** What the worker threw, reported by its `error` event just before `exit`. */
  error: Error | undefined
}

interface Waiter {
  resolve: (slot: Slot) => void
  reject: (error: unknown) => void
  signal: AbortSignal
  onAbort: () => void
}

export class WorkerPool<Request extends { id: number }, Reply extends { id: number }> {
  private readonly options: WorkerPoolOptions
  private readonly slots = new Set<Slot>()
  private readonly waiters: Waiter[] = []
  private isClosed = false

  constructor(options: WorkerPoolOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 1) {
      throw new RangeError(`WorkerPool: size must be a positive integer, got ${options.size}`)
    }
    this.options = options
  }

  /** Sends `request` to a free worker and resolves with its reply. Rejects with `signal.reason` on abort. */
  async run(request: Request, options: JobOptions<Reply>): Promise<Reply> {
    const { signal } = options
    const slot = await this.acquire(signal)
    return new Promise<Reply>((resolve, reject) => {
      if (signal.aborted) {
        this.release(slot)
        reject(signal.reason)
        return
      }
      const finish = () => {
        clearTimeout(watchdog)
        signal.removeEventListener('abort', onAbort)
        slot.job = undefined
      }
      const onAbort = () => {
        finish()
        this.stop(slot)
        reject(signal.reason)
      }
      const watchdog = setTimeout(() => {
        finish()
        this.stop(slot)
        reject(options.onWatchdog())
      }, options.watchdogMs)
      slot.job = {
        id: request.id,
        settle: (reply) => {
          finish()
          if (options.retire?.(reply as Reply)) this.stop(slot)
          else this.release(slot)
          resolve(reply as Reply)
        },
        fail: (error) => {
          finish()
          reject(error)
        },
      }
      signal.addEventListener('abort', onAbort, { once: true })
      slot.worker.postMessage(request)
    })
  }

  /** Terminates every worker; jobs still waiting or running fail with `closed()`. */
  async close(): Promise<void> {
    this.isClosed = true
    for (const waiter of this.waiters.splice(0)) {
      waiter.signal.removeEventListener('abort', waiter.onAbort)
      waiter.reject(this.options.closed())
    }
    const exits: Promise<void>[] = []
    for (const slot of this.slots) {
      slot.job?.fail(this.options.closed())
      this.stop(slot)
      exits.push(slot.exited)
    }
    await Promise.all(exits)
  }

  /** Workers alive (starting, idle, busy or being stopped) and jobs waiting for one. */
  stats(): { workers: number; busy: number; waiting: number } {
    let busy = 0
    for (const slot of this.slots) if (slot.state === 'busy') busy++
    return { workers: this.slots.size, busy, waiting: this.waiters.length }
  }

  private acquire(signal: AbortSignal): Promise<Slot> {
    signal.throwIfAborted()
    if (this.isClosed) throw this.options.closed()
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter)
          if (index >= 0) this.waiters.splice(index, 1)
          reject(signal.reason)
          // A worker started for this job now serves the next one, or waits idle.
        },
      }
      signal.addEventListener('abort', waiter.onAbort, { once: true })
      this.waiters.push(waiter)
      this.pump()
    })
  }

  private release(slot: Slot): void {
    slot.state = 'idle'
    slot.worker.unref()
    this.pump()
  }

  // Hands idle workers to waiting jobs, first come first served, and starts workers while jobs wait
  // for more than are starting and the pool has room.
  private pump(): void {
    while (this.waiters.length > 0 && !this.isClosed) {
      const idle = this.find('idle')
      if (idle !== undefined) {
        const waiter = this.waiters.shift()!
        waiter.signal.removeEventListener('abort', waiter.onAbort)
        idle.state = 'busy'
        idle.worker.ref()
        waiter.resolve(idle)
        continue
      }
      if (this.slots.size >= this.options.size || this.count('starting') >= this.waiters.length) return
      this.start()
    }
  }

  private start(): void {
    const worker = new Worker(this.options.entry, {
      name: this.options.name,
      ...(this.options.execArgv === undefined ? {} : { execArgv: this.options.execArgv }),
      ...(this.options.resourceLimits === undefined ? {} : { resourceLimits: this.options.resourceLimits }),
    })
    let onExit!: () => void
    const slot: Slot = {
      worker,
      state: 'starting',
      exited: new Promise<void>((resolve) => {
        onExit = resolve
      }),
      job: undefined,
      error: undefined,
    }
    this.slots.add(slot)
    worker.on('message', (message: { type?: string; id?: number }) => {
      if (message.type === 'ready') {
        if (slot.state === 'starting') this.release(slot)
      } else if (slot.job !== undefined && message.id === slot.job.id) {
        slot.job.settle(message)
      }
    })
    worker.on('error', (error) => {
      slot.error ??= error
    })
    worker.on('exit', () => {
      this.slots.delete(slot)
      const { state, job } = slot
      slot.state = 'stopping'
      slot.job = undefined
      onExit()
      if (state !== 'stopping') {
        const error = this.options.crashed(slot.error, state === 'starting')
        job?.fail(error)
        // A worker that cannot even start would be restarted for ever: the waiting jobs fail instead.
        if (state === 'starting') {
          for (const waiter of this.waiters.splice(0)) {
            waiter.signal.removeEventListener('abort', waiter.onAbort)
            waiter.reject(error)
          }
        }
      }
      this.pump()
    })
  }

  private stop(slot: Slot): void {
    if (slot.state === 'stopping') return
    slot.state = 'stopping'
    slot.job = undefined
    void slot.worker.terminate()
  }

  private find(state: Slot['state']): Slot | undefined {
    for (const slot of this.slots) if (slot.state === state) return slot
    return undefined
  }

  private count(state: Slot['state']): number {
    let count = 0
    for (const slot of this.slots) if (slot.state === state) count++
    return count
  }
}
