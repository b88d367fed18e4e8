import fs from 'node:fs'
import { parseArgs } from 'node:util'
import type { BotExport } from '@openorch/contracts'
import { ApiError, type ApiRun, type Client, createClient } from '@openorch/sdk'
import { outputText } from '../bots/bot.mapper.ts'

// `openorch bots …`: a client of a running orchestrator, through the same API as everyone else.
// Progress goes to stderr, results to stdout, so `openorch bots run scout > out.md` keeps the answer.

export const botsUsage = `Usage: openorch bots <command>

Commands:
  list                         List bots with their schedule, next run and last result
  run <id|name> [--input X]    Run a bot now, show progress and the streamed output, then tokens and cost
                               (--input: text, or JSON; --no-wait: queue it and print the run id)
  export <id|name> [--out F]   Write the bot as JSON (no secrets) to stdout or a file
  import <file|->              Create a bot from an export (it arrives disabled)

Connection: OPENORCH_URL (default http://localhost:$PORT or :8080) and OPENORCH_API_KEY (or --url, --key).`

export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
  env: NodeJS.ProcessEnv
  readStdin: () => Promise<string>
}

export class CliFailure extends Error {}

const terminal = new Set(['completed', 'failed', 'cancelled', 'timeout'])

export async function runBotsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      input: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
    },
  })
  const [sub, target] = positionals
  if (!sub || sub === 'help') {
    io.out(`${botsUsage}\n`)
    return sub ? 0 : 1
  }
  const key = values.key ?? io.env.OPENORCH_API_KEY
  if (!key)
    throw new CliFailure(
      'no API key: set OPENORCH_API_KEY (the owner key printed at the first start) or pass --key.',
    )
  const baseUrl = values.url ?? io.env.OPENORCH_URL ?? `http://localhost:${io.env.PORT ?? '8080'}`
  const client = createClient({ baseUrl, apiKey: key })
  try {
    switch (sub) {
      case 'list':
        return await list(client, io, values.json ?? false)
      case 'run':
        return await run(
          client,
          io,
          required(target, 'run <id|name>'),
          values.input,
          !(values['no-wait'] ?? false),
        )
      case 'export': {
        const document = await client.bots.export(
          (await resolve(client, required(target, 'export <id|name>'))).id,
        )
        const text = `${JSON.stringify(document, null, 2)}\n`
        if (values.out) {
          fs.writeFileSync(values.out, text)
          io.err(`Exported "${document.bot.name}" to ${values.out}\n`)
        } else io.out(text)
        return 0
      }
      case 'import': {
        const source = required(target, 'import <file|->')
        const text = source === '-' ? await io.readStdin() : readFile(source)
        let document: BotExport
        try {
          document = JSON.parse(text) as BotExport
        } catch {
          throw new CliFailure(`${source} is not JSON: export a bot with "openorch bots export <id|name>".`)
        }
        const bot = await client.bots.import(document)
        io.out(
          `Imported "${bot.name}" as ${bot.id} (disabled: enable it with PATCH /api/v1/bots/${bot.id} {"enabled":true}).\n`,
        )
        return 0
      }
      default:
        throw new CliFailure(`unknown command "bots ${sub}".\n\n${botsUsage}`)
    }
  } catch (error) {
    throw explainApiError(error, baseUrl)
  }
}

function required(value: string | undefined, what: string): string {
  if (!value) throw new CliFailure(`missing argument: openorch bots ${what}`)
  return value
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (error) {
    throw new CliFailure(`cannot read ${file}: ${(error as Error).message}`)
  }
}

function explainApiError(error: unknown, baseUrl: string): Error {
  if (error instanceof CliFailure) return error
  if (error instanceof ApiError) {
    const fields = error.problem?.errors?.map((e) => `  ${e.field}: ${e.message}`).join('\n')
    const hint =
      error.status === 401
        ? '\nCheck OPENORCH_API_KEY (or --key).'
        : error.status === 403
          ? '\nThis key’s role may not do this; use an editor or admin key.'
          : ''
    return new CliFailure(`${error.message}${fields ? `\n${fields}` : ''}${hint}`)
  }
  // fetch() fails with "fetch failed" and the network error as its cause (refused, DNS, reset…).
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    return new CliFailure(
      `cannot reach the orchestrator at ${baseUrl} (${cause?.code ?? cause?.message ?? 'network error'}). ` +
        'Start it with "npm start" (or "openorch start"), or set OPENORCH_URL.',
    )
  }
  return new CliFailure((error as Error).message)
}

/** By id, else by exact name. */
async function resolve(client: Client, idOrName: string) {
  try {
    return await client.bots.get(idOrName)
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error
  }
  let cursor: string | undefined
  do {
    const page = await client.bots.list({ limit: 200, ...(cursor ? { cursor } : {}) })
    const found = page.items.find((b) => b.name === idOrName)
    if (found) return found
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  throw new CliFailure(`no bot with id or name "${idOrName}". "openorch bots list" shows them.`)
}

async function list(client: Client, io: CliIo, json: boolean): Promise<number> {
  const bots = []
  let cursor: string | undefined
  do {
    const page = await client.bots.list({ limit: 200, ...(cursor ? { cursor } : {}) })
    bots.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  if (json) {
    io.out(`${JSON.stringify(bots, null, 2)}\n`)
    return 0
  }
  if (bots.length === 0) {
    io.out('No bots yet. Create one with POST /api/v1/bots or in the dashboard.\n')
    return 0
  }
  const rows = bots.map((b) => [
    `${b.emoji ?? ''} ${b.name}`.trim(),
    b.schedule ? `${b.schedule}${b.enabled ? '' : ' (off)'}` : 'manual',
    b.nextRunAt ? new Date(b.nextRunAt).toLocaleString() : '–',
    b.lastRun
      ? `${b.lastRun.status === 'completed' ? '✅' : b.lastRun.status === 'failed' ? '❌' : '⏳'} ${b.lastRun.summary ?? b.lastRun.status}`
      : '–',
    b.id,
  ])
  const header = ['BOT', 'SCHEDULE', 'NEXT RUN', 'LAST RESULT', 'ID']
  const widths = header.map((h, i) => Math.min(48, Math.max(h.length, ...rows.map((r) => [...r[i]!].length))))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : clip(c, widths[i]!).padEnd(widths[i]!))).join('  ')
  io.out(`${[line(header), ...rows.map(line)].join('\n')}\n`)
  return 0
}

function clip(text: string, width: number): string {
  const chars = [...text]
  return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`
}

function parseInput(input: string | undefined): unknown {
  if (input === undefined) return undefined
  try {
    return JSON.parse(input)
  } catch {
    return input
  }
}

async function run(
  client: Client,
  io: CliIo,
  target: string,
  input: string | undefined,
  wait: boolean,
): Promise<number> {
  const bot = await resolve(client, target)
  // Listen before starting, so no streamed text is missed.
  const stream = new AbortController()
  let runId: string | undefined
  let streamed = 0
  const listening = (async () => {
    for await (const event of client.events({ signal: stream.signal })) {
      if (event.payload.runId !== runId) continue
      if (event.type === 'run.output' && typeof event.payload.delta === 'string') {
        if (streamed === 0) io.err('─── output ───\n')
        io.out(event.payload.delta)
        streamed += event.payload.delta.length
      }
    }
  })().catch(() => {})
  try {
    const queued = await client.bots.run(bot.id, { input: parseInput(input), trigger: 'manual' })
    runId = queued.id
    io.err(`Run ${queued.id} of "${bot.name}" queued.\n`)
    if (!wait) {
      io.out(`${queued.id}\n`)
      return 0
    }
    let last: ApiRun = queued
    let shown = ''
    const started = Date.now()
    while (!terminal.has(last.status)) {
      const state = `${last.status}${last.attempt > 1 ? ` (attempt ${last.attempt} of ${last.maxAttempts})` : ''}`
      if (state !== shown) {
        io.err(`… ${state}\n`)
        shown = state
      }
      await new Promise((r) => setTimeout(r, 300))
      last = await client.runs.get(queued.id)
      if (Date.now() - started > 60 * 60 * 1000)
        throw new CliFailure(`run ${queued.id} did not finish within an hour.`)
    }
    // Give the stream a moment to deliver its last text before printing the stored output.
    await new Promise((r) => setTimeout(r, 150))
    const text = outputText(last.output)
    if (last.status === 'completed') {
      if (streamed < text.length) {
        if (streamed === 0) io.err('─── output ───\n')
        io.out(text.slice(streamed))
      }
      io.out(text.endsWith('\n') ? '' : '\n')
      io.err(
        `─── ✅ completed in ${seconds(last.durationMs)} · tokens ${last.tokensIn ?? 0} in / ${last.tokensOut ?? 0} out · cost ${
          last.costUsd === null ? 'unknown (no price for this model)' : `$${last.costUsd.toFixed(6)}`
        }${last.isNew === false ? ' · nothing new since the last run' : last.isNew ? ' · new result' : ''}\n`,
      )
      return 0
    }
    if (streamed > 0) io.out('\n')
    io.err(
      `─── ❌ ${last.status}: ${last.error?.message ?? 'no reason given'}${last.error ? ` (${last.error.code})` : ''}\n`,
    )
    io.err(`The run log says more: GET /api/v1/runs/${last.id}/log\n`)
    return 1
  } finally {
    stream.abort()
    await listening
  }
}

function seconds(ms: number | null): string {
  return ms === null ? '?' : `${(ms / 1000).toFixed(1)} s`
}
