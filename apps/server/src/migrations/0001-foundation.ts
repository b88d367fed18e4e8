import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Tenants, API keys, the runs table (the kernel) and the run events outbox.
// Times are epoch milliseconds (bigint) taken from the injected clock; JSON is stored as text on both engines.
export function foundation(dialect: DialectName) {
  const autoId = dialect === 'postgres' ? 'bigserial' : 'integer'
  const double = 'double precision'
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tenants')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db
        .insertInto('tenants')
        .values({ tenant_id: 'default', name: 'Default workspace', created_at: Date.now() })
        .execute()

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute()

      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('bot_id', 'text')
        .addColumn('parent_run_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('input', 'text')
        .addColumn('output', 'text')
        .addColumn('output_hash', 'text')
        .addColumn('is_new', 'integer')
        .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('run_at', 'bigint', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_attempts', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('retry_base_ms', 'integer', (c) => c.notNull().defaultTo(1000))
        .addColumn('timeout_ms', 'integer')
        .addColumn('lease_token', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('concurrency_key', 'text')
        .addColumn('concurrency_limit', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('idempotency_key', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('error_retryable', 'integer')
        .addColumn('dead_lettered_at', 'bigint')
        .addColumn('wait_reason', 'text')
        .addColumn('tokens_in', 'integer')
        .addColumn('tokens_out', 'integer')
        .addColumn('cost_usd', double)
        .addColumn('duration_ms', 'integer')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()

      // The claim query walks this index: due pending runs by priority, then FIFO.
      await sql`CREATE INDEX runs_due_idx ON runs (priority DESC, run_at, id) WHERE status = 'pending'`.execute(
        db,
      )
      // The rescuer finds expired leases here.
      await sql`CREATE INDEX runs_lease_idx ON runs (lease_expires_at) WHERE status = 'running'`.execute(db)
      // Per-key concurrency counts running runs of a key.
      await sql`CREATE INDEX runs_running_key_idx ON runs (concurrency_key) WHERE status = 'running' AND concurrency_key IS NOT NULL`.execute(
        db,
      )
      // Partial: most runs have no key, and a non-HOT update of a run writes to every index it is in.
      await sql`CREATE UNIQUE INDEX runs_idempotency_idx ON runs (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(
        db,
      )
      // Listings walk (tenant, id) newest first. No (tenant, status) index: every state change would
      // rewrite it, and status filters are served well enough by this walk (decision 0002).
      await sql`CREATE INDEX runs_tenant_idx ON runs (tenant_id, id)`.execute(db)
      await sql`CREATE INDEX runs_tenant_bot_idx ON runs (tenant_id, bot_id, id)`.execute(db)
      await sql`CREATE INDEX runs_dead_letter_idx ON runs (tenant_id, dead_lettered_at) WHERE dead_lettered_at IS NOT NULL`.execute(
        db,
      )

      // Transactional outbox: appended in the transaction that changes a run, never updated.
      // Relays read it behind a cursor (event_cursors). On PostgreSQL ids are not committed in order,
      // so each row also records its transaction id: a relay only reads rows of transactions older than
      // every transaction still running, and so never skips one that commits late (decision 0004).
      let events = db.schema
        .createTable('run_events')
        .addColumn('id', autoId, (c) => c.primaryKey().notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
      if (dialect === 'postgres') {
        events = events.addColumn('tx_id', sql`xid8`, (c) => c.notNull().defaultTo(sql`pg_current_xact_id()`))
      }
      await events.execute()
      await sql`CREATE INDEX run_events_tenant_idx ON run_events (tenant_id, id)`.execute(db)
      if (dialect === 'postgres')
        await sql`CREATE INDEX run_events_tx_idx ON run_events (tx_id, id)`.execute(db)

      // Where each relay stands in the outbox. System-wide rows: tenant_id is '*'.
      let cursors = db.schema
        .createTable('event_cursors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().defaultTo('*'))
        .addColumn('last_id', 'bigint', (c) => c.notNull().defaultTo(0))
      if (dialect === 'postgres')
        cursors = cursors.addColumn('last_tx', sql`xid8`, (c) => c.notNull().defaultTo(sql`'0'::xid8`))
      await cursors.execute()
      await db.insertInto('event_cursors').values({ name: 'relay' }).execute()
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      for (const table of ['event_cursors', 'run_events', 'runs', 'api_keys', 'tenants'])
        await db.schema.dropTable(table).execute()
    },
  }
}
