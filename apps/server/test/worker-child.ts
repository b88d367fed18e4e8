// A worker in its own process, for the crash tests: SIGKILL, SIGSTOP/SIGCONT and multi-process claiming.
// Configured by the OPENORCH_CHILD environment variable (JSON); reports what it does as lines on stdout.
import pino from 'pino'
import type { Tables } from '../src/database.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { createTestKernel } from './kernel-harness.ts'

interface ChildConfig {
  location: { url?: string; sqlitePath?: string; schema?: string }
  workers: number
  concurrency: number
  leaseMs: number
  /** ms the `sleep` executor waits, ignoring its signal (a process frozen or slow mid-run). */
  sleepMs?: number
}

const config = JSON.parse(process.env.OPENORCH_CHILD ?? '{}') as ChildConfig
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`)
// Warnings (heartbeat refused, settlement refused) go to stdout as JSON so the parent can read them.
const log = pino({ level: 'warn' })

const database = await openDatabase<Tables>({
  ...config.location,
  poolSize: config.workers * config.concurrency + 4,
})
const kernels = Array.from({ length: config.workers }, () => {
  const kernel = createTestKernel(database, {
    log,
    worker: {
      concurrency: config.concurrency,
      leaseMs: config.leaseMs,
      pollIntervalMs: 50,
      onSettled: (run, settlement, accepted) =>
        say({ event: 'settled', runId: run.id, outcome: settlement.outcome, accepted, attempt: run.attempt }),
    },
  })
  kernel.executors.register('noop', async ({ run }) => {
    say({ event: 'executed', runId: run.id })
    return { output: null }
  })
  kernel.executors.register('sleep', async ({ run }) => {
    say({ event: 'started', runId: run.id, attempt: run.attempt, token: run.leaseToken })
    await new Promise((resolve) => setTimeout(resolve, config.sleepMs ?? 60_000))
    say({ event: 'executed', runId: run.id })
    return { output: `finished by ${process.pid}` }
  })
  return kernel
})
await Promise.all(kernels.map((kernel) => kernel.bus.ready()))
for (const kernel of kernels) kernel.start()
say({ event: 'ready', pid: process.pid })

process.on('SIGTERM', async () => {
  await Promise.all(kernels.map((kernel) => kernel.stop(5000)))
  await Promise.all(kernels.map((kernel) => kernel.bus.close()))
  await database.close()
  say({ event: 'stopped' })
  process.exit(0)
})
