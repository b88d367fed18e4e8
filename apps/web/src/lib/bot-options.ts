import type { Bot } from '@openorch/contracts'
import { useQuery } from '@tanstack/react-query'
import { useClient } from './api.tsx'

// Every bot of the workspace, for pickers and for naming a pipeline's steps. Its own query key, not
// ['bots']: the live feed refreshes ['bots'] on every run event, and this list needs no such haste.

export function useBotOptions() {
  const client = useClient()
  const query = useQuery({
    queryKey: ['bot-options'],
    queryFn: async () => {
      const bots: Bot[] = []
      let cursor: string | undefined
      do {
        const page = await client.bots.list({ limit: 200, ...(cursor ? { cursor } : {}) })
        bots.push(...page.items)
        cursor = page.nextCursor ?? undefined
      } while (cursor)
      return bots
    },
    staleTime: 60_000,
  })
  const bots = query.data ?? []
  const byId = new Map(bots.map((bot) => [bot.id, bot]))
  return { query, bots, byId }
}
