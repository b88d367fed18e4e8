import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Approvals (issue 13, decision 0030): a call a person must allow first. The requester writes the
// record (`parking`) before its run parks; once the parking has committed, the approvals consumer of
// the outbox makes it `pending` and announces it, so nobody can decide on a parking that never
// happened. `state` is the requester's (a bot's conversation), opaque here. `tool_policies` holds a
// workspace's choice of built-in functions that need approval, and how long an approval may wait.
export function approvals(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE approvals (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        run_id text NOT NULL,
        subject_kind text NOT NULL,
        subject_id text,
        subject_name text,
        correlation_key text NOT NULL,
        status text NOT NULL,
        tool_set text NOT NULL,
        tool text NOT NULL,
        tool_call_id text NOT NULL,
        arguments text,
        reason text,
        state text NOT NULL,
        requested_at bigint NOT NULL,
        expires_at bigint,
        decided_at bigint,
        decided_by_type text,
        decided_by_id text,
        comment text,
        execution_started_at bigint,
        execution_result text
      )`.execute(db)
      await sql`CREATE INDEX approvals_list_idx ON approvals (tenant_id, requested_at, id)`.execute(db)
      await sql`CREATE INDEX approvals_run_idx ON approvals (run_id, requested_at)`.execute(db)
      await sql`CREATE INDEX approvals_expiry_idx ON approvals (expires_at) WHERE status = 'pending'`.execute(
        db,
      )
      await sql`CREATE TABLE tool_policies (
        tenant_id text PRIMARY KEY,
        require_approval text NOT NULL,
        expires_after_seconds integer,
        updated_at bigint NOT NULL
      )`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE tool_policies`.execute(db)
      await sql`DROP TABLE approvals`.execute(db)
    },
  }
}
