// The two ways the pipelines benchmark runs a chain of bots, both as a client of the server's API:
// - `pipeline`: one POST /pipelines/{id}/runs; the server moves the chain on (decision 0033).
// - `by hand`: what a script does without pipelines: POST /bots/{bot 1}/runs, wait for it to complete,
//   read its output (GET /runs/{id}), POST /bots/{bot 2}/runs with that output as input, and so on.
//   It waits on the live feed (GET /events, server-sent events), not by polling: the quickest a
//   client can learn that a run ended.
// Both learn that a chain ended from the live feed, so a chain's time is measured the same way.
import type { BenchServer } from './bench-server.ts'
import { ownerKey } from './bench-server.ts'

export interface ChainResult {
  /** Client clock: before the first request, and when the chain's end arrived on the feed. */
  startedAt: number
  endedAt: number
  status: 'completed' | 'failed'
  /** pipeline: [the pipeline run]; by hand: the bot runs in order. */
  runIds: string[]
}

export interface ChainRunner {
  run(index: number): Promise<ChainResult>
  close(): void
}

type Ended = { type: string; at: number }
const endTypes = new Set(['run.completed', 'run.failed', 'run.timeout', 'run.cancelled'])

/**
 * The live feed of the workspace: calls `onEnded` for every run that ends, with the time its event
 * arrived. Resolves once the stream is open.
 */
async function openFeed(
  base: string,
  onEnded: (runId: string, ended: Ended) => void,
): Promise<{ close(): void }> {
  const controller = new AbortController()
  const response = await fetch(`${base}/api/v1/events`, {
    headers: { authorization: `Bearer ${ownerKey}`, accept: 'text/event-stream' },
    signal: controller.signal,
  })
  if (!response.ok || !response.body) throw new Error(`GET /events: ${response.status}`)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  void (async () => {
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
      if (done) return
      buffer += value
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        end = buffer.indexOf('\n\n')
        const type = /^event: (.+)$/m.exec(frame)?.[1]
        const data = /^data: (.+)$/m.exec(frame)?.[1]
        if (!type || !data || !endTypes.has(type)) continue
        const payload = JSON.parse(data) as { runId: string }
        onEnded(payload.runId, { type, at: Date.now() })
      }
    }
  })()
  return { close: () => controller.abort() }
}

/** Waits for runs' ends on the feed; an end that arrives before its run is known is kept. */
function createWaiter() {
  const early = new Map<string, Ended>()
  const waiting = new Map<string, (ended: Ended) => void>()
  return {
    onEnded(runId: string, ended: Ended) {
      const resolve = waiting.get(runId)
      if (resolve) {
        waiting.delete(runId)
        resolve(ended)
      } else early.set(runId, ended)
    },
    ended(runId: string): Promise<Ended> {
      const seen = early.get(runId)
      if (seen) {
        early.delete(runId)
        return Promise.resolve(seen)
      }
      return new Promise((resolve) => waiting.set(runId, resolve))
    },
  }
}

export async function pipelineChains(server: BenchServer, pipelineId: string): Promise<ChainRunner> {
  const waiter = createWaiter()
  const feed = await openFeed(server.base, waiter.onEnded)
  return {
    async run(index) {
      const startedAt = Date.now()
      const run = await server.api('POST', `/pipelines/${pipelineId}/runs`, { input: `Offers for #${index}` })
      const ended = await waiter.ended(run.id)
      return {
        startedAt,
        endedAt: ended.at,
        status: ended.type === 'run.completed' ? 'completed' : 'failed',
        runIds: [run.id],
      }
    },
    close: feed.close,
  }
}

export async function chainsByHand(server: BenchServer, botIds: readonly string[]): Promise<ChainRunner> {
  const waiter = createWaiter()
  const feed = await openFeed(server.base, waiter.onEnded)
  return {
    async run(index) {
      const startedAt = Date.now()
      const runIds: string[] = []
      let input: unknown = `Offers for #${index}`
      let ended: Ended | undefined
      for (const botId of botIds) {
        const run = await server.api('POST', `/bots/${botId}/runs`, { input })
        runIds.push(run.id)
        ended = await waiter.ended(run.id)
        if (ended.type !== 'run.completed') break
        // The event names the run; its output is read from the API, as a client has to.
        const done = await server.api('GET', `/runs/${run.id}`)
        input = done.output?.text ?? ''
      }
      return {
        startedAt,
        endedAt: ended!.at,
        status: ended!.type === 'run.completed' && runIds.length === botIds.length ? 'completed' : 'failed',
        runIds,
      }
    },
    close: feed.close,
  }
}
