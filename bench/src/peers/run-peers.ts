/**
 * Runs the peer queues on the shared workload and prints a table.
 *
 *   node --import tsx bench/src/peers/run-peers.ts [--jobs 20000] [--batch-size 1000] [--concurrency 10]
 *     [--latency-samples 200] [--only graphile-worker|pg-boss] [--pgboss-work-batch-size 100]
 *     [--pgboss-latency-jitter-ms 500] [--json]
 *
 * Database: $BENCH_DATABASE_URL, else $DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
 */
import { parseArgs } from 'node:util'
import { runPeer as runGraphileWorker } from './graphile-worker.peer.ts'
import type { PeerOptions, PeerResult } from './peer.types.ts'
import { runPeer as runPgBoss } from './pg-boss.peer.ts'

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    'batch-size': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '10' },
    'latency-samples': { type: 'string', default: '200' },
    'pgboss-work-batch-size': { type: 'string' },
    'pgboss-latency-jitter-ms': { type: 'string' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})

const options: PeerOptions = {
  databaseUrl:
    process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  jobs: Number(values.jobs),
  batchSize: Number(values['batch-size']),
  concurrency: Number(values.concurrency),
  latencySamples: Number(values['latency-samples']),
}

function formatTable(results: readonly PeerResult[]): string {
  const header = ['peer', 'version', 'mode', 'jobs', 'seconds', 'jobs/s', 'p50 ms', 'p99 ms']
  const rows = results.map((r) => [
    r.name,
    r.version,
    r.mode,
    String(r.jobs),
    r.seconds.toFixed(3),
    r.jobsPerSecond.toFixed(1),
    r.latencyP50Ms === null ? '-' : r.latencyP50Ms.toFixed(2),
    r.latencyP99Ms === null ? '-' : r.latencyP99Ms.toFixed(2),
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)))
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

async function main(): Promise<void> {
  const results: PeerResult[] = []
  if (!values.only || values.only === 'graphile-worker') results.push(...(await runGraphileWorker(options)))
  if (!values.only || values.only === 'pg-boss') {
    const workBatchSize = values['pgboss-work-batch-size']
    const jitter = values['pgboss-latency-jitter-ms']
    results.push(
      await runPgBoss({
        ...options,
        ...(workBatchSize ? { workBatchSize: Number(workBatchSize) } : {}),
        ...(jitter ? { latencyJitterMs: Number(jitter) } : {}),
      }),
    )
  }
  if (values.json) {
    console.log(JSON.stringify(results, null, 2))
    return
  }
  console.log(
    `jobs=${options.jobs} batchSize=${options.batchSize} concurrency=${options.concurrency} ` +
      `latencySamples=${options.latencySamples}\n`,
  )
  console.log(formatTable(results))
  console.log('')
  for (const r of results) console.log(`${r.name} [${r.mode}]: ${r.notes}`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
