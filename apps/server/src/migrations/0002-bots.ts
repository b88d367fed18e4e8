import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// LLM providers (keys encrypted), bots with their schedules, per-run logs and usage records.
export function bots(dialect: DialectName) {
  const double = 'double precision'
  const autoId = dialect === 'postgres' ? 'bigserial' : 'integer'
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      // One row per tenant and provider name. The key is AES-256-GCM ciphertext (platform/crypto),
      // `key_hint` the masked form shown to people (`sk-…3456`).
      await db.schema
        .createTable('providers')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('api_key_encrypted', 'text')
        .addColumn('key_hint', 'text')
        .addColumn('base_url', 'text')
        .addColumn('default_model', 'text')
        .addColumn('models', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('last_error_code', 'text')
        .addColumn('last_checked_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('providers_pk', ['tenant_id', 'name'])
        .execute()

      await db.schema
        .createTable('bots')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('emoji', 'text')
        .addColumn('prompt', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('schedule', 'text')
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('max_runtime_seconds', 'integer', (c) => c.notNull())
        .addColumn('max_retries', 'integer', (c) => c.notNull())
        .addColumn('retry_delay_seconds', 'integer', (c) => c.notNull())
        .addColumn('missed_run_policy', 'text', (c) => c.notNull())
        .addColumn('overlap_policy', 'text', (c) => c.notNull())
        .addColumn('pause_after_failures', 'integer')
        .addColumn('jitter_seconds', 'integer', (c) => c.notNull())
        .addColumn('max_cost_per_run_usd', double)
        .addColumn('daily_budget_usd', double)
        .addColumn('max_output_tokens', 'integer')
        .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
        // The next slot the scheduler fires (epoch ms, jitter included); null: no schedule or disabled.
        .addColumn('next_fire_at', 'bigint')
        // The slot `next_fire_at` stands for (jitter excluded): the idempotency key is built from it.
        .addColumn('next_slot_at', 'bigint')
        .addColumn('paused_reason', 'text')
        .addColumn('budget_warned_day', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      await sql`CREATE UNIQUE INDEX bots_name_idx ON bots (tenant_id, name)`.execute(db)
      await sql`CREATE INDEX bots_tenant_idx ON bots (tenant_id, id)`.execute(db)
      // The scheduler walks enabled schedules by their next fire time.
      await sql`CREATE INDEX bots_due_idx ON bots (next_fire_at) WHERE next_fire_at IS NOT NULL`.execute(db)

      // What a run did, line by line (context size, truncations, attempts, errors): GET /runs/{id}/log.
      await db.schema
        .createTable('run_logs')
        .addColumn('id', autoId, (c) => c.primaryKey().notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('data', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await sql`CREATE INDEX run_logs_run_idx ON run_logs (tenant_id, run_id, id)`.execute(db)

      // Tokens and cost per provider call, attempt by attempt: a failed attempt that spent tokens costs too.
      // Unique per (run, attempt), so a replayed write counts once.
      await db.schema
        .createTable('usage_records')
        .addColumn('id', autoId, (c) => c.primaryKey().notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('bot_id', 'text')
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('tokens_in', 'integer', (c) => c.notNull())
        .addColumn('tokens_out', 'integer', (c) => c.notNull())
        .addColumn('cost_usd', double)
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await sql`CREATE UNIQUE INDEX usage_records_run_idx ON usage_records (run_id, attempt)`.execute(db)
      await sql`CREATE INDEX usage_records_tenant_idx ON usage_records (tenant_id, created_at)`.execute(db)
      await sql`CREATE INDEX usage_records_bot_idx ON usage_records (tenant_id, bot_id, created_at)`.execute(
        db,
      )
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      for (const table of ['usage_records', 'run_logs', 'bots', 'providers'])
        await db.schema.dropTable(table).execute()
    },
  }
}
