-- Task discovery: finding the tasks that need an orchestrator and claiming them (get_next_ready_tasks), and the
-- same row for one task without a claim (get_task_ready_info).

-- Writes one claim transition per task (tasks[i]: from_states[i] -> to_states[i], metadata {"event": events[i]},
-- owner p_processor_uuid) in two statements for the whole batch. The caller holds the tasks' row locks and has
-- checked their states. Claims never enter a terminal state, so there is nothing to notify. (PL/pgSQL rather
-- than SQL: its statements' plans are cached for the session.)
CREATE FUNCTION tasker_write_claim_transitions(
  p_task_uuids uuid[], p_from_states varchar[], p_to_states varchar[], p_events text[], p_processor_uuid uuid)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO tasker_task_transitions (task_uuid, sort_key, to_state, from_state, metadata, processor_uuid)
  SELECT u.task_uuid,
         COALESCE((SELECT max(tt.sort_key) FROM tasker_task_transitions tt WHERE tt.task_uuid = u.task_uuid), 0) + 1,
         u.to_state, u.from_state, jsonb_build_object('event', u.event), p_processor_uuid
  FROM unnest(p_task_uuids, p_from_states, p_to_states, p_events) AS u(task_uuid, from_state, to_state, event);

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
-- per call. Returns the claimed tasks with the state they were found in (current_state) and the state they were
-- claimed into (claimed_state).
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
    CROSS JOIN LATERAL (SELECT tasker_task_owner(t.task_uuid) AS processor_uuid) tt
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

-- Planned with sequential scans disabled, like the engine's entry points (see the end of 0007_engine.sql).
ALTER FUNCTION get_next_ready_tasks SET enable_seqscan = off;
