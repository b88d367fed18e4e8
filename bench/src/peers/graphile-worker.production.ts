// graphile-worker doing what a production bot run does at its core (issue 12): each job streams one
// chat completion from the same OpenAI-wire stand-in through the AI SDK and stores the answer with
// one INSERT; jobs of one bot share `queueName` (bot:<n>), graphile-worker's per-queue serialisation,
// as our runs share their bot's concurrency key. It does less than our run: no run log lines, no
// usage record, no events or live output, no memory of the last run.
// Usage: node bench/dist/peer-production.child.js <json options>
import { createRequire } from 'node:module'
import { createOpenAI } from '@ai-sdk/openai'
import { streamText } from 'ai'
import { type AddJobsJobSpec, Logger, makeWorkerUtils, run } from 'graphile-worker'
import { markCpu, reportCpu } from '../machine-cpu.ts'
import { dropSchema, nowMs, randomSuffix, round, withTimeout } from './peer-support.ts'

const require = createRequire(import.meta.url)
const { version } = require('graphile-worker/package.json') as { version: string }

const options = JSON.parse(process.argv[2] ?? '{}') as {
  databaseUrl: string
  runs: number
  bots: number
  batchSize: number
  concurrency: number
  baseUrl: string
  apiKey: string
}
const schema = `bench_gwp_${randomSuffix()}`
const shared = { connectionString: options.databaseUrl, schema, logger: new Logger(() => () => {}) }
const model = createOpenAI({ baseURL: options.baseUrl, apiKey: options.apiKey }).chat('gpt-4o-mini')

const utils = await makeWorkerUtils(shared)
await utils.migrate()
await utils.withPgClient((client) =>
  client.query(
    `CREATE TABLE ${client.escapeIdentifier(schema)}.bench_results (id bigserial PRIMARY KEY, bot int NOT NULL, output text NOT NULL, tokens int NOT NULL)`,
  ),
)
for (let first = 0; first < options.runs; first += options.batchSize) {
  const specs: AddJobsJobSpec[] = []
  for (let i = first; i < Math.min(first + options.batchSize, options.runs); i++)
    specs.push({
      identifier: 'bot_run',
      payload: { bot: i % options.bots },
      queueName: `bot:${i % options.bots}`,
    })
  await utils.addJobs(specs)
}
let completed = 0
let done: (() => void) | undefined
const finished = new Promise<void>((resolve) => {
  done = resolve
})
const cpuMark = markCpu()
const start = nowMs()
const runner = await run({
  ...shared,
  concurrency: options.concurrency,
  noHandleSignals: true,
  taskList: {
    bot_run: async (payload, helpers) => {
      const { bot } = payload as { bot: number }
      const result = streamText({ model, prompt: 'Look for new offers of Nike Air Max 90 under 40 €.' })
      const text = await result.text
      const usage = await result.usage
      await helpers.query(`INSERT INTO ${schema}.bench_results (bot, output, tokens) VALUES ($1, $2, $3)`, [
        bot,
        text,
        (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0),
      ])
      completed++
      if (completed === options.runs) done?.()
    },
  },
})
await withTimeout(finished, 1_200_000, 'all jobs to run')
const seconds = (nowMs() - start) / 1000
reportCpu('graphile-worker production', cpuMark, options.runs)
await runner.stop()
await utils.release()
await dropSchema(options.databaseUrl, schema)
process.stdout.write(
  `${JSON.stringify({
    name: `graphile-worker ${version}`,
    mode: 'production (queueName per bot)',
    runs: options.runs,
    seconds: round(seconds, 3),
    runsPerSecond: Math.round(options.runs / seconds),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
)
process.exit(0)
