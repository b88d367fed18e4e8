import { type Kysely, sql } from 'kysely'
import type { Tables } from '../database.ts'

// Usage records: one per provider call (run attempt). Written once per (run, attempt), however often
// an executor retries the write.
type Q = Kysely<Tables>

export interface UsageRecord {
  tenantId: string
  runId: string
  attempt: number
  /** The model call within the attempt (default 0; a run with tools makes several). */
  call?: number
  botId: string | null
  provider: string
  model: string
  tokensIn: number
  tokensOut: number
  costUsd: number | null
  at: number
}

export async function recordUsage(db: Q, record: UsageRecord): Promise<void> {
  await db
    .insertInto('usage_records')
    .values({
      tenant_id: record.tenantId,
      run_id: record.runId,
      attempt: record.attempt,
      call: record.call ?? 0,
      bot_id: record.botId,
      provider: record.provider,
      model: record.model,
      tokens_in: record.tokensIn,
      tokens_out: record.tokensOut,
      cost_usd: record.costUsd,
      created_at: record.at,
    })
    .onConflict((oc) => oc.columns(['run_id', 'attempt', 'call']).doNothing())
    .execute()
}

/** What a bot spent since `since` (its daily budget). */
export async function botSpendSince(db: Q, tenantId: string, botId: string, since: number): Promise<number> {
  const row = await db
    .selectFrom('usage_records')
    .select((eb) => eb.fn.sum<number | string | null>('cost_usd').as('spent'))
    .where('tenant_id', '=', tenantId)
    .where('bot_id', '=', botId)
    .where('created_at', '>=', since)
    .executeTakeFirst()
  return Number(row?.spent ?? 0)
}

/** What all of a workspace's bots spent since `since` (its daily budget, decision 0019). */
export async function tenantSpendSince(db: Q, tenantId: string, since: number): Promise<number> {
  const row = await db
    .selectFrom('usage_records')
    .select((eb) => eb.fn.sum<number | string | null>('cost_usd').as('spent'))
    .where('tenant_id', '=', tenantId)
    .where('created_at', '>=', since)
    .executeTakeFirst()
  return Number(row?.spent ?? 0)
}

export interface UsageAggregate {
  key: string
  calls: number
  tokensIn: number
  tokensOut: number
  costUsd: number
  unpricedCalls: number
}

/**
 * Sums per group in SQL. `day` is grouped by 15-minute bucket here and folded into days of the
 * requested time zone by the service (every zone offset is a multiple of 15 minutes).
 */
export async function aggregateUsage(
  db: Q,
  tenantId: string,
  options: {
    from: number
    to: number
    groupBy: 'bot' | 'provider' | 'model' | 'bucket'
    botId?: string | undefined
  },
): Promise<UsageAggregate[]> {
  const key =
    options.groupBy === 'bot'
      ? sql<string>`coalesce(bot_id, '')`
      : options.groupBy === 'provider'
        ? sql<string>`provider`
        : options.groupBy === 'model'
          ? sql<string>`provider || '/' || model`
          : sql<string>`cast(created_at / 900000 as text)`
  let query = db
    .selectFrom('usage_records')
    .select([
      key.as('key'),
      sql<number>`count(*)`.as('calls'),
      sql<number>`sum(tokens_in)`.as('tokens_in'),
      sql<number>`sum(tokens_out)`.as('tokens_out'),
      sql<number>`coalesce(sum(cost_usd), 0)`.as('cost_usd'),
      sql<number>`sum(case when cost_usd is null then 1 else 0 end)`.as('unpriced'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('created_at', '>=', options.from)
    .where('created_at', '<', options.to)
  if (options.botId) query = query.where('bot_id', '=', options.botId)
  const rows = await query.groupBy(key).execute()
  return rows.map((r) => ({
    key: String(r.key),
    calls: Number(r.calls),
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costUsd: Number(r.cost_usd),
    unpricedCalls: Number(r.unpriced),
  }))
}

export async function botNames(db: Q, tenantId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map()
  const rows = await db
    .selectFrom('bots')
    .select(['id', 'name'])
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', ids)
    .execute()
  return new Map(rows.map((r) => [r.id, r.name]))
}
