-- Retry timing, step readiness and the task execution context: the read-only functions that the evaluation of a
-- task and the task discovery build on. Names and parameter names follow tasker-core; where its semantics had known
-- bugs they are fixed here (docs/architecture.md lists the differences).

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
