import type { Kysely, Updateable } from 'kysely'
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
