import { type Kysely, sql, type Updateable } from 'kysely'
import type { Tables } from '../database.ts'
import type { BotRow, BotsTable } from './bot.table.ts'

// SQL of bots. Every query is scoped by tenant, except the scheduler's walk over all due schedules.
type Q = Kysely<Tables>

export async function insertBot(db: Q, row: BotRow): Promise<void> {
  await db.insertInto('bots').values(row).execute()
}

export async function findBot(db: Q, tenantId: string, id: string): Promise<BotRow | undefined> {
  return db
    .selectFrom('bots')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
}

/**
 * Takes the bot's lock inside a write transaction: its row FOR UPDATE on PostgreSQL (the transaction
 * already holds SQLite's write lock). Work on the bot's files done before commit is then one step for
 * every process sharing the database. False when the bot does not exist.
 */
export async function lockBot(
  trx: Q,
  tenantId: string,
  id: string,
  dialect: 'sqlite' | 'postgres',
): Promise<boolean> {
  let query = trx.selectFrom('bots').select('id').where('tenant_id', '=', tenantId).where('id', '=', id)
  if (dialect === 'postgres') query = query.forUpdate()
  return (await query.executeTakeFirst()) !== undefined
}

/** How many bots a workspace has (its bots quota). */
export async function countBots(db: Q, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('bots')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

export async function findBotByName(db: Q, tenantId: string, name: string): Promise<BotRow | undefined> {
  return db
    .selectFrom('bots')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .executeTakeFirst()
}

/** Names of the tenant's bots that start with `prefix` (to find a free "name (copy n)"). */
export async function botNamesLike(db: Q, tenantId: string, prefix: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('bots')
    .select('name')
    .where('tenant_id', '=', tenantId)
    .where('name', '>=', prefix)
    .where('name', '<', `${prefix}\uffff`)
    .execute()
  return new Set(rows.map((r) => r.name))
}

/** Oldest first: a list people build up over time reads in the order they made it. Cursor: last id. */
export async function listBots(
  db: Q,
  tenantId: string,
  options: { after?: string | undefined; limit: number },
): Promise<BotRow[]> {
  let query = db.selectFrom('bots').selectAll().where('tenant_id', '=', tenantId)
  if (options.after) query = query.where('id', '>', options.after)
  return query.orderBy('id').limit(options.limit).execute()
}

export async function updateBot(
  db: Q,
  tenantId: string,
  id: string,
  set: Updateable<BotsTable>,
): Promise<BotRow | undefined> {
  return db
    .updateTable('bots')
    .set(set)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
}

export async function deleteBot(db: Q, tenantId: string, id: string): Promise<boolean> {
  const result = await db
    .deleteFrom('bots')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

/**
 * The latest run of each bot in `botIds` (one query, for list pages). Driven by the bots: for each,
 * the newest run id is one step down runs_tenant_subject_idx (tenant_id, subject_id, id), so a bot with
 * 100,000 runs costs what a bot with one does (`npm run bench -- dashboard`; a correlated max per
 * run row made the first page of /bots take 320 ms with such a bot).
 */
export async function latestRunsOf(db: Q, tenantId: string, botIds: string[]) {
  if (botIds.length === 0) return []
  return db
    .selectFrom('runs as r')
    .select([
      'r.id',
      'r.subject_id as bot_id',
      'r.status',
      'r.result',
      'r.output',
      'r.error_message',
      'r.created_at',
      'r.finished_at',
    ])
    .where('r.tenant_id', '=', tenantId)
    .where('r.id', 'in', (eb) =>
      eb
        .selectFrom('bots as b')
        .select((e) =>
          e
            .selectFrom('runs as l')
            .select((f) => f.fn.max('l.id').as('latest'))
            .where('l.tenant_id', '=', tenantId)
            .whereRef('l.subject_id', '=', 'b.id')
            .as('id'),
        )
        .where('b.tenant_id', '=', tenantId)
        .where('b.id', 'in', botIds),
    )
    .execute()
}

/**
 * The newest `perBot` runs of each bot in `botIds`, newest first (one query). Driven by the bots,
 * each reading only its newest `perBot` entries of runs_tenant_subject_idx: a window function over all
 * runs of the page's bots numbered every run of a bot with a long history.
 */
export async function recentRunsOf(db: Q, tenantId: string, botIds: string[], perBot = 5) {
  if (botIds.length === 0) return []
  return db
    .selectFrom('bots as b')
    .innerJoin('runs as r', (join) =>
      join.on((eb) =>
        eb(
          'r.id',
          'in',
          eb
            .selectFrom('runs as l')
            .select('l.id')
            .where('l.tenant_id', '=', tenantId)
            .whereRef('l.subject_id', '=', 'b.id')
            .orderBy('l.id', 'desc')
            .limit(perBot),
        ),
      ),
    )
    .select(['r.id', 'r.subject_id as bot_id', 'r.status', 'r.result'])
    .where('b.tenant_id', '=', tenantId)
    .where('b.id', 'in', botIds)
    .orderBy('r.subject_id')
    .orderBy('r.id', 'desc')
    .execute()
}

/** The last completed run of a bot: its output is the bot's memory, its hash decides `isNew`. */
export async function lastCompletedRun(db: Q, tenantId: string, botId: string, excludeRunId: string) {
  return db
    .selectFrom('runs')
    .select(['id', 'output', 'result', 'finished_at'])
    .where('tenant_id', '=', tenantId)
    .where('subject_id', '=', botId)
    .where('status', '=', 'completed')
    .where('id', '!=', excludeRunId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst()
}

/** Runs that hold or wait for a slot, of many bots at once, by bot id (the scheduler's overlap policies). */
export async function activeRunsOfBots(
  db: Q,
  bots: Array<{ tenantId: string; botId: string }>,
): Promise<Map<string, Array<{ id: string; status: string }>>> {
  const byTenant = new Map<string, string[]>()
  for (const { tenantId, botId } of bots) byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), botId])
  const active = new Map<string, Array<{ id: string; status: string }>>()
  for (const [tenantId, botIds] of byTenant) {
    const rows = await db
      .selectFrom('runs')
      .select(['id', 'status', 'subject_id as bot_id'])
      .where('tenant_id', '=', tenantId)
      .where('subject_id', 'in', botIds)
      .where('status', 'in', ['pending', 'running', 'waiting'])
      .orderBy('id')
      .execute()
    for (const row of rows) {
      const list = active.get(row.bot_id!) ?? []
      list.push({ id: row.id, status: row.status })
      active.set(row.bot_id!, list)
    }
  }
  return active
}

/** A bot moving on from `firedSlot` to its next slot and fire time (jitter included); null: none left. */
export interface BotAdvance {
  tenantId: string
  id: string
  firedSlot: number | null
  next: { slot: number; fireAt: number } | null
}

/**
 * Moves bots to their next slot in one statement, each unless someone changed its schedule meanwhile
 * (its `next_slot_at` is no longer the one fired). A bot without a next slot is disabled.
 */
export async function advanceBots(
  db: Q,
  advances: BotAdvance[],
  now: number,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  for (const bot of advances.filter((a) => a.next === null))
    await db
      .updateTable('bots')
      .set({
        next_slot_at: null,
        next_fire_at: null,
        enabled: 0,
        paused_reason: 'The schedule has no further slots.',
        updated_at: now,
      })
      .where('tenant_id', '=', bot.tenantId)
      .where('id', '=', bot.id)
      .where('next_slot_at', '=', bot.firedSlot)
      .execute()
  const moving = advances.filter((a) => a.next !== null)
  if (dialect === 'sqlite') {
    // SQLite plans UPDATE … FROM (VALUES …) with bound parameters as a scan of bots per value row
    // (~1 s per 500 rows at 100,000 bots); one indexed update per row costs microseconds.
    for (const a of moving)
      await db
        .updateTable('bots')
        .set({ next_slot_at: a.next!.slot, next_fire_at: a.next!.fireAt })
        .where('tenant_id', '=', a.tenantId)
        .where('id', '=', a.id)
        .where('next_slot_at', '=', a.firedSlot)
        .execute()
    return
  }
  // 5 parameters a row: 500 rows stay far below both dialects' limits.
  for (let i = 0; i < moving.length; i += 500) {
    const values = moving
      .slice(i, i + 500)
      .map(
        (a) =>
          sql`(${a.tenantId}, ${a.id}, CAST(${a.firedSlot} AS bigint), CAST(${a.next!.slot} AS bigint), CAST(${a.next!.fireAt} AS bigint))`,
      )
    await sql`
      WITH v (tenant_id, id, fired_slot, next_slot_at, next_fire_at) AS (VALUES ${sql.join(values)})
      UPDATE bots SET next_slot_at = v.next_slot_at, next_fire_at = v.next_fire_at
      FROM v
      WHERE bots.tenant_id = v.tenant_id AND bots.id = v.id AND bots.next_slot_at = v.fired_slot`.execute(db)
  }
}
