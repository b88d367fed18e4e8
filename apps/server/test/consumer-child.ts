// An event consumer in its own process, for the crash test: its handler writes inside the cursor's
// transaction, says which events it holds, and then hangs until the parent SIGKILLs the process, so
// the transaction never commits. Configured by OPENORCH_CHILD (JSON: location, consumer).
import pino from 'pino'
import type { Tables } from '../src/database.ts'
import { systemClock } from '../src/platform/clock.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { appendEventsIn } from '../src/runs/outbox.store.ts'
import { OutboxRelay } from '../src/runs/outbox-relay.ts'
import { createBus } from './kernel-harness.ts'

const config = JSON.parse(process.env.OPENORCH_CHILD ?? '{}') as {
  location: { url?: string; sqlitePath?: string; schema?: string }
  consumer: string
}
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`)

const database = await openDatabase<Tables>({ ...config.location, poolSize: 4 })
const bus = createBus(database)
const relay = new OutboxRelay({
  database,
  bus,
  clock: systemClock,
  log: pino({ level: 'warn' }),
  intervalMs: 20,
})
relay.consume(config.consumer, async (events, trx) => {
  // Written in the transaction that dies with the process: it must never be seen.
  await appendEventsIn(trx, [
    {
      tenantId: events[0]!.tenantId,
      runId: events[0]!.runId,
      type: 'test.uncommitted',
      payload: {},
      createdAt: Date.now(),
    },
  ])
  say({ event: 'handling', ids: events.map((event) => event.id) })
  await new Promise(() => {})
})
await bus.ready()
await relay.start()
say({ event: 'ready', pid: process.pid })
