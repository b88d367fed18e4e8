import type { RunEventPayload } from '@openorch/contracts'
import { ApiError, type Client } from '@openorch/sdk'
import { type QueryClient, useQueryClient } from '@tanstack/react-query'
import { createContext, type ReactNode, useContext, useEffect, useState, useSyncExternalStore } from 'react'
import { useClient } from './api.tsx'
import { type ToolCall, toolCallOfEvent } from './tool-calls.ts'

// The live feed (GET /api/v1/events) read with fetch, so the API key travels in the Authorization
// header and never in a URL (EventSource cannot send headers). Run state changes refresh the queries
// that show them; `run.output` deltas are collected per run for the run page's live output. On a
// dropped connection it reconnects with Last-Event-ID, backing off up to 30 s. `run.tool_call` events
// (live only) are kept per run for the run page's running calls; `approval.*` events refresh the
// approvals inbox and its count in the header.

export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'refused'

type Listener = () => void

/** Streamed text per run, as the deltas arrive (offset-aware, so a repeated delta is harmless). */
class OutputStore {
  private texts = new Map<string, string>()
  private listeners = new Set<Listener>()

  append(runId: string, offset: number, delta: string): void {
    const current = this.texts.get(runId) ?? ''
    // A delta past what we have means we missed one; the final output replaces the text anyway.
    const base = offset <= current.length ? current.slice(0, offset) : current
    this.texts.set(runId, base + delta)
    for (const listener of this.listeners) listener()
  }

  get(runId: string): string | undefined {
    return this.texts.get(runId)
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

export const outputStore = new OutputStore()

export function useLiveOutput(runId: string): string | undefined {
  return useSyncExternalStore(outputStore.subscribe, () => outputStore.get(runId))
}

/** The tool calls the feed reported per run, in the order they started (a newer state replaces an older). */
class ToolCallStore {
  private calls = new Map<string, readonly ToolCall[]>()
  private listeners = new Set<Listener>()

  report(runId: string, call: ToolCall): void {
    const current = this.calls.get(runId) ?? []
    const index = current.findIndex((c) => c.toolCallId === call.toolCallId)
    // A late `started` after the call ended changes nothing.
    if (index >= 0 && current[index]!.status !== 'started') return
    const next = index >= 0 ? current.map((c, i) => (i === index ? call : c)) : [...current, call]
    this.calls.set(runId, next)
    for (const listener of this.listeners) listener()
  }

  get(runId: string): readonly ToolCall[] {
    return this.calls.get(runId) ?? none
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

const none: readonly ToolCall[] = []

export const toolCallStore = new ToolCallStore()

export function useLiveToolCalls(runId: string): readonly ToolCall[] {
  return useSyncExternalStore(toolCallStore.subscribe, () => toolCallStore.get(runId))
}

const FeedContext = createContext<FeedState>('connecting')

export function useFeedState(): FeedState {
  return useContext(FeedContext)
}

function refresh(queryClient: QueryClient, payload: RunEventPayload): void {
  const { runId, botId } = payload
  void queryClient.invalidateQueries({ queryKey: ['run', runId] })
  // A pipeline's step is a run whose parent is the pipeline's run: the pipeline run's view and lists follow it.
  if (payload.parentRunId) void queryClient.invalidateQueries({ queryKey: ['run', payload.parentRunId] })
  if (payload.kind === 'pipeline' || payload.parentRunId)
    void queryClient.invalidateQueries({ queryKey: ['pipeline-runs'] })
  // The pipelines' cards show each one's last run, which comes with the list.
  if (payload.kind === 'pipeline') void queryClient.invalidateQueries({ queryKey: ['pipelines'] })
  void queryClient.invalidateQueries({ queryKey: ['runs'] })
  void queryClient.invalidateQueries({ queryKey: ['bots'] })
  if (botId) {
    void queryClient.invalidateQueries({ queryKey: ['bot', botId] })
    void queryClient.invalidateQueries({ queryKey: ['bot-runs', botId] })
  }
  void queryClient.invalidateQueries({ queryKey: ['usage'] })
  void queryClient.invalidateQueries({ queryKey: ['queue'] })
  // A delivery is a run too (kind notification): its channel's status and the history follow it.
  void queryClient.invalidateQueries({ queryKey: ['channels'] })
  void queryClient.invalidateQueries({ queryKey: ['notifications'] })
}

async function follow(
  client: Client,
  queryClient: QueryClient,
  signal: AbortSignal,
  setState: (state: FeedState) => void,
): Promise<void> {
  let lastEventId: number | undefined
  let delay = 1000
  while (!signal.aborted) {
    try {
      let opened = false
      const events = client.events({
        signal,
        ...(lastEventId !== undefined ? { lastEventId } : {}),
        onOpen: () => {
          opened = true
          setState('live')
          delay = 1000
        },
      })
      for await (const event of events) {
        if (event.id !== null && event.id > 0) lastEventId = event.id
        const { runId, botId } = event.payload
        if (event.type === 'run.output') {
          if (typeof event.payload.delta === 'string')
            outputStore.append(runId, event.payload.offset ?? 0, event.payload.delta)
        } else if (event.type === 'run.tool_call') {
          const call = toolCallOfEvent(event.payload)
          if (call) toolCallStore.report(runId, call)
          // A call that ended is a new line in the run's log.
          if (call && call.status !== 'started')
            void queryClient.invalidateQueries({ queryKey: ['run', runId, 'log'] })
        } else if (event.type.startsWith('approval.')) {
          void queryClient.invalidateQueries({ queryKey: ['approvals'] })
          void queryClient.invalidateQueries({ queryKey: ['run', runId] })
        } else if (event.type.startsWith('run.')) {
          refresh(queryClient, event.payload)
        } else if (event.type.startsWith('bot.')) {
          void queryClient.invalidateQueries({ queryKey: ['bots'] })
          if (botId) void queryClient.invalidateQueries({ queryKey: ['bot', botId] })
        }
      }
      if (!opened) setState('reconnecting')
    } catch (error) {
      if (signal.aborted) return
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        setState('refused')
        return
      }
    }
    if (signal.aborted) return
    setState('reconnecting')
    await new Promise((resolve) => setTimeout(resolve, delay))
    delay = Math.min(delay * 2, 30_000)
  }
}

export function LiveFeedProvider({ children }: { children: ReactNode }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const [state, setState] = useState<FeedState>('connecting')
  useEffect(() => {
    const controller = new AbortController()
    void follow(client, queryClient, controller.signal, setState)
    return () => controller.abort()
  }, [client, queryClient])
  return <FeedContext.Provider value={state}>{children}</FeedContext.Provider>
}
