// `npm run bench -- notify` (issue 14): completed bot runs notifying a webhook receiver and an SMTP
// server — deliveries per second end to end, completion → delivery latency in the burst and on an
// idle system, and what the channels cost the run engine (bot runs/s without and with them), on
// SQLite and PostgreSQL. The receivers (receivers.ts) and the OpenAI-wire stand-in run outside the
// measured process; each measurement (notify.run.ts) runs in its own process.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { sortedPercentile } from '../bench-place.ts'
import { bundle, dist, serverNodeFlags } from '../child.ts'
import type { NotifyMessage, NotifyOptions, NotifyResult } from './notify.run.ts'
import { type Arrivals, startReceivers } from './receivers.ts'

interface Latency {
  p50: number
  p99: number
  count: number
}

interface Row {
  result: NotifyResult
  burst: { webhook: Latency | null; email: Latency | null }
  idle: { webhook: Latency | null; email: Latency | null }
  missing: number
  repeats: number
  badSignatures: number
}

function runMeasurement(
  dialect: 'sqlite' | 'postgres',
  options: NotifyOptions,
  onSecret: (secret: string) => void,
): Promise<Extract<NotifyMessage, { type: 'result' }>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...serverNodeFlags, path.join(dist, 'notify.run.js'), dialect, JSON.stringify(options)],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    )
    let result: Extract<NotifyMessage, { type: 'result' }> | undefined
    child.on('message', (message: NotifyMessage) => {
      if (message.type === 'secret') onSecret(message.secret)
      else result = message
    })
    child.on('exit', (code) =>
      code === 0 && result ? resolve(result) : reject(new Error(`notify.run.js exited ${code}`)),
    )
  })
}

function latencies(
  arrivals: Map<string, number[]>,
  finished: ReadonlyArray<[string, number, 'burst' | 'idle']>,
  phase: 'burst' | 'idle',
): Latency | null {
  const values = finished
    .filter(([, , p]) => p === phase)
    .flatMap(([id, finishedAt]) => {
      const at = arrivals.get(id)?.[0]
      return at === undefined ? [] : [at - finishedAt]
    })
    .sort((a, b) => a - b)
  if (values.length === 0) return null
  return { p50: sortedPercentile(values, 50), p99: sortedPercentile(values, 99), count: values.length }
}

export async function runNotifySuite(options: {
  databaseUrl: string
  runs: number
  bots: number
  batchSize: number
  concurrency: number
  idleSamples: number
  /** Bot runs of the measurement with the worker as shipped (`poll`): it delivers ~1 per second per channel. */
  pollRuns: number
  /**
   * sqlite, postgres (databases); none, channels (without / with the two channels, the worker nudged
   * after every settlement); poll (with the two channels, the worker as shipped).
   */
  only: string[] | null
}): Promise<void> {
  const here = import.meta.dirname
  await bundle({ 'notify.run': path.join(here, 'notify.run.ts') })
  const apiKey = 'sk-bench-notify-0123456789'
  const standIn = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, '..', 'engine', 'stand-in.child.ts'), apiKey],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const baseUrl = await new Promise<string>((resolve) =>
    standIn.stdout.once('data', (chunk) => resolve(String(chunk).trim())),
  )
  const receivers = await startReceivers()
  const picked = (values: string[]) => {
    const listed = values.filter((value) => options.only?.includes(value))
    return listed.length > 0 ? listed : values
  }
  const rows: Row[] = []
  try {
    for (const dialect of picked(['sqlite', 'postgres']) as Array<'sqlite' | 'postgres'>) {
      for (const mode of picked(['none', 'channels', 'poll'])) {
        const channels = mode !== 'none'
        const wake = mode === 'poll' ? 'poll' : 'settle'
        const runs = mode === 'poll' ? options.pollRuns : options.runs
        process.stderr.write(
          `… ${dialect} ${channels ? 'with a webhook and an e-mail channel' : 'without channels'}, ${runs} runs, wake on ${wake}\n`,
        )
        const arrivals: Arrivals = receivers.reset()
        const { result, finished } = await runMeasurement(
          dialect,
          {
            runs,
            bots: options.bots,
            batchSize: options.batchSize,
            concurrency: options.concurrency,
            channels,
            wake,
            idleSamples: channels ? options.idleSamples : 0,
            databaseUrl: options.databaseUrl,
            baseUrl,
            apiKey,
            webhookUrl: receivers.webhookUrl,
            smtpPort: receivers.smtpPort,
          },
          receivers.setSecret,
        )
        let missing = 0
        let repeats = 0
        if (channels)
          for (const [id] of finished)
            for (const map of [arrivals.webhook, arrivals.email]) {
              const count = map.get(id)?.length ?? 0
              if (count === 0) missing++
              else repeats += count - 1
            }
        rows.push({
          result,
          burst: {
            webhook: latencies(arrivals.webhook, finished, 'burst'),
            email: latencies(arrivals.email, finished, 'burst'),
          },
          idle: {
            webhook: latencies(arrivals.webhook, finished, 'idle'),
            email: latencies(arrivals.email, finished, 'idle'),
          },
          missing,
          repeats,
          badSignatures: arrivals.badSignatures,
        })
      }
    }
  } finally {
    await receivers.close()
    standIn.stdin.end()
  }

  const ms = (latency: Latency | null) =>
    latency === null ? '–' : `${latency.p50.toFixed(1)} / ${latency.p99.toFixed(1)}`
  const seconds = (latency: Latency | null) =>
    latency === null ? '–' : `${(latency.p50 / 1000).toFixed(1)} / ${(latency.p99 / 1000).toFixed(1)}`
  const lines = [
    `Workload: bot runs over ${options.bots} bots (each with its bot's concurrency key), enqueued in batches of ${options.batchSize} before the worker starts, drained with concurrency ${options.concurrency} and the product's claim/settle/poll defaults; provider: a local OpenAI-wire stand-in without delay. With channels, every bot is linked (rule \`always\`, format \`short\`) to a webhook channel (local node:http receiver verifying each signature) and an e-mail channel (local \`smtp-server\`, no TLS): two notifications per run. Worker woken by: \`poll\` = as shipped; \`settle\` = the bench also nudges the worker after every settlement. Idle latency: ${options.idleSamples} single runs after the burst, one at a time.`,
    '',
    '| database | channels | worker woken by | bot runs | bot runs/s | notifications delivered/s (end to end) | last bot run → last delivery s | latency p50 / p99 s, burst: webhook | e-mail | latency p50 / p99 ms, idle: webhook | e-mail | peak RSS MB |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (row) =>
        `| ${row.result.name} | ${row.result.channels ? 'webhook + e-mail' : 'none'} | ${row.result.wake} | ${row.result.runs} | ${row.result.botRunsPerSecond} | ${row.result.notificationsPerSecond ?? '–'} | ${row.result.tailSeconds ?? '–'} | ${seconds(row.burst.webhook)} | ${seconds(row.burst.email)} | ${ms(row.idle.webhook)} | ${ms(row.idle.email)} | ${row.result.peakRssMb} |`,
    ),
    '',
  ]
  for (const name of ['SQLite', 'PostgreSQL']) {
    const pair = (channels: boolean) =>
      rows.find(
        (row) => row.result.name === name && row.result.channels === channels && row.result.wake === 'settle',
      )
    const without = pair(false)
    const withChannels = pair(true)
    if (without && withChannels)
      lines.push(
        `- ${name}: bot runs/s with the two channels ÷ without: ${(withChannels.result.botRunsPerSecond / without.result.botRunsPerSecond).toFixed(2)}×; the whole burst (${withChannels.result.runs} bot runs and their notifications) took ${withChannels.result.allSeconds} s against ${without.result.botSeconds} s for the bot runs alone without channels.`,
      )
  }
  for (const row of rows.filter((r) => r.result.channels))
    lines.push(
      `- ${row.result.name}, woken by ${row.result.wake}: ${row.result.notifications} notifications, missing ${row.missing}, repeated ${row.repeats}, bad signatures ${row.badSignatures}, failed ${row.result.failedNotifications}.`,
    )
  process.stdout.write(`${lines.join('\n')}\n`)
}
