import type { Pipeline } from '@openorch/contracts'
import { useQuery } from '@tanstack/react-query'
import { useClient } from './api.tsx'

// Every pipeline of the workspace, for pickers (a bot's onComplete). Its own query key, not
// ['pipelines']: the live feed refreshes that list on every pipeline run, and a picker needs no such haste.

export function usePipelineOptions() {
  const client = useClient()
  const query = useQuery({
    queryKey: ['pipeline-options'],
    queryFn: async () => {
      const pipelines: Pipeline[] = []
      let cursor: string | undefined
      do {
        const page = await client.pipelines.list({ limit: 200, ...(cursor ? { cursor } : {}) })
        pipelines.push(...page.items)
        cursor = page.nextCursor ?? undefined
      } while (cursor)
      return pipelines
    },
    staleTime: 60_000,
  })
  const pipelines = query.data ?? []
  const byId = new Map(pipelines.map((pipeline) => [pipeline.id, pipeline]))
  return { query, pipelines, byId }
}
