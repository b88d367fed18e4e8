import type { Db } from '../src/database.ts'
import { type Bus, createLocalBus, createPostgresBus } from '../src/platform/bus.ts'
import { type Clock, systemClock } from '../src/platform/clock.ts'
import { createRunKernel, type RunKernel, type RunKernelOptions } from '../src/runs/kernel.ts'
import { testLog } from './output-capture.ts'

export { testLog } from './output-capture.ts'

export function createBus(database: Db): Bus {
  if (database.dialect === 'sqlite') return createLocalBus()
  return createPostgresBus({
    pool: database.pool!,
    clientConfig: database.pgClientConfig!,
    namespace: database.schema,
    log: testLog,
  })
}

/** A kernel on `database` with test-friendly defaults (short lease, fast polling). */
export function createTestKernel(
  database: Db,
  overrides: Partial<Omit<RunKernelOptions, 'worker'>> & {
    worker?: Partial<RunKernelOptions['worker']>
  } = {},
): RunKernel & { bus: Bus; clock: Clock } {
  const bus = overrides.bus ?? createBus(database)
  const clock = overrides.clock ?? systemClock
  const kernel = createRunKernel({
    database,
    bus,
    clock,
    log: overrides.log ?? testLog,
    backpressure: overrides.backpressure ?? { warnPending: 1_000_000, dropPending: 1_000_000 },
    relayIntervalMs: overrides.relayIntervalMs ?? 200,
    ...(overrides.queueCheckIntervalMs !== undefined
      ? { queueCheckIntervalMs: overrides.queueCheckIntervalMs }
      : {}),
    ...(overrides.presenceIntervalMs !== undefined
      ? { presenceIntervalMs: overrides.presenceIntervalMs }
      : {}),
    worker: { concurrency: 4, leaseMs: 2000, pollIntervalMs: 100, ...overrides.worker },
  })
  return { ...kernel, bus, clock }
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, intervalMs = 20, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
