// One peer measurement in its own process (so its peak RSS is its own). Prints JSON lines.
// Usage: node --import tsx bench/src/peers/peer.child.ts <graphile-worker|pg-boss> <json PeerOptions>
import { runPeer as runGraphileWorker } from './graphile-worker.peer.ts'
import type { PeerOptions, PeerResult } from './peer.types.ts'
import { runPeer as runPgBoss } from './pg-boss.peer.ts'

const which = process.argv[2]
const options = JSON.parse(process.argv[3] ?? '{}') as PeerOptions
const results: PeerResult[] =
  which === 'graphile-worker'
    ? await runGraphileWorker(options)
    : which === 'pg-boss'
      ? [await runPgBoss(options)]
      : []
if (results.length === 0) throw new Error(`unknown peer ${which}`)
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024)
for (const result of results) process.stdout.write(`${JSON.stringify({ ...result, peakRssMb })}\n`)
process.exit(0)
