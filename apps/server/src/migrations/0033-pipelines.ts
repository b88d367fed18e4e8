import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// Pipelines (issue 15, decision 0033): the definitions with every version kept, and each pipeline
// run's pinned version and step states. The steps themselves are bot runs (runs.parent_run_id).
export function pipelines(_dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE pipelines (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        name text NOT NULL,
        description text NOT NULL,
        emoji text,
        schedule text,
        timezone text NOT NULL,
        enabled integer NOT NULL,
        missed_run_policy text NOT NULL,
        overlap_policy text NOT NULL,
        jitter_seconds integer NOT NULL,
        version integer NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE UNIQUE INDEX pipelines_name_idx ON pipelines (tenant_id, name)`.execute(db)
      await sql`CREATE TABLE pipeline_versions (
        pipeline_id text NOT NULL,
        version integer NOT NULL,
        tenant_id text NOT NULL,
        definition text NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (pipeline_id, version)
      )`.execute(db)
      await sql`CREATE TABLE pipeline_runs (
        run_id text PRIMARY KEY,
        tenant_id text NOT NULL,
        pipeline_id text NOT NULL,
        version integer NOT NULL,
        input text,
        settled_max_attempts integer,
        created_at bigint NOT NULL
      )`.execute(db)
      await sql`CREATE INDEX pipeline_runs_pipeline_idx ON pipeline_runs (tenant_id, pipeline_id, run_id)`.execute(
        db,
      )
      await sql`CREATE TABLE pipeline_run_steps (
        pipeline_run_id text NOT NULL,
        step_key text NOT NULL,
        tenant_id text NOT NULL,
        status text NOT NULL,
        attempt integer NOT NULL,
        run_id text,
        approval_id text,
        skipped_reason text,
        started_at bigint,
        finished_at bigint,
        PRIMARY KEY (pipeline_run_id, step_key)
      )`.execute(db)
      await sql`CREATE INDEX pipeline_run_steps_run_idx ON pipeline_run_steps (run_id)`.execute(db)
      await sql`CREATE INDEX pipeline_run_steps_approval_idx ON pipeline_run_steps (approval_id)`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      await sql`DROP TABLE pipeline_run_steps`.execute(db)
      await sql`DROP TABLE pipeline_runs`.execute(db)
      await sql`DROP TABLE pipeline_versions`.execute(db)
      await sql`DROP TABLE pipelines`.execute(db)
    },
  }
}
