import type { Usage, UsageRow } from '@openorch/contracts'
import type { Db } from '../database.ts'
import type { Clock } from '../platform/clock.ts'
import { AppError } from '../platform/errors.ts'
import { dayOf, isValidTimeZone } from '../schedules/schedule-spec.ts'
import { aggregateUsage, botNames, type UsageAggregate } from './usage.store.ts'

export interface UsageQuery {
  from?: string | undefined
  to?: string | undefined
  groupBy: 'bot' | 'provider' | 'model' | 'day'
  timezone: string
  botId?: string | undefined
}

const dayMs = 86_400_000
const maxRangeMs = 400 * dayMs

export type UsageService = ReturnType<typeof createUsageService>

export function createUsageService(deps: { database: Db; clock: Clock }) {
  const db = deps.database.db

  async function report(tenantId: string, query: UsageQuery): Promise<Usage> {
    const to = query.to ? Date.parse(query.to) : deps.clock.now()
    const from = query.from ? Date.parse(query.from) : to - 30 * dayMs
    const errors = []
    if (from >= to) errors.push({ field: 'from', message: 'must be before `to`' })
    if (to - from > maxRangeMs) errors.push({ field: 'from', message: 'the range may span at most 400 days' })
    if (!isValidTimeZone(query.timezone)) errors.push({ field: 'timezone', message: 'not an IANA time zone' })
    if (errors.length > 0)
      throw new AppError('validation_failed', `The query has ${errors.length} invalid field(s).`, 400, {
        errors,
      })

    const rows = await aggregateUsage(db, tenantId, {
      from,
      to,
      groupBy: query.groupBy === 'day' ? 'bucket' : query.groupBy,
      botId: query.botId,
    })
    let items: UsageRow[]
    if (query.groupBy === 'day') {
      const days = new Map<string, UsageAggregate>()
      for (const row of rows) {
        const day = dayOf(Number(row.key) * 900_000, query.timezone)
        const sum = days.get(day) ?? {
          key: day,
          calls: 0,
          tokensIn: 0,
          tokensOut: 0,
          costUsd: 0,
          unpricedCalls: 0,
        }
        add(sum, row)
        days.set(day, sum)
      }
      items = [...days.values()]
        .sort((a, b) => a.key.localeCompare(b.key))
        .map((r) => ({ ...r, label: r.key }))
    } else {
      const names =
        query.groupBy === 'bot'
          ? await botNames(
              db,
              tenantId,
              rows.map((r) => r.key).filter((k) => k !== ''),
            )
          : new Map<string, string>()
      items = rows
        .map((r) => ({
          ...r,
          label:
            query.groupBy === 'bot'
              ? (names.get(r.key) ?? (r.key === '' ? '(no bot)' : '(deleted bot)'))
              : r.key,
        }))
        .sort((a, b) => b.costUsd - a.costUsd || b.tokensIn + b.tokensOut - (a.tokensIn + a.tokensOut))
    }
    const total = { calls: 0, tokensIn: 0, tokensOut: 0, costUsd: 0, unpricedCalls: 0 }
    for (const row of rows) add(total, row)
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      groupBy: query.groupBy,
      items: items.map((r) => ({ ...r, costUsd: round(r.costUsd) })),
      total: { ...total, costUsd: round(total.costUsd) },
    }
  }

  return { report }
}

function add(sum: Omit<UsageAggregate, 'key'>, row: Omit<UsageAggregate, 'key'>): void {
  sum.calls += row.calls
  sum.tokensIn += row.tokensIn
  sum.tokensOut += row.tokensOut
  sum.costUsd += row.costUsd
  sum.unpricedCalls += row.unpricedCalls
}

/** Micro-dollar precision: sums of floats should not show 0.30000000000000004. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6
}
