import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'
import { queueFunctionsSql } from '../runs/queue.functions.postgres.ts'

// The kernel's table stops naming the bots (issue 12, decision 0027): `bot_id` becomes `subject_id`
// (what a run is about, as its kind's domain sees it: a bot today, a pipeline next) and the bots'
// results (output hash, "is new", tokens, cost) move into `result`, JSON the kernel stores and
// returns without reading. Existing runs keep their values, under the names the Run JSON has always
// shown them by.
export function runSubjectAndResult(dialect: DialectName) {
  const resultColumns = ['output_hash', 'is_new', 'tokens_in', 'tokens_out', 'cost_usd']
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`ALTER TABLE runs RENAME COLUMN bot_id TO subject_id`.execute(db)
      // The name follows the column; the index is the same (tenant, subject, id) for subjects' pages.
      await sql`DROP INDEX runs_tenant_bot_idx`.execute(db)
      await sql`CREATE INDEX runs_tenant_subject_idx ON runs (tenant_id, subject_id, id) WHERE subject_id IS NOT NULL`.execute(
        db,
      )
      await sql`ALTER TABLE runs ADD COLUMN result text`.execute(db)
      const isNew =
        dialect === 'postgres'
          ? sql`CASE is_new WHEN 1 THEN true WHEN 0 THEN false END`
          : sql`CASE is_new WHEN 1 THEN json('true') WHEN 0 THEN json('false') END`
      const object = dialect === 'postgres' ? sql.raw('json_build_object') : sql.raw('json_object')
      await sql`UPDATE runs SET result = ${object}('outputHash', output_hash, 'isNew', ${isNew},
          'tokensIn', tokens_in, 'tokensOut', tokens_out, 'costUsd', cost_usd)${sql.raw(dialect === 'postgres' ? '::text' : '')}
        WHERE output_hash IS NOT NULL OR is_new IS NOT NULL OR tokens_in IS NOT NULL
          OR tokens_out IS NOT NULL OR cost_usd IS NOT NULL`.execute(db)
      for (const column of resultColumns)
        await sql`ALTER TABLE runs DROP COLUMN ${sql.ref(column)}`.execute(db)
      if (dialect !== 'postgres') return
      // The functions name the settled columns and build the event payload: rebuilt from today's code.
      await sql`DROP FUNCTION IF EXISTS run_settle_and_claim`.execute(db)
      await sql`DROP FUNCTION IF EXISTS run_claim_one`.execute(db)
      for (const statement of queueFunctionsSql()) await sql.raw(statement).execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE runs ADD COLUMN output_hash text`.execute(db)
      await sql`ALTER TABLE runs ADD COLUMN is_new integer`.execute(db)
      await sql`ALTER TABLE runs ADD COLUMN tokens_in integer`.execute(db)
      await sql`ALTER TABLE runs ADD COLUMN tokens_out integer`.execute(db)
      await sql`ALTER TABLE runs ADD COLUMN cost_usd ${sql.raw(dialect === 'postgres' ? 'double precision' : 'real')}`.execute(
        db,
      )
      if (dialect === 'postgres')
        await sql`UPDATE runs SET output_hash = result::json->>'outputHash',
            is_new = CASE (result::json->>'isNew') WHEN 'true' THEN 1 WHEN 'false' THEN 0 END,
            tokens_in = (result::json->>'tokensIn')::integer, tokens_out = (result::json->>'tokensOut')::integer,
            cost_usd = (result::json->>'costUsd')::double precision
          WHERE result IS NOT NULL`.execute(db)
      else
        await sql`UPDATE runs SET output_hash = json_extract(result, '$.outputHash'),
            is_new = json_extract(result, '$.isNew'), tokens_in = json_extract(result, '$.tokensIn'),
            tokens_out = json_extract(result, '$.tokensOut'), cost_usd = json_extract(result, '$.costUsd')
          WHERE result IS NOT NULL`.execute(db)
      await sql`ALTER TABLE runs DROP COLUMN result`.execute(db)
      await sql`DROP INDEX runs_tenant_subject_idx`.execute(db)
      await sql`ALTER TABLE runs RENAME COLUMN subject_id TO bot_id`.execute(db)
      await sql`CREATE INDEX runs_tenant_bot_idx ON runs (tenant_id, bot_id, id) WHERE bot_id IS NOT NULL`.execute(
        db,
      )
    },
  }
}
