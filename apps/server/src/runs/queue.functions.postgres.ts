import { claimWindowExtra } from './queue.ts'
import { eventPayloadSql } from './run-event.ts'

// PostgreSQL: a worker's busiest moments as one function call each (decisions 0014, 0024) — claiming
// one run, and settling one run while claiming the next. One round trip, one commit, and single-row
// statements whose plans are index lookups whatever the statistics say. Batches keep the set-based
// statements of queue.postgres.ts; the conformance test holds both to the same rows and events.
//
// Same semantics as those statements: the queue row is locked before the runs row; fencing on
// run_queue.lease_token; a key row is locked with SKIP LOCKED and its count bumped when a keyed run
// is claimed, lowered when its lease ends. The claim reads candidates through a cursor, one row at a
// time, so it locks only what it looks at (a FOR loop would fetch and lock ten at a time), and never
// waits on a lock: the settlement part may wait on a key row, a claim never does, so no two of these
// calls can wait on each other in a cycle. Each statement takes a fresh snapshot, so the claim sees
// the settlements committed meanwhile.
//
// Built from the same definitions as the statements (event payload, claim window), and created by
// migrations 0017 and 0019: a change to either needs a migration that runs these again.

export const settlementParameterColumns = [
  'id',
  'token',
  'status',
  'output',
  'result',
  'duration_ms',
  'error_code',
  'error_message',
  'error_retryable',
  'dead_lettered_at',
  'wait_reason',
  'wait_until',
  'correlation_key',
  'run_at',
  'refund',
  'finished_at',
] as const

export function queueFunctionsSql(): string[] {
  return [
    `CREATE FUNCTION run_claim_one(p_now bigint, p_worker text, p_lease_expires_at bigint, p_kinds text[])
RETURNS runs LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  candidates CURSOR FOR
    SELECT id, concurrency_key, concurrency_limit FROM run_queue
    WHERE lease_expires_at IS NULL AND run_at <= p_now AND kind = ANY(p_kinds)
    ORDER BY priority DESC, run_at, id
    LIMIT ${1 + claimWindowExtra}
    FOR UPDATE SKIP LOCKED;
  c record;
  v_running integer;
  v_token bigint;
  v_run runs;
BEGIN
  OPEN candidates;
  LOOP
    FETCH candidates INTO c;
    EXIT WHEN NOT FOUND;
    IF c.concurrency_key IS NOT NULL THEN
      SELECT running INTO v_running FROM run_keys WHERE key = c.concurrency_key FOR UPDATE SKIP LOCKED;
      CONTINUE WHEN NOT FOUND OR v_running >= c.concurrency_limit;
      UPDATE run_keys SET running = running + 1 WHERE key = c.concurrency_key;
    END IF;
    UPDATE run_queue SET lease_token = lease_token + 1, lease_expires_at = p_lease_expires_at
      WHERE id = c.id RETURNING lease_token INTO v_token;
    UPDATE runs SET status = 'running', attempt = attempt + 1, lease_token = v_token,
        lease_owner = p_worker, lease_expires_at = p_lease_expires_at, started_at = p_now,
        updated_at = p_now, wait_reason = NULL
      WHERE id = c.id RETURNING * INTO v_run;
    CLOSE candidates;
    RETURN v_run;
  END LOOP;
  CLOSE candidates;
  RETURN NULL;
END $$`,
    `CREATE FUNCTION run_settle_and_claim(
  p_id text, p_token bigint, p_status text, p_output text, p_result text, p_duration_ms integer,
  p_error_code text, p_error_message text, p_error_retryable integer, p_dead_lettered_at bigint,
  p_wait_reason text, p_wait_until bigint, p_correlation_key text, p_run_at bigint, p_refund integer,
  p_finished_at bigint, p_now bigint, p_worker text, p_lease_expires_at bigint, p_kinds text[]
) RETURNS json LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_settled boolean;
  v_run runs;
  v_claimed runs;
BEGIN
  IF p_status = 'pending' THEN
    UPDATE run_queue SET lease_expires_at = NULL, run_at = coalesce(p_run_at, run_at)
      WHERE id = p_id AND lease_token = p_token AND lease_expires_at IS NOT NULL;
  ELSE
    DELETE FROM run_queue WHERE id = p_id AND lease_token = p_token AND lease_expires_at IS NOT NULL;
  END IF;
  v_settled := FOUND;
  IF v_settled THEN
    UPDATE runs SET status = p_status, output = p_output, result = p_result, duration_ms = p_duration_ms,
        error_code = p_error_code, error_message = p_error_message,
        error_retryable = p_error_retryable, dead_lettered_at = p_dead_lettered_at,
        wait_reason = p_wait_reason, wait_until = p_wait_until, correlation_key = p_correlation_key,
        run_at = coalesce(p_run_at, run_at), attempt = attempt - p_refund,
        finished_at = p_finished_at, lease_owner = NULL, lease_expires_at = NULL, updated_at = p_now
      WHERE id = p_id AND lease_token = p_token AND status = 'running'
      RETURNING * INTO v_run;
    v_settled := FOUND;
    IF v_settled THEN
      INSERT INTO run_events (tenant_id, run_id, type, payload, created_at)
        VALUES (v_run.tenant_id, v_run.id, 'run.' || v_run.status, ${eventPayloadSql('v_run')}, p_now);
      IF v_run.concurrency_key IS NOT NULL THEN
        UPDATE run_keys SET running = greatest(0, running - 1) WHERE key = v_run.concurrency_key;
      END IF;
    END IF;
  END IF;
  IF p_kinds IS NOT NULL THEN
    v_claimed := run_claim_one(p_now, p_worker, p_lease_expires_at, p_kinds);
  END IF;
  RETURN json_build_object('settled', v_settled,
    'run', CASE WHEN v_claimed.id IS NULL THEN NULL ELSE row_to_json(v_claimed) END);
END $$`,
  ]
}
