-- tasker-effect SQL functions: transitions (compare-and-set), readiness, execution context, task discovery
-- and DAG helpers. Names follow tasker-core; where its semantics had known bugs they are fixed here, and the
-- differences are listed in docs/architecture.md.

-- ---------------------------------------------------------------------------------------------------
-- Processors
-- ---------------------------------------------------------------------------------------------------

-- A processor is live while it has not stopped and its heartbeat is newer than the stale threshold.
-- A processor that never registered is not live: every engine process registers and heartbeats.
CREATE FUNCTION tasker_processor_is_live(p_processor_uuid uuid, p_stale_after_seconds integer DEFAULT 60)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  RETURN EXISTS (
    SELECT 1 FROM tasker_processors p
    WHERE p.processor_uuid = p_processor_uuid
      AND p.stopped_at IS NULL
      AND p.last_heartbeat_at > now() - make_interval(secs => p_stale_after_seconds)
  );
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Transition writers (internal: the caller holds the row lock and has checked the current state)
-- ---------------------------------------------------------------------------------------------------

-- Writes a sequence of task transitions — from p_from_state through each of p_to_states, with the matching
-- metadata — as one retire of the current row, one multi-row insert (only the last row most_recent) and one
-- update of the task row. Reading `previous` makes the UPDATE run before the INSERT, so the partial unique index
-- on most_recent is never violated.
CREATE FUNCTION tasker_write_task_transitions(
  p_task_uuid uuid, p_from_state varchar, p_to_states varchar[], p_processor_uuid uuid, p_metadatas jsonb[])
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_last varchar := p_to_states[cardinality(p_to_states)];
BEGIN
  WITH previous AS (
    UPDATE tasker_task_transitions SET most_recent = false, updated_at = now()
    WHERE task_uuid = p_task_uuid AND most_recent
    RETURNING sort_key
  ),
  base AS (SELECT COALESCE((SELECT max(sort_key) FROM previous), 0) AS sort_key)
  INSERT INTO tasker_task_transitions (task_uuid, to_state, from_state, metadata, sort_key, most_recent, processor_uuid)
  SELECT p_task_uuid, s.to_state, CASE WHEN s.ord = 1 THEN p_from_state ELSE p_to_states[s.ord - 1] END,
         COALESCE(p_metadatas[s.ord], '{}'::jsonb), base.sort_key + s.ord, s.ord = cardinality(p_to_states),
         p_processor_uuid
  FROM unnest(p_to_states) WITH ORDINALITY AS s(to_state, ord), base;

  UPDATE tasker_tasks SET
    current_state = v_last,
    complete      = complete OR v_last = 'complete',
    completed_at  = CASE WHEN v_last IN ('complete', 'error', 'cancelled', 'resolved_manually')
                         THEN now() ELSE completed_at END,
    updated_at    = now()
  WHERE task_uuid = p_task_uuid;

  -- waiters (waitForCompletion) learn on commit that the task finished or stopped on failures
  IF v_last IN ('complete', 'error', 'cancelled', 'resolved_manually', 'blocked_by_failures') THEN
    PERFORM pg_notify('tasker_queue', 'task:' || p_task_uuid || ':' || v_last);
  END IF;
END
$fn$;

CREATE FUNCTION tasker_write_task_transition(
  p_task_uuid uuid, p_from_state varchar, p_to_state varchar, p_processor_uuid uuid, p_metadata jsonb)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM tasker_write_task_transitions(p_task_uuid, p_from_state, ARRAY[p_to_state], p_processor_uuid,
                                        ARRAY[COALESCE(p_metadata, '{}'::jsonb)]);
END
$fn$;

-- Writes a step transition and its row effects; returns the step's attempts after the write.
CREATE FUNCTION tasker_write_step_transition(
  p_step_uuid uuid, p_from_state varchar, p_to_state varchar, p_processor_uuid uuid, p_metadata jsonb,
  p_results jsonb)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  v_attempts integer;
BEGIN
  WITH previous AS (
    UPDATE tasker_workflow_step_transitions SET most_recent = false, updated_at = now()
    WHERE workflow_step_uuid = p_step_uuid AND most_recent
    RETURNING sort_key
  )
  INSERT INTO tasker_workflow_step_transitions
    (workflow_step_uuid, to_state, from_state, metadata, sort_key, most_recent, processor_uuid)
  VALUES (p_step_uuid, p_to_state, p_from_state, COALESCE(p_metadata, '{}'::jsonb),
          COALESCE((SELECT max(sort_key) FROM previous), 0) + 1, true, p_processor_uuid);

  UPDATE tasker_workflow_steps SET
    current_state = p_to_state,
    -- a claim counts an attempt
    attempts = CASE
      WHEN p_to_state = 'in_progress' THEN attempts + 1
      -- a step given back unfinished (graceful shutdown) does not use up the attempt
      WHEN p_to_state = 'enqueued' AND p_from_state = 'in_progress' THEN GREATEST(attempts - 1, 0)
      -- an operator's retry of a failed step grants a fresh attempt budget
      WHEN p_to_state = 'pending' AND p_from_state = 'error' THEN 0
      ELSE attempts END,
    last_attempted_at = CASE WHEN p_to_state = 'in_progress' THEN now() ELSE last_attempted_at END,
    backoff_request_seconds = CASE
      WHEN p_to_state = 'pending' AND p_from_state = 'error' THEN NULL
      ELSE backoff_request_seconds END,
    in_process = (p_to_state = 'in_progress'),
    processed = CASE
      WHEN p_to_state IN ('complete', 'cancelled', 'resolved_manually') THEN true
      WHEN p_to_state = 'pending' THEN false
      ELSE processed END,
    processed_at = CASE
      WHEN p_to_state IN ('complete', 'cancelled', 'resolved_manually') THEN now()
      WHEN p_to_state = 'pending' THEN NULL
      ELSE processed_at END,
    retry_at = CASE WHEN p_to_state = 'waiting_for_retry' THEN
      calculate_step_next_retry_time(backoff_request_seconds, last_attempted_at, now(), attempts, backoff,
                                     backoff_base_ms, max_backoff_ms) END,
    results = CASE
      WHEN p_results IS NOT NULL AND p_to_state IN ('enqueued_for_orchestration', 'enqueued_as_error_for_orchestration',
                                                  'complete', 'error', 'waiting_for_retry', 'resolved_manually')
        THEN p_results
      ELSE results END,
    updated_at = now()
  WHERE workflow_step_uuid = p_step_uuid
  RETURNING attempts INTO v_attempts;

  RETURN v_attempts;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Compare-and-set transitions
-- ---------------------------------------------------------------------------------------------------

-- Moves a task from p_from_state to p_to_state only if p_from_state is still its current state (checked
-- under the task's row lock) and, when the current state is owned (initializing, enqueuing_steps,
-- evaluating_results), the owner is the caller, nobody, or a processor that is no longer live.
-- p_from_state NULL writes the initial transition of a task that has none.
-- Returns no row for an unknown task; otherwise one row: transitioned, the state after the call and the
-- processor owning the current state (on failure: the state and owner that made it fail).
CREATE FUNCTION transition_task_state_atomic(
  p_task_uuid uuid, p_from_state varchar, p_to_state varchar, p_processor_uuid uuid,
  p_metadata jsonb DEFAULT '{}'::jsonb, p_stale_after_seconds integer DEFAULT 60)
RETURNS TABLE (transitioned boolean, current_state varchar, owner_processor_uuid uuid)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state varchar;
  v_has_transitions boolean;
  v_owner uuid;
BEGIN
  SELECT t.current_state INTO v_state FROM tasker_tasks t WHERE t.task_uuid = p_task_uuid FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;

  SELECT true, tt.processor_uuid INTO v_has_transitions, v_owner
  FROM tasker_task_transitions tt WHERE tt.task_uuid = p_task_uuid AND tt.most_recent;
  v_has_transitions := COALESCE(v_has_transitions, false);
  IF v_state NOT IN ('initializing', 'enqueuing_steps', 'evaluating_results') THEN
    v_owner := NULL;
  END IF;

  IF (p_from_state IS NULL AND v_has_transitions) OR (p_from_state IS NOT NULL AND p_from_state <> v_state) THEN
    RETURN QUERY SELECT false, v_state, v_owner;
    RETURN;
  END IF;

  IF v_owner IS NOT NULL AND v_owner IS DISTINCT FROM p_processor_uuid
     AND tasker_processor_is_live(v_owner, p_stale_after_seconds) THEN
    RETURN QUERY SELECT false, v_state, v_owner;
    RETURN;
  END IF;

  PERFORM tasker_write_task_transition(p_task_uuid, p_from_state, p_to_state, p_processor_uuid, p_metadata);
  RETURN QUERY SELECT true, p_to_state,
    CASE WHEN p_to_state IN ('initializing', 'enqueuing_steps', 'evaluating_results') THEN p_processor_uuid END;
END
$fn$;

-- Moves a step from p_from_state to p_to_state only if p_from_state is still its current state (checked under
-- the step's row lock) and, when p_expected_attempts is given, the step's attempts still equal it (so a worker
-- whose claim was superseded by a later claim cannot write a result). Applies the row effects of the target
-- state (attempts and in_process on claim, results, processed flags). Returns no row for an unknown step.
CREATE FUNCTION transition_step_state_atomic(
  p_step_uuid uuid, p_from_state varchar, p_to_state varchar,
  p_metadata jsonb DEFAULT '{}'::jsonb, p_results jsonb DEFAULT NULL,
  p_processor_uuid uuid DEFAULT NULL, p_expected_attempts integer DEFAULT NULL)
RETURNS TABLE (transitioned boolean, current_state varchar, attempts integer)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state varchar;
  v_attempts integer;
  v_has_transitions boolean;
BEGIN
  SELECT ws.current_state, ws.attempts INTO v_state, v_attempts
  FROM tasker_workflow_steps ws WHERE ws.workflow_step_uuid = p_step_uuid FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;

  IF p_from_state IS NULL THEN
    SELECT EXISTS (SELECT 1 FROM tasker_workflow_step_transitions st
                   WHERE st.workflow_step_uuid = p_step_uuid) INTO v_has_transitions;
  END IF;

  IF (p_from_state IS NULL AND v_has_transitions) OR (p_from_state IS NOT NULL AND p_from_state <> v_state)
     OR (p_expected_attempts IS NOT NULL AND p_expected_attempts <> v_attempts) THEN
    RETURN QUERY SELECT false, v_state, v_attempts;
    RETURN;
  END IF;

  v_attempts := tasker_write_step_transition(p_step_uuid, p_from_state, p_to_state, p_processor_uuid,
                                             p_metadata, p_results);
  RETURN QUERY SELECT true, p_to_state, v_attempts;
END
$fn$;

CREATE FUNCTION get_current_task_state(p_task_uuid uuid) RETURNS varchar
LANGUAGE sql STABLE AS $fn$
  SELECT t.current_state FROM tasker_tasks t WHERE t.task_uuid = p_task_uuid
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Retry timing and step readiness
-- ---------------------------------------------------------------------------------------------------

-- Delay before retry number `attempts` (1 = the first retry) under a step's backoff policy, capped at
-- p_max_ms: none = 0; linear = base * n; exponential = base * 2^(n-1); fibonacci = base * fib(n) (1, 1, 2, 3, 5…).
-- A single expression (no FROM, immutable parts only) so the planner inlines it into the readiness queries.
CREATE FUNCTION calculate_backoff_delay(
  p_attempts integer, p_backoff varchar DEFAULT 'exponential', p_base_ms integer DEFAULT 1000,
  p_max_ms integer DEFAULT 30000)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT make_interval(secs => LEAST(p_max_ms::double precision, GREATEST(0::double precision, CASE p_backoff
      WHEN 'none' THEN 0::double precision
      WHEN 'linear' THEN p_base_ms::double precision * LEAST(GREATEST(COALESCE(p_attempts, 1), 1), 60)
      WHEN 'fibonacci' THEN p_base_ms::double precision
        * round(power(1.6180339887498949::double precision, LEAST(GREATEST(COALESCE(p_attempts, 1), 1), 60))
                / 2.2360679774997897::double precision)
      ELSE p_base_ms::double precision
        * power(2::double precision, LEAST(GREATEST(COALESCE(p_attempts, 1), 1), 60) - 1)
    END)) / 1000.0)
$fn$;

-- When a failed step may run again: the backoff — an explicit request (the engine always records one), else the
-- step's policy — counts from the failure (from the last attempt when no failure time is known). NULL when the step
-- never failed and has no request.
CREATE FUNCTION calculate_step_next_retry_time(
  backoff_request_seconds double precision, last_attempted_at timestamptz, failure_time timestamptz, attempts integer,
  backoff varchar DEFAULT 'exponential', backoff_base_ms integer DEFAULT 1000, max_backoff_ms integer DEFAULT 30000)
RETURNS timestamptz
-- STABLE (timestamptz arithmetic is), so that it can be inlined
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT CASE
    WHEN backoff_request_seconds IS NOT NULL AND COALESCE(failure_time, last_attempted_at) IS NOT NULL
      THEN COALESCE(failure_time, last_attempted_at) + make_interval(secs => backoff_request_seconds)
    WHEN failure_time IS NOT NULL
      THEN failure_time + calculate_backoff_delay(attempts, backoff, backoff_base_ms, max_backoff_ms)
    ELSE NULL
  END
$fn$;

-- A step may run when it is pending or waiting for a retry, is neither processed nor in process, its parents
-- are all complete (or resolved manually), it has an attempt left, and its retry time (if any) has come.
-- `retryable` is part of retry_eligible and kept in the signature for compatibility.
CREATE FUNCTION evaluate_step_state_readiness(
  current_state text, processed boolean, in_process boolean, dependencies_satisfied boolean,
  retry_eligible boolean, retryable boolean, next_retry_time timestamptz)
RETURNS boolean
LANGUAGE sql STABLE AS $fn$
  SELECT COALESCE(current_state, 'pending') IN ('pending', 'waiting_for_retry')
     AND NOT COALESCE(processed, false)
     AND NOT COALESCE(in_process, false)
     AND COALESCE(dependencies_satisfied, false)
     AND COALESCE(retry_eligible, false)
     AND (next_retry_time IS NULL OR next_retry_time <= now())
$fn$;

-- One row per step of the given tasks (optionally only the given steps), ordered by task, step.
-- The readiness rule is evaluate_step_state_readiness() written out in place (with next_retry_at computed once
-- per row in its own lateral), which keeps the whole query inlinable and about twice as fast as calling it.
CREATE FUNCTION get_step_readiness_status_batch(input_task_uuids uuid[], step_uuids uuid[] DEFAULT NULL)
RETURNS TABLE (
  workflow_step_uuid uuid, task_uuid uuid, named_step_uuid uuid, name text, current_state text,
  dependencies_satisfied boolean, retry_eligible boolean, ready_for_execution boolean,
  last_failure_at timestamptz, next_retry_at timestamptz, total_parents integer, completed_parents integer,
  attempts integer, max_attempts integer, backoff_request_seconds double precision, last_attempted_at timestamptz)
LANGUAGE sql STABLE AS $fn$
  SELECT
    ws.workflow_step_uuid, ws.task_uuid, ws.named_step_uuid, ns.name::text, ws.current_state::text,
    p.total_parents = p.completed_parents,
    (ws.attempts = 0 OR (ws.retryable AND ws.attempts < GREATEST(ws.max_attempts, 1))),
    ws.current_state IN ('pending', 'waiting_for_retry')
      AND NOT ws.processed
      AND NOT ws.in_process
      AND p.total_parents = p.completed_parents
      AND (ws.attempts = 0 OR (ws.retryable AND ws.attempts < GREATEST(ws.max_attempts, 1)))
      AND (nr.next_retry_at IS NULL OR nr.next_retry_at <= now()),
    f.last_failure_at, nr.next_retry_at, p.total_parents, p.completed_parents, ws.attempts, ws.max_attempts,
    ws.backoff_request_seconds, ws.last_attempted_at
  FROM tasker_workflow_steps ws
  JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  CROSS JOIN LATERAL (
    SELECT count(*)::integer AS total_parents,
           count(*) FILTER (WHERE parent.current_state IN ('complete', 'resolved_manually'))::integer AS completed_parents
    FROM tasker_workflow_step_edges e
    JOIN tasker_workflow_steps parent ON parent.workflow_step_uuid = e.from_step_uuid
    WHERE e.to_step_uuid = ws.workflow_step_uuid
  ) p
  CROSS JOIN LATERAL (
    SELECT max(st.created_at) AS last_failure_at
    FROM tasker_workflow_step_transitions st
    WHERE st.workflow_step_uuid = ws.workflow_step_uuid AND st.to_state IN ('error', 'waiting_for_retry')
  ) f
  CROSS JOIN LATERAL (
    -- attempts = 0 after an operator's retry: no backoff applies
    SELECT CASE WHEN ws.attempts > 0 THEN
             calculate_step_next_retry_time(ws.backoff_request_seconds, ws.last_attempted_at, f.last_failure_at,
                                            ws.attempts, ws.backoff, ws.backoff_base_ms, ws.max_backoff_ms)
           END AS next_retry_at
    OFFSET 0
  ) nr
  WHERE ws.task_uuid = ANY (input_task_uuids)
    AND (step_uuids IS NULL OR ws.workflow_step_uuid = ANY (step_uuids))
  ORDER BY ws.task_uuid, ws.workflow_step_uuid
$fn$;

CREATE FUNCTION get_step_readiness_status(input_task_uuid uuid, step_uuids uuid[] DEFAULT NULL)
RETURNS TABLE (
  workflow_step_uuid uuid, task_uuid uuid, named_step_uuid uuid, name text, current_state text,
  dependencies_satisfied boolean, retry_eligible boolean, ready_for_execution boolean,
  last_failure_at timestamptz, next_retry_at timestamptz, total_parents integer, completed_parents integer,
  attempts integer, max_attempts integer, backoff_request_seconds double precision, last_attempted_at timestamptz)
LANGUAGE sql STABLE AS $fn$
  SELECT * FROM get_step_readiness_status_batch(ARRAY[input_task_uuid], step_uuids)
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Task execution context
-- ---------------------------------------------------------------------------------------------------

-- One row per existing task, in input order. Step counts by current state, then (first rule wins):
--   execution_status: has_ready_steps | processing | blocked_by_failures | all_complete | waiting_for_retry
--                     | waiting_for_dependencies
--   recommended_action: execute_ready_steps | wait_for_completion | handle_failures | finalize_task
--                       | wait_for_retry | wait_for_dependencies
--   health_status: blocked (permanent failures, nothing ready) | recovering (failures with work left, or
--                  retries pending) | healthy
-- `processing` covers enqueued, in_progress and both enqueued_*_for_orchestration states; a step in `error`
-- is a permanent failure (retryable failures wait in waiting_for_retry), and a cancelled step blocks as well.
CREATE FUNCTION get_task_execution_contexts_batch(input_task_uuids uuid[])
RETURNS TABLE (
  task_uuid uuid, named_task_uuid uuid, status text, total_steps integer, pending_steps integer,
  in_progress_steps integer, completed_steps integer, failed_steps integer, ready_steps integer,
  execution_status text, recommended_action text, completion_percentage double precision, health_status text,
  enqueued_steps integer, waiting_for_retry_steps integer, blocked_steps integer)
LANGUAGE sql STABLE AS $fn$
  WITH counts AS (
    SELECT r.task_uuid,
      count(*)::integer AS total,
      count(*) FILTER (WHERE r.current_state = 'pending')::integer AS pending,
      count(*) FILTER (WHERE r.current_state = 'in_progress')::integer AS in_progress,
      count(*) FILTER (WHERE r.current_state IN ('enqueued', 'enqueued_for_orchestration',
                                                 'enqueued_as_error_for_orchestration'))::integer AS enqueued,
      count(*) FILTER (WHERE r.current_state IN ('complete', 'resolved_manually'))::integer AS completed,
      count(*) FILTER (WHERE r.current_state = 'error')::integer AS failed,
      count(*) FILTER (WHERE r.current_state IN ('error', 'cancelled'))::integer AS blocked,
      count(*) FILTER (WHERE r.current_state = 'waiting_for_retry')::integer AS retrying,
      count(*) FILTER (WHERE r.ready_for_execution)::integer AS ready
    FROM get_step_readiness_status_batch(input_task_uuids) r
    GROUP BY r.task_uuid
  ),
  c AS (
    SELECT t.task_uuid, t.named_task_uuid, t.current_state, u.ord,
      COALESCE(k.total, 0) AS total, COALESCE(k.pending, 0) AS pending,
      COALESCE(k.in_progress, 0) AS in_progress, COALESCE(k.enqueued, 0) AS enqueued,
      COALESCE(k.completed, 0) AS completed, COALESCE(k.failed, 0) AS failed, COALESCE(k.blocked, 0) AS blocked,
      COALESCE(k.retrying, 0) AS retrying, COALESCE(k.ready, 0) AS ready
    FROM unnest(input_task_uuids) WITH ORDINALITY AS u(task_uuid, ord)
    JOIN tasker_tasks t ON t.task_uuid = u.task_uuid
    LEFT JOIN counts k ON k.task_uuid = t.task_uuid
  )
  SELECT c.task_uuid, c.named_task_uuid, c.current_state::text, c.total, c.pending, c.in_progress, c.completed,
    c.failed, c.ready,
    CASE
      WHEN c.ready > 0 THEN 'has_ready_steps'
      WHEN c.in_progress + c.enqueued > 0 THEN 'processing'
      WHEN c.blocked > 0 THEN 'blocked_by_failures'
      WHEN c.completed = c.total THEN 'all_complete'
      WHEN c.retrying > 0 THEN 'waiting_for_retry'
      ELSE 'waiting_for_dependencies'
    END,
    CASE
      WHEN c.ready > 0 THEN 'execute_ready_steps'
      WHEN c.in_progress + c.enqueued > 0 THEN 'wait_for_completion'
      WHEN c.blocked > 0 THEN 'handle_failures'
      WHEN c.completed = c.total THEN 'finalize_task'
      WHEN c.retrying > 0 THEN 'wait_for_retry'
      ELSE 'wait_for_dependencies'
    END,
    CASE WHEN c.total = 0 THEN 100.0::double precision
         ELSE round(100.0 * c.completed / c.total, 2)::double precision END,
    CASE
      WHEN c.blocked > 0 AND c.ready = 0 THEN 'blocked'
      WHEN c.blocked > 0 OR c.retrying > 0 THEN 'recovering'
      ELSE 'healthy'
    END,
    c.enqueued, c.retrying, c.blocked
  FROM c
  ORDER BY c.ord
$fn$;

CREATE FUNCTION get_task_execution_context(input_task_uuid uuid)
RETURNS TABLE (
  task_uuid uuid, named_task_uuid uuid, status text, total_steps integer, pending_steps integer,
  in_progress_steps integer, completed_steps integer, failed_steps integer, ready_steps integer,
  execution_status text, recommended_action text, completion_percentage double precision, health_status text,
  enqueued_steps integer, waiting_for_retry_steps integer, blocked_steps integer)
LANGUAGE sql STABLE AS $fn$
  SELECT * FROM get_task_execution_contexts_batch(ARRAY[input_task_uuid])
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Task discovery and claiming
-- ---------------------------------------------------------------------------------------------------

-- Writes one claim transition per task (tasks[i]: from_states[i] -> to_states[i], metadata {"event": events[i]},
-- owner p_processor_uuid) in three statements for the whole batch. The caller holds the tasks' row locks and has
-- checked their states. Claims never enter a terminal state, so there is nothing to notify. (PL/pgSQL rather
-- than SQL: its statements' plans are cached for the session.)
CREATE FUNCTION tasker_write_claim_transitions(
  p_task_uuids uuid[], p_from_states varchar[], p_to_states varchar[], p_events text[], p_processor_uuid uuid)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  WITH claims AS (
    SELECT * FROM unnest(p_task_uuids, p_from_states, p_to_states, p_events) AS u(task_uuid, from_state, to_state, event)
  ),
  previous AS (
    UPDATE tasker_task_transitions tt SET most_recent = false, updated_at = now()
    FROM claims WHERE tt.task_uuid = claims.task_uuid AND tt.most_recent
    RETURNING tt.task_uuid, tt.sort_key
  )
  INSERT INTO tasker_task_transitions (task_uuid, to_state, from_state, metadata, sort_key, most_recent, processor_uuid)
  SELECT claims.task_uuid, claims.to_state, claims.from_state, jsonb_build_object('event', claims.event),
         COALESCE(previous.sort_key, 0) + 1, true, p_processor_uuid
  FROM claims LEFT JOIN previous ON previous.task_uuid = claims.task_uuid;

  UPDATE tasker_tasks t SET current_state = u.to_state, updated_at = now()
  FROM unnest(p_task_uuids, p_to_states) AS u(task_uuid, to_state)
  WHERE t.task_uuid = u.task_uuid;
END
$fn$;

-- Finds up to p_limit tasks that need an orchestrator and claims them for p_processor_uuid, so that two
-- concurrent callers never receive the same task:
--   * tasks in an owned state whose owner is no longer live are taken over (same state, new owner);
--   * pending tasks move to initializing;
--   * waiting_for_dependencies / waiting_for_retry tasks move to evaluating_results when there is something to
--     evaluate (ready steps, all steps complete, or a permanent failure);
--   * steps_in_process tasks with a failed step whose retry time has come move to evaluating_results.
-- Candidates are taken in computed-priority order (priority + 0.1 per hour of age) and locked with FOR UPDATE
-- SKIP LOCKED (only those that will be claimed); at most 10 x p_limit pending/waiting candidates are examined
-- per call. Returns the claimed tasks with the state they
-- were found in (current_state) and the state they were claimed into (claimed_state).
CREATE FUNCTION get_next_ready_tasks(
  p_limit integer, p_processor_uuid uuid, p_stale_after_seconds integer DEFAULT 60)
RETURNS TABLE (
  task_uuid uuid, task_name varchar, priority integer, namespace_name varchar, ready_steps_count integer,
  computed_priority double precision, current_state varchar, claimed_state varchar, execution_status text)
LANGUAGE plpgsql AS $fn$
DECLARE
  c record;
  v_ctx record;
  v_claim varchar;
  v_event text;
  v_owner uuid;
  v_claimed integer := 0;
  v_candidates uuid[];
  v_chunk_start integer;
  v_uuids uuid[] := '{}';
  v_froms varchar[] := '{}';
  v_tos varchar[] := '{}';
  v_events text[] := '{}';
BEGIN
  IF p_limit IS NULL OR p_limit <= 0 THEN
    RETURN;
  END IF;

  -- 1. tasks stranded in an owned state by a processor that is gone
  FOR c IN
    SELECT t.task_uuid, nt.name AS task_name, t.priority, ns.name AS namespace_name, t.current_state,
           tt.processor_uuid,
           (t.priority + 0.1 * extract(epoch FROM (now() - t.created_at)) / 3600.0)::double precision AS computed_priority
    FROM tasker_tasks t
    JOIN tasker_task_transitions tt ON tt.task_uuid = t.task_uuid AND tt.most_recent
    JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
    JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
    WHERE t.current_state IN ('initializing', 'enqueuing_steps', 'evaluating_results')
      AND (tt.processor_uuid IS NULL
           OR (tt.processor_uuid <> p_processor_uuid
               AND NOT tasker_processor_is_live(tt.processor_uuid, p_stale_after_seconds)))
    ORDER BY tasker_priority_key(t.priority, t.created_at)
    LIMIT p_limit
    FOR UPDATE OF t SKIP LOCKED
  LOOP
    EXIT WHEN v_claimed >= p_limit;
    SELECT * INTO v_ctx FROM get_task_execution_context(c.task_uuid);
    PERFORM tasker_write_task_transition(c.task_uuid, c.current_state, c.current_state, p_processor_uuid,
      jsonb_build_object('event', 'TakeOver', 'previous_processor_uuid', c.processor_uuid));
    v_claimed := v_claimed + 1;
    RETURN QUERY SELECT c.task_uuid, c.task_name, c.priority, c.namespace_name, v_ctx.ready_steps,
      c.computed_priority, c.current_state, c.current_state, v_ctx.execution_status;
  END LOOP;

  -- 2. pending and waiting tasks, set-based: the candidates (unlocked, in priority order) are examined in
  --    chunks of p_limit; each chunk's execution contexts come from one batch call, its claimable tasks are
  --    locked in one statement (SKIP LOCKED; the state is re-checked on the locked row) and every claim's
  --    transition is written by one call of tasker_write_claim_transitions at the end.
  v_candidates := ARRAY(
    SELECT t.task_uuid FROM tasker_tasks t
    WHERE t.current_state IN ('pending', 'waiting_for_dependencies', 'waiting_for_retry')
    ORDER BY tasker_priority_key(t.priority, t.created_at)
    LIMIT p_limit * 10);
  v_chunk_start := 1;
  WHILE v_claimed < p_limit AND v_chunk_start <= cardinality(v_candidates) LOOP
    FOR c IN
      SELECT t.task_uuid, nt.name AS task_name, t.priority, ns.name AS namespace_name, t.current_state,
             (t.priority + 0.1 * extract(epoch FROM (now() - t.created_at)) / 3600.0)::double precision AS computed_priority,
             x.ready_steps, x.execution_status
      FROM get_task_execution_contexts_batch(v_candidates[v_chunk_start : v_chunk_start + p_limit - 1]) x
      JOIN tasker_tasks t ON t.task_uuid = x.task_uuid
      JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
      JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
      WHERE t.current_state IN ('pending', 'waiting_for_dependencies', 'waiting_for_retry')
        AND (t.current_state = 'pending'
             OR x.execution_status IN ('has_ready_steps', 'all_complete', 'blocked_by_failures'))
      ORDER BY tasker_priority_key(t.priority, t.created_at)
      LIMIT p_limit - v_claimed
      FOR UPDATE OF t SKIP LOCKED
    LOOP
      IF c.current_state = 'pending' THEN
        v_claim := 'initializing';
        v_event := 'Start';
      ELSE
        v_claim := 'evaluating_results';
        v_event := CASE c.current_state WHEN 'waiting_for_retry' THEN 'RetryReady' ELSE 'DependenciesReady' END;
      END IF;
      v_claimed := v_claimed + 1;
      v_uuids := v_uuids || c.task_uuid;
      v_froms := v_froms || c.current_state;
      v_tos := v_tos || v_claim;
      v_events := v_events || v_event;
      RETURN QUERY SELECT c.task_uuid, c.task_name, c.priority, c.namespace_name, c.ready_steps,
        c.computed_priority, c.current_state, v_claim, c.execution_status;
    END LOOP;
    v_chunk_start := v_chunk_start + p_limit;
  END LOOP;
  IF cardinality(v_uuids) > 0 THEN
    PERFORM tasker_write_claim_transitions(v_uuids, v_froms, v_tos, v_events, p_processor_uuid);
  END IF;

  -- 3. tasks with steps still running whose failed step's retry time has come: evaluate them now rather than
  --    when the running steps finish
  IF v_claimed < p_limit THEN
    FOR c IN
      SELECT t.task_uuid, nt.name AS task_name, t.priority, ns.name AS namespace_name, t.current_state,
             (t.priority + 0.1 * extract(epoch FROM (now() - t.created_at)) / 3600.0)::double precision AS computed_priority
      FROM tasker_tasks t
      JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
      JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
      WHERE t.current_state = 'steps_in_process'
        AND t.task_uuid IN (
          SELECT ws.task_uuid FROM tasker_workflow_steps ws
          WHERE ws.retry_at <= now() AND ws.current_state = 'waiting_for_retry')
      ORDER BY tasker_priority_key(t.priority, t.created_at)
      LIMIT p_limit - v_claimed
      FOR UPDATE OF t SKIP LOCKED
    LOOP
      SELECT * INTO v_ctx FROM get_task_execution_context(c.task_uuid);
      PERFORM tasker_write_task_transition(c.task_uuid, 'steps_in_process', 'evaluating_results', p_processor_uuid,
        '{"event": "RetryReady"}'::jsonb);
      v_claimed := v_claimed + 1;
      RETURN QUERY SELECT c.task_uuid, c.task_name, c.priority, c.namespace_name, v_ctx.ready_steps,
        c.computed_priority, c.current_state, 'evaluating_results'::varchar, v_ctx.execution_status;
    END LOOP;
  END IF;
END
$fn$;

-- The same row for one task in any state, without claiming it (NULL claimed_state).
CREATE FUNCTION get_task_ready_info(p_task_uuid uuid)
RETURNS TABLE (
  task_uuid uuid, task_name varchar, priority integer, namespace_name varchar, ready_steps_count integer,
  computed_priority double precision, current_state varchar, claimed_state varchar, execution_status text)
LANGUAGE sql STABLE AS $fn$
  SELECT t.task_uuid, nt.name, t.priority, ns.name, ctx.ready_steps,
    (t.priority + 0.1 * extract(epoch FROM (now() - t.created_at)) / 3600.0)::double precision,
    t.current_state, NULL::varchar, ctx.execution_status
  FROM tasker_tasks t
  JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
  CROSS JOIN LATERAL get_task_execution_context(t.task_uuid) ctx
  WHERE t.task_uuid = p_task_uuid
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- DAG helpers
-- ---------------------------------------------------------------------------------------------------

-- Every ancestor of a step once, at its shortest distance (1 = parent), nearest first (capped at 50).
CREATE FUNCTION get_step_transitive_dependencies(target_step_uuid uuid)
RETURNS TABLE (
  workflow_step_uuid uuid, task_uuid uuid, named_step_uuid uuid, step_name varchar, results jsonb,
  processed boolean, distance integer)
LANGUAGE sql STABLE AS $fn$
  WITH RECURSIVE ancestors (step_uuid, distance) AS (
    SELECT e.from_step_uuid, 1
    FROM tasker_workflow_step_edges e
    WHERE e.to_step_uuid = target_step_uuid
    UNION
    SELECT e.from_step_uuid, a.distance + 1
    FROM ancestors a
    JOIN tasker_workflow_step_edges e ON e.to_step_uuid = a.step_uuid
    WHERE a.distance < 50
  ),
  nearest AS (
    SELECT a.step_uuid, min(a.distance) AS distance FROM ancestors a GROUP BY a.step_uuid
  )
  SELECT ws.workflow_step_uuid, ws.task_uuid, ws.named_step_uuid, ns.name, ws.results, ws.processed,
         n.distance
  FROM nearest n
  JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = n.step_uuid
  JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
  ORDER BY n.distance, ns.name
$fn$;

-- Dependency level of each step of a task: roots 0, otherwise the longest path from a root.
CREATE FUNCTION calculate_dependency_levels(input_task_uuid uuid)
RETURNS TABLE (workflow_step_uuid uuid, dependency_level integer)
LANGUAGE sql STABLE AS $fn$
  WITH RECURSIVE levels (step_uuid, level) AS (
    SELECT ws.workflow_step_uuid, 0
    FROM tasker_workflow_steps ws
    WHERE ws.task_uuid = input_task_uuid
      AND NOT EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.to_step_uuid = ws.workflow_step_uuid)
    UNION
    SELECT e.to_step_uuid, l.level + 1
    FROM levels l
    JOIN tasker_workflow_step_edges e ON e.from_step_uuid = l.step_uuid
    WHERE l.level < 50
  )
  SELECT l.step_uuid, max(l.level)::integer FROM levels l GROUP BY l.step_uuid ORDER BY 2, 1
$fn$;
