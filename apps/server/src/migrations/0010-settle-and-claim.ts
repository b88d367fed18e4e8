import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../platform/db/database.ts'

// PostgreSQL: a worker's busiest moment — one run finished, one slot free — as one function call
// (decision 0014). It writes the settlement with its outbox event and claims the next due run, in one
// round trip and one commit instead of two of each, with single-row statements whose plans are index
// lookups whatever the table statistics say. Batches keep the set-based statements of queue.postgres.ts.
//
// Same semantics as those statements: fenced by the lease token on run_queue (locked first, then
// runs), the queue row deleted when the run leaves the queue or its lease cleared when it goes back to
// pending, one `run.<status>` event per accepted settlement. Each statement of a PL/pgSQL function
// takes a fresh snapshot, so the claim sees the settlements committed meanwhile; the claim only locks
// with SKIP LOCKED and never waits, so no two of these calls can wait on each other in a cycle.
// A due run with a concurrency key is not claimed here (`keyed`): the caller takes the slow path,
// which counts running runs per key under an advisory lock.
//
// Returns {"settled": bool, "keyed": bool, "run": the claimed runs row or null} as one json value:
// one column to parse, and it follows the runs table's columns without being rewritten for each new one.
// SQLite settles and claims in one transaction already (queue.sqlite.ts); nothing changes there.
export function settleAndClaim(dialect: DialectName) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: a migration runs against the schema as it was, not today's types
    async up(db: Kysely<any>) {
      if (dialect !== 'postgres') return
      // SET search_path FROM CURRENT: the function finds this schema's tables whoever calls it.
      await sql`CREATE FUNCTION run_settle_and_claim(
  p_id text, p_token bigint, p_status text, p_output text, p_output_hash text, p_is_new integer,
  p_tokens_in integer, p_tokens_out integer, p_cost_usd float8, p_duration_ms integer,
  p_error_code text, p_error_message text, p_error_retryable integer, p_dead_lettered_at bigint,
  p_wait_reason text, p_run_at bigint, p_refund integer, p_finished_at bigint, p_now bigint,
  p_worker text, p_lease_expires_at bigint
) RETURNS json LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_settled boolean;
  v_keyed boolean := false;
  v_run runs;
  v_claimed runs;
  v_id text;
  v_key text;
  v_token bigint;
BEGIN
  IF p_status = 'pending' THEN
    UPDATE run_queue SET lease_expires_at = NULL, run_at = coalesce(p_run_at, run_at)
      WHERE id = p_id AND lease_token = p_token AND lease_expires_at IS NOT NULL;
  ELSE
    DELETE FROM run_queue WHERE id = p_id AND lease_token = p_token AND lease_expires_at IS NOT NULL;
  END IF;
  v_settled := FOUND;
  IF v_settled THEN
    UPDATE runs SET status = p_status, output = p_output, output_hash = p_output_hash, is_new = p_is_new,
        tokens_in = p_tokens_in, tokens_out = p_tokens_out, cost_usd = p_cost_usd,
        duration_ms = p_duration_ms, error_code = p_error_code, error_message = p_error_message,
        error_retryable = p_error_retryable, dead_lettered_at = p_dead_lettered_at,
        wait_reason = p_wait_reason, run_at = coalesce(p_run_at, run_at), attempt = attempt - p_refund,
        finished_at = p_finished_at, lease_owner = NULL, lease_expires_at = NULL, updated_at = p_now
      WHERE id = p_id AND lease_token = p_token AND status = 'running'
      RETURNING * INTO v_run;
    v_settled := FOUND;
    IF v_settled THEN
      INSERT INTO run_events (tenant_id, run_id, type, payload, created_at)
        VALUES (v_run.tenant_id, v_run.id, 'run.' || v_run.status,
          json_build_object('runId', v_run.id, 'tenantId', v_run.tenant_id, 'kind', v_run.kind,
            'botId', v_run.bot_id, 'status', v_run.status, 'attempt', v_run.attempt,
            'error', CASE WHEN v_run.error_code IS NULL THEN NULL
              ELSE json_build_object('code', v_run.error_code, 'message', v_run.error_message) END)::text,
          p_now);
    END IF;
  END IF;
  SELECT id, concurrency_key INTO v_id, v_key FROM run_queue
    WHERE lease_expires_at IS NULL AND run_at <= p_now
    ORDER BY priority DESC, run_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
  IF v_key IS NOT NULL THEN
    v_keyed := true;
  ELSIF v_id IS NOT NULL THEN
    UPDATE run_queue SET lease_token = lease_token + 1, lease_expires_at = p_lease_expires_at
      WHERE id = v_id RETURNING lease_token INTO v_token;
    UPDATE runs SET status = 'running', attempt = attempt + 1, lease_token = v_token,
        lease_owner = p_worker, lease_expires_at = p_lease_expires_at, started_at = p_now,
        updated_at = p_now, wait_reason = NULL
      WHERE id = v_id
      RETURNING * INTO v_claimed;
  END IF;
  RETURN json_build_object('settled', v_settled, 'keyed', v_keyed,
    'run', CASE WHEN v_claimed.id IS NULL THEN NULL ELSE row_to_json(v_claimed) END);
END $$`.execute(db)
    },
    // biome-ignore lint/suspicious/noExplicitAny: see up()
    async down(db: Kysely<any>) {
      if (dialect !== 'postgres') return
      await sql`DROP FUNCTION run_settle_and_claim`.execute(db)
    },
  }
}
