// One peer cron measurement in its own process (so its peak RSS is its own). Prints one JSON line.
// Usage: node dist/cron.child.js <graphile-worker|pg-boss> <json CronPeerOptions>
import type { CronPeerOptions, CronPeerResult } from './cron.types.ts'
import { runCronPeer as runGraphileWorker } from './graphile-worker.cron.ts'
import { runCronPeer as runPgBoss } from './pg-boss.cron.ts'

const which = process.argv[2]
const options = JSON.parse(process.argv[3] ?? '{}') as CronPeerOptions
const run = which === 'graphile-worker' ? runGraphileWorker : which === 'pg-boss' ? runPgBoss : null
if (!run) throw new Error(`unknown peer ${which}`)
const result: Omit<CronPeerResult, 'peakRssMb'> = await run(options)
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024)
process.stdout.write(`${JSON.stringify({ ...result, peakRssMb })}\n`)
process.exit(0)
