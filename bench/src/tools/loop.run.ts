// The tool loop's own cost per tool call (issue 13: under 2 ms p50), in its own process. Prints one
// JSON line. Usage: node bench/dist/loop.run.js <loop|sqlite|postgres> <json options>
//
// `loop`: runToolLoop alone (tools/tool-loop.ts) with a model that answers at once (a scripted
//   GenerateResult) and a no-op tool: argument validation, the run-log reports, the result's JSON and
//   the growing conversation.
// `sqlite` / `postgres`: real bot runs through the kernel and the bot executor against the
//   OpenAI-wire stand-in, each run 25 rounds of one no-op call: everything the orchestrator does
//   per call besides the tool and the model — the run-log line and live event, the usage record and
//   budget check of the next model call, the lease presented before it.
// Either way a call's overhead is the time between the model's answer asking for the call and the
// next model request, minus the tool's own time; the model's time (HTTP to the stand-in, the AI SDK
// reading the stream) is outside it.

import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ModelMessage } from 'ai'
import BetterSqlite from 'better-sqlite3'
import pg from 'pg'
import pino from 'pino'
import { z } from 'zod'
import { botProvidersOf } from '../../../apps/server/src/bots/bot-providers.ts'
import { createBots } from '../../../apps/server/src/bots/bots.ts'
import type { Tables } from '../../../apps/server/src/database.ts'
import { migrations } from '../../../apps/server/src/migrations/index.ts'
import { createLocalBus, createPostgresBus } from '../../../apps/server/src/platform/bus.ts'
import { systemClock } from '../../../apps/server/src/platform/clock.ts'
import { createVault } from '../../../apps/server/src/platform/crypto.ts'
import { openDatabase } from '../../../apps/server/src/platform/db/database.ts'
import { migrateToLatest } from '../../../apps/server/src/platform/db/migrator.ts'
import { createEgressPolicy, parseEgressAllow } from '../../../apps/server/src/platform/egress/egress.ts'
import { tuneHeapForServer } from '../../../apps/server/src/platform/heap.ts'
import { createProviderService } from '../../../apps/server/src/providers/provider.service.ts'
import type { GenerateResult } from '../../../apps/server/src/providers/provider.types.ts'
import { defaultQuotas } from '../../../apps/server/src/quotas/quotas.ts'
import { createRunKernel } from '../../../apps/server/src/runs/kernel.ts'
import { createSchedules } from '../../../apps/server/src/schedules/schedules.ts'
import type { ToolFunction } from '../../../apps/server/src/tools/tool.types.ts'
import { runToolLoop } from '../../../apps/server/src/tools/tool-loop.ts'
import { ToolRegistry } from '../../../apps/server/src/tools/tool-registry.ts'
import { startProviderServer } from '../../../apps/server/test/provider-servers/index.ts'
import { removeBenchPlace } from '../bench-place.ts'
import { type Summary, summarise } from './stats.ts'

export interface LoopOptions {
  runs: number
  rounds: number
  databaseUrl: string
}

export interface LoopResult {
  mode: string
  calls: number
  /** Per call, ms: what the loop (and the executor) spend, without tool and model. */
  overheadMs: Summary
  /** Per call, ms: the tool's own time and the model's (for scale). */
  toolMs: Summary
  modelMs: Summary
  /** Database statements per tool call (all of a run's, divided by its calls); bot runs only. */
  queriesPerCall?: number
}

// Every statement the server sends, counted: SQLite prepares each query (Kysely's dialect), PostgreSQL
// sends each through a pg client.
let queries = 0
const prepare = BetterSqlite.prototype.prepare
BetterSqlite.prototype.prepare = function (this: BetterSqlite.Database, source: string) {
  queries++
  return prepare.call(this, source)
} as typeof prepare
const query = pg.Client.prototype.query
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  queries++
  return (query as (...a: unknown[]) => unknown).apply(this, args)
} as typeof query

const mode = process.argv[2] as 'loop' | 'sqlite' | 'postgres'
const options = JSON.parse(process.argv[3] ?? '{}') as LoopOptions
const now = () => performance.now()

/** Timestamps of each model call and each tool call, in order. */
interface Trace {
  model: Array<{ start: number; end: number }>
  tool: Array<{ start: number; end: number }>
}

function noopTool(trace: Trace): ToolFunction<{ query: string; page: number }> {
  return {
    name: 'lookup',
    description: 'Looks up offers (does nothing; the benchmark measures the loop around it).',
    input: z.strictObject({ query: z.string().max(200), page: z.number().int().min(1).max(100) }),
    async execute(input) {
      const start = now()
      const result = { query: input.query, page: input.page, offers: [{ id: `o${input.page}`, price: 35 }] }
      trace.tool.push({ start, end: now() })
      return result
    },
  }
}

/** Per round k: the gap from model answer k to model request k+1, minus tool call k. */
function overheads(trace: Trace): number[] {
  const gaps: number[] = []
  for (let k = 0; k + 1 < trace.model.length; k++) {
    const tool = trace.tool[k]!
    gaps.push(trace.model[k + 1]!.start - trace.model[k]!.end - (tool.end - tool.start))
  }
  return gaps
}

async function loopAlone(): Promise<LoopResult> {
  const samples: number[] = []
  const toolMs: number[] = []
  const modelMs: number[] = []
  for (let run = 0; run < options.runs + 2; run++) {
    const trace: Trace = { model: [], tool: [] }
    const fn = noopTool(trace)
    await runToolLoop({
      prompt: 'Look for new offers of Nike Air Max 90 under 40 €.',
      functions: [fn as ToolFunction],
      context: {
        tenantId: 'default',
        runId: 'bench',
        signal: new AbortController().signal,
        egress: createEgressPolicy([]),
      },
      maxIterations: options.rounds,
      async call({ round }): Promise<GenerateResult> {
        const start = now()
        const last = round >= options.rounds
        const toolCallId = `call_${round}`
        const input = { query: 'Nike Air Max 90', page: round + 1 }
        const result: GenerateResult = {
          text: last ? 'Two new offers.' : '',
          tokensIn: 12,
          tokensOut: 5,
          model: 'gpt-4o-mini',
          finishReason: last ? 'stop' : 'tool-calls',
          toolCalls: last ? [] : [{ toolCallId, toolName: 'lookup', input }],
          responseMessages: last
            ? []
            : [
                {
                  role: 'assistant',
                  content: [{ type: 'tool-call', toolCallId, toolName: 'lookup', input }],
                } satisfies ModelMessage,
              ],
        }
        trace.model.push({ start, end: now() })
        return result
      },
      assertLease: async () => {},
      onToolCall: () => {},
    })
    // The first two conversations warm the JIT up.
    if (run < 2) continue
    samples.push(...overheads(trace))
    toolMs.push(...trace.tool.map((t) => t.end - t.start))
    modelMs.push(...trace.model.map((t) => t.end - t.start))
  }
  return {
    mode: 'runToolLoop alone',
    calls: samples.length,
    overheadMs: summarise(samples),
    toolMs: summarise(toolMs),
    modelMs: summarise(modelMs),
  }
}

async function botRuns(dialect: 'sqlite' | 'postgres'): Promise<LoopResult> {
  tuneHeapForServer()
  const log = pino({ level: 'silent' })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openorch-bench-tools-'))
  const schema = `bench_tools_${randomBytes(4).toString('hex')}`
  const location =
    dialect === 'sqlite'
      ? { sqlitePath: path.join(dir, 'bench.db'), sqliteSynchronous: 'NORMAL' as const }
      : { url: options.databaseUrl, schema }
  const database = await openDatabase<Tables>({ ...location, poolSize: 6 })
  await migrateToLatest(database.db, dialect, migrations)
  const bus =
    dialect === 'sqlite'
      ? createLocalBus()
      : createPostgresBus({
          pool: database.pool!,
          clientConfig: database.pgClientConfig!,
          namespace: schema,
          log,
        })
  await bus.ready()
  let settled: (() => void) | undefined
  const kernel = createRunKernel({
    database,
    bus,
    clock: systemClock,
    log,
    backpressure: { warnPending: Number.MAX_SAFE_INTEGER, dropPending: Number.MAX_SAFE_INTEGER },
    worker: {
      concurrency: 1,
      leaseMs: 30_000,
      pollIntervalMs: 1000,
      onSettled: (_run, settlement) => {
        if (settlement.outcome !== 'completed') process.stderr.write(`run settled as ${settlement.outcome}\n`)
        settled?.()
      },
    },
  })
  const apiKey = 'sk-bench-0123456789abcdef'
  const model = await startProviderServer('openai', { apiKey, models: ['gpt-4o-mini'], chunkDelayMs: 0 })
  const vault = createVault({ dataDir: dir })
  const providers = createProviderService({
    database,
    clock: systemClock,
    log,
    vault,
    egress: createEgressPolicy(parseEgressAllow('127.0.0.1')),
  })
  await providers.configure('default', 'openai', {
    apiKey,
    baseUrl: model.baseUrl,
    defaultModel: 'gpt-4o-mini',
  })
  let trace: Trace = { model: [], tool: [] }
  const registry = new ToolRegistry()
  registry.register({
    name: 'bench',
    description: 'A no-op tool.',
    functions: [
      noopTool({
        get model() {
          return trace.model
        },
        get tool() {
          return trace.tool
        },
      }),
    ],
  })
  const access = botProvidersOf(providers)
  const bots = createBots({
    database,
    schedules: createSchedules({ database, bus, clock: systemClock, log, runs: kernel.runs }),
    bus,
    clock: systemClock,
    log,
    kernel,
    tools: { registry, egress: createEgressPolicy([]) },
    providers: {
      ...access,
      async generate(credentials, request) {
        const start = now()
        const result = await access.generate(credentials, request)
        trace.model.push({ start, end: now() })
        return result
      },
    },
    quotas: { ...defaultQuotas, dailyBudgetUsd: null },
  })
  const bot = await bots.service.create('default', {
    name: 'Scout',
    prompt: 'Look for new offers of Nike Air Max 90 under 40 €.',
    provider: 'openai',
    tools: ['bench'],
    maxToolIterations: options.rounds,
  })
  kernel.start()
  const samples: number[] = []
  const toolMs: number[] = []
  const modelMs: number[] = []
  let measuredQueries = 0
  for (let run = 0; run < options.runs + 2; run++) {
    trace = { model: [], tool: [] }
    const queriesBefore = queries
    model.requests.splice(0)
    model.setBehaviour({
      type: 'script',
      steps: [
        ...Array.from({ length: options.rounds }, (_, k) => ({
          type: 'tool_calls' as const,
          calls: [{ id: `call_${k}`, name: 'lookup', arguments: { query: 'Nike Air Max 90', page: k + 1 } }],
        })),
        { type: 'success' as const, text: 'Two new offers.', chunks: 1 },
      ],
    })
    const done = new Promise<void>((resolve) => {
      settled = resolve
    })
    await bots.service.runNow('default', bot.id, { trigger: 'api' })
    await done
    if (trace.tool.length !== options.rounds)
      throw new Error(`expected ${options.rounds} tool calls, got ${trace.tool.length}`)
    if (run < 2) continue
    measuredQueries += queries - queriesBefore
    samples.push(...overheads(trace))
    toolMs.push(...trace.tool.map((t) => t.end - t.start))
    modelMs.push(...trace.model.map((t) => t.end - t.start))
  }
  await kernel.stop(5000)
  await model.close()
  await bus.close()
  await database.close()
  await removeBenchPlace(dialect, { dir, schema, databaseUrl: options.databaseUrl })
  return {
    mode: `bot runs, ${dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`,
    calls: samples.length,
    overheadMs: summarise(samples),
    toolMs: summarise(toolMs),
    modelMs: summarise(modelMs),
    queriesPerCall: Number((measuredQueries / (options.runs * options.rounds)).toFixed(1)),
  }
}

const result = mode === 'loop' ? await loopAlone() : await botRuns(mode)
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
