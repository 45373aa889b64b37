-- The transition tables (the audit trail: append-only, one row per state change, numbered 1, 2, … per task or
-- step; the row with the highest sort_key is the current state, and the task or step row carries a copy of it),
-- the writers every state change goes through, the release of a finished step's children, the compare-and-set
-- transitions and the current-state read. Names follow tasker-core; where its semantics had known bugs they are
-- fixed here (docs/architecture.md lists the differences).
--
-- The writers call functions of later files (calculate_step_next_retry_time in 0004_readiness.sql, the queue's
-- tasker_notify_queue and tasker_step_message): PL/pgSQL resolves the names in a body when it runs, so the call may
-- come before the definition.

-- Rows are only ever inserted: no update of a previous row's flag, so a transition costs one heap tuple and one
-- index entry (the key).
CREATE TABLE tasker_task_transitions (
  -- no foreign key: the transition tables are append-only logs written only by the transition functions, which
  -- lock the row they record; a key check per row would cost every transition a round of the executor
  task_uuid      uuid        NOT NULL,
  sort_key       integer     NOT NULL,
  to_state       varchar(64) NOT NULL,
  from_state     varchar(64),
  metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  processor_uuid uuid,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_uuid, sort_key),
  CONSTRAINT tasker_task_transitions_to_state_check CHECK (tasker_is_task_state(to_state)),
  CONSTRAINT tasker_task_transitions_from_state_check CHECK (from_state IS NULL OR tasker_is_task_state(from_state))
);

CREATE TABLE tasker_workflow_step_transitions (
  workflow_step_uuid uuid        NOT NULL,
  sort_key           integer     NOT NULL,
  to_state           varchar(64) NOT NULL,
  from_state         varchar(64),
  metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  processor_uuid     uuid,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workflow_step_uuid, sort_key),
  CONSTRAINT tasker_workflow_step_transitions_to_state_check CHECK (tasker_is_step_state(to_state)),
  CONSTRAINT tasker_workflow_step_transitions_from_state_check CHECK (from_state IS NULL OR tasker_is_step_state(from_state))
);

-- last failure time per step (newest transition into a failure state)
CREATE INDEX idx_workflow_step_transitions_failures ON tasker_workflow_step_transitions (workflow_step_uuid, created_at DESC)
  WHERE to_state IN ('error', 'waiting_for_retry');

-- The processor that owns a task in an owned state: the one that made its latest transition.
CREATE FUNCTION tasker_task_owner(p_task_uuid uuid) RETURNS uuid
LANGUAGE sql STABLE AS $fn$
  SELECT tt.processor_uuid FROM tasker_task_transitions tt
  WHERE tt.task_uuid = p_task_uuid ORDER BY tt.sort_key DESC LIMIT 1
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Transition writers (internal: the caller holds the row lock and has checked the current state)
-- ---------------------------------------------------------------------------------------------------

-- The states a task's waiters wait for (waitForCompletion; TaskStateMachine's finishedTaskStates): terminal, or
-- blocked by failures. Plain SQL, so that a query calling it inlines the test instead of calling a function.
CREATE FUNCTION tasker_is_finished_task_state(p_state varchar) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT p_state IN ('complete', 'error', 'cancelled', 'resolved_manually', 'blocked_by_failures')
$fn$;

-- Writes a sequence of task transitions — from p_from_state through each of p_to_states, with the matching
-- metadata — as one multi-row insert and one update of the task row: its state, and active_steps when
-- p_active_steps is given (a terminal task has none).
CREATE FUNCTION tasker_write_task_transitions(
  p_task_uuid uuid, p_from_state varchar, p_to_states varchar[], p_processor_uuid uuid, p_metadatas jsonb[],
  p_active_steps integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_last varchar := p_to_states[cardinality(p_to_states)];
  v_terminal boolean := v_last IN ('complete', 'error', 'cancelled', 'resolved_manually');
BEGIN
  INSERT INTO tasker_task_transitions (task_uuid, sort_key, to_state, from_state, metadata, processor_uuid)
  SELECT p_task_uuid, base.sort_key + s.ord, s.to_state,
         CASE WHEN s.ord = 1 THEN p_from_state ELSE p_to_states[s.ord - 1] END,
         COALESCE(p_metadatas[s.ord], '{}'::jsonb), p_processor_uuid
  FROM unnest(p_to_states) WITH ORDINALITY AS s(to_state, ord),
       (SELECT COALESCE(max(tt.sort_key), 0) AS sort_key FROM tasker_task_transitions tt
        WHERE tt.task_uuid = p_task_uuid) base;

  UPDATE tasker_tasks SET
    complete      = complete OR v_last = 'complete',
    completed_at  = CASE WHEN v_terminal THEN now() ELSE completed_at END,
    current_state = v_last,
    active_steps  = CASE WHEN v_terminal THEN 0 ELSE COALESCE(p_active_steps, active_steps) END,
    updated_at    = now()
  WHERE task_uuid = p_task_uuid;

  -- waiters (waitForCompletion) learn on commit that the task finished or stopped on failures
  IF tasker_is_finished_task_state(v_last) THEN
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

-- Writes one transition per step (p_step_uuids[i]: p_from_states[i] -> p_to_state, with the same processor and
-- metadata) and its row effects, in one statement (an insert and an update); the caller holds the steps' row locks and has
-- checked their states. Returns each step's attempts after the write. The row effects of the target state:
--   in_progress: attempts + 1, last_attempted_at, in_process (a claim counts an attempt);
--   enqueued from in_progress (Release): attempts - 1 (the unfinished attempt is given back);
--   pending from error (an operator's Retry): attempts 0 and no backoff (a fresh attempt budget);
--   enqueued or in_progress from pending: no unfinished parent (a step leaves pending only once they are done);
--   waiting_for_retry: the backoff (p_backoff_seconds when given) and retry_at;
--   complete, cancelled, resolved_manually: processed, processed_at; pending: not processed;
--   p_results is stored by the states that record a result.
CREATE FUNCTION tasker_write_step_transitions(
  p_step_uuids uuid[], p_from_states varchar[], p_to_state varchar, p_processor_uuid uuid, p_metadata jsonb,
  p_results jsonb DEFAULT NULL, p_backoff_seconds double precision DEFAULT NULL)
RETURNS TABLE (step_uuid uuid, attempts integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
  INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                processor_uuid)
  SELECT u.step_uuid,
         COALESCE((SELECT max(st.sort_key) FROM tasker_workflow_step_transitions st
                   WHERE st.workflow_step_uuid = u.step_uuid), 0) + 1,
         p_to_state, u.from_state, COALESCE(p_metadata, '{}'::jsonb), p_processor_uuid
  FROM unnest(p_step_uuids, p_from_states) AS u(step_uuid, from_state);

  -- The two moves of every step get statements of their own (a small statement costs less to start than the
  -- general one); the general statement below covers every other target state.
  IF p_to_state = 'in_progress' THEN
    RETURN QUERY
    UPDATE tasker_workflow_steps ws SET
      current_state = 'in_progress', unfinished_parents = 0, attempts = ws.attempts + 1, in_process = true,
      last_attempted_at = now(), retry_at = NULL, updated_at = now()
    FROM unnest(p_step_uuids) AS u(step_uuid)
    WHERE ws.workflow_step_uuid = u.step_uuid
    RETURNING ws.workflow_step_uuid, ws.attempts;
    RETURN;
  ELSIF p_to_state = 'complete' THEN
    RETURN QUERY
    UPDATE tasker_workflow_steps ws SET
      current_state = 'complete', in_process = false, processed = true, processed_at = now(), retry_at = NULL,
      results = COALESCE(p_results, ws.results), updated_at = now()
    FROM unnest(p_step_uuids) AS u(step_uuid)
    WHERE ws.workflow_step_uuid = u.step_uuid
    RETURNING ws.workflow_step_uuid, ws.attempts;
    RETURN;
  END IF;

  RETURN QUERY
  UPDATE tasker_workflow_steps ws SET
    current_state = p_to_state,
    unfinished_parents = CASE
      WHEN u.from_state = 'pending' AND p_to_state = 'enqueued' THEN 0
      ELSE ws.unfinished_parents END,
    attempts = CASE
      WHEN p_to_state = 'enqueued' AND u.from_state = 'in_progress' THEN GREATEST(ws.attempts - 1, 0)
      WHEN p_to_state = 'pending' AND u.from_state = 'error' THEN 0
      ELSE ws.attempts END,
    in_process = false,
    processed = CASE
      WHEN p_to_state IN ('cancelled', 'resolved_manually') THEN true
      WHEN p_to_state = 'pending' THEN false
      ELSE ws.processed END,
    processed_at = CASE
      WHEN p_to_state IN ('cancelled', 'resolved_manually') THEN now()
      WHEN p_to_state = 'pending' THEN NULL
      ELSE ws.processed_at END,
    backoff_request_seconds = CASE
      WHEN p_to_state = 'pending' AND u.from_state = 'error' THEN NULL
      WHEN p_to_state = 'waiting_for_retry' AND p_backoff_seconds IS NOT NULL THEN p_backoff_seconds
      ELSE ws.backoff_request_seconds END,
    retry_at = CASE WHEN p_to_state = 'waiting_for_retry' THEN
      calculate_step_next_retry_time(COALESCE(p_backoff_seconds, ws.backoff_request_seconds), ws.last_attempted_at,
                                     now(), ws.attempts, ws.backoff, ws.backoff_base_ms, ws.max_backoff_ms) END,
    results = CASE
      WHEN p_results IS NOT NULL AND p_to_state IN ('enqueued_for_orchestration', 'enqueued_as_error_for_orchestration',
                                                  'error', 'waiting_for_retry', 'resolved_manually')
        THEN p_results
      ELSE ws.results END,
    updated_at = now()
  FROM unnest(p_step_uuids, p_from_states) AS u(step_uuid, from_state)
  WHERE ws.workflow_step_uuid = u.step_uuid
  RETURNING ws.workflow_step_uuid, ws.attempts;
END
$fn$;

-- One step's transition (tasker_write_step_transitions); returns the step's attempts after the write.
CREATE FUNCTION tasker_write_step_transition(
  p_step_uuid uuid, p_from_state varchar, p_to_state varchar, p_processor_uuid uuid, p_metadata jsonb,
  p_results jsonb)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  v_attempts integer;
BEGIN
  SELECT w.attempts INTO v_attempts
  FROM tasker_write_step_transitions(ARRAY[p_step_uuid], ARRAY[p_from_state], p_to_state, p_processor_uuid, p_metadata,
                                     p_results) w;
  RETURN v_attempts;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- A finished step's children
-- ---------------------------------------------------------------------------------------------------

-- p_step_uuid has just become complete or resolved_manually (the caller holds its task's row lock): each of its
-- children has one unfinished parent less. Only the step's own children are touched, never the rest of the task.
-- A pending child left without an unfinished parent is ready; by p_mode it is
--   'count':   left pending (the caller evaluates the task, whose enqueue picks it up);
--   'enqueue': enqueued (Enqueue), with a message on p_queue and its consumers notified;
--   'handoff': the first p_handoff_limit ready children are claimed at once for p_processor_uuid (Start:
--              pending -> in_progress, an attempt counted), each with a message on p_queue already hidden for
--              p_vt_seconds and read once, exactly as if a worker had read it (a worker that dies with it loses
--              nothing: the message comes back); the other ready children are enqueued.
-- Returns one row per ready child: its uuid, whether it was claimed, and its message (none in 'count' mode).
CREATE FUNCTION tasker_release_children(
  p_step_uuid uuid, p_processor_uuid uuid, p_mode text, p_task_uuid uuid DEFAULT NULL, p_queue varchar DEFAULT NULL,
  p_headers jsonb DEFAULT '{}'::jsonb, p_correlation_id uuid DEFAULT NULL, p_parent_correlation_id uuid DEFAULT NULL,
  p_handoff_limit integer DEFAULT 0, p_vt_seconds double precision DEFAULT 30)
RETURNS TABLE (step_uuid uuid, claimed boolean, msg_id bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_ready uuid[];
  v_claim uuid[];
  v_enqueue uuid[];
BEGIN
  -- children this parent was the last one of: ready (locked in a fixed order)
  v_ready := ARRAY(
    SELECT c.workflow_step_uuid FROM tasker_workflow_step_edges e
    JOIN tasker_workflow_steps c ON c.workflow_step_uuid = e.to_step_uuid
    WHERE e.from_step_uuid = p_step_uuid AND c.unfinished_parents = 1 AND c.current_state = 'pending'
    ORDER BY c.workflow_step_uuid
    FOR UPDATE OF c);
  -- the others (still waiting for another parent, or no longer pending): one unfinished parent less
  UPDATE tasker_workflow_steps c SET unfinished_parents = c.unfinished_parents - 1, updated_at = now()
  FROM tasker_workflow_step_edges e
  WHERE e.from_step_uuid = p_step_uuid AND c.workflow_step_uuid = e.to_step_uuid
    AND c.workflow_step_uuid <> ALL (v_ready);

  IF cardinality(v_ready) = 0 THEN
    RETURN;
  END IF;

  IF p_mode = 'count' THEN
    UPDATE tasker_workflow_steps SET unfinished_parents = 0, updated_at = now() WHERE workflow_step_uuid = ANY (v_ready);
    RETURN QUERY SELECT r.uuid, false, NULL::bigint FROM unnest(v_ready) AS r(uuid);
    RETURN;
  END IF;

  v_claim := v_ready[1 : CASE WHEN p_mode = 'handoff' THEN GREATEST(p_handoff_limit, 0) ELSE 0 END];
  v_enqueue := v_ready[cardinality(v_claim) + 1 :];
  IF cardinality(v_claim) > 0 THEN
    PERFORM tasker_write_step_transitions(v_claim, array_fill('pending'::varchar, ARRAY[cardinality(v_claim)]),
                                          'in_progress', p_processor_uuid, '{"event": "Start", "handoff": true}'::jsonb);
    RETURN QUERY
    WITH sent AS (
      INSERT INTO tasker_queue_messages (queue_name, vt, read_ct, message, headers, claim_id)
      SELECT p_queue, clock_timestamp() + make_interval(secs => p_vt_seconds), 1,
             tasker_step_message(p_task_uuid, c.uuid, p_correlation_id, p_parent_correlation_id), p_headers,
             gen_random_uuid()
      FROM unnest(v_claim) AS c(uuid)
      RETURNING tasker_queue_messages.message, tasker_queue_messages.msg_id
    )
    SELECT (s.message ->> 'step_uuid')::uuid, true, s.msg_id FROM sent s;
  END IF;
  IF cardinality(v_enqueue) > 0 THEN
    PERFORM tasker_write_step_transitions(v_enqueue, array_fill('pending'::varchar, ARRAY[cardinality(v_enqueue)]),
                                          'enqueued', p_processor_uuid, '{"event": "Enqueue"}'::jsonb);
    RETURN QUERY
    WITH sent AS (
      INSERT INTO tasker_queue_messages (queue_name, message, headers)
      SELECT p_queue, tasker_step_message(p_task_uuid, c.uuid, p_correlation_id, p_parent_correlation_id), p_headers
      FROM unnest(v_enqueue) AS c(uuid)
      RETURNING tasker_queue_messages.message, tasker_queue_messages.msg_id
    )
    SELECT (s.message ->> 'step_uuid')::uuid, false, s.msg_id FROM sent s;
    PERFORM tasker_notify_queue(p_queue);
  END IF;
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
  FROM tasker_task_transitions tt WHERE tt.task_uuid = p_task_uuid ORDER BY tt.sort_key DESC LIMIT 1;
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
-- the step's row lock, taken after its task's: the order every writer keeps) and, when p_expected_attempts is
-- given, the step's attempts still equal it (so a worker whose claim was superseded by a later claim cannot write
-- a result). Applies the row effects of the target state (attempts and in_process on claim, results, processed
-- flags); a step that becomes complete or resolved_manually releases its children (they are counted, not
-- enqueued: the caller evaluates the task). Returns no row for an unknown step.
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
  -- the task, then the step (FOR UPDATE OF locks in the order listed), in one statement
  SELECT ws.current_state, ws.attempts INTO v_state, v_attempts
  FROM tasker_tasks t JOIN tasker_workflow_steps ws ON ws.task_uuid = t.task_uuid
  WHERE ws.workflow_step_uuid = p_step_uuid
  FOR UPDATE OF t, ws;
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
  -- (a step finishes once: its children are counted down only when it first becomes complete or resolved)
  IF p_to_state IN ('complete', 'resolved_manually') AND v_state NOT IN ('complete', 'resolved_manually') THEN
    PERFORM tasker_release_children(p_step_uuid, p_processor_uuid, 'count');
  END IF;
  RETURN QUERY SELECT true, p_to_state, v_attempts;
END
$fn$;

CREATE FUNCTION get_current_task_state(p_task_uuid uuid) RETURNS varchar
LANGUAGE sql STABLE AS $fn$
  SELECT t.current_state FROM tasker_tasks t WHERE t.task_uuid = p_task_uuid
$fn$;

-- Planned with sequential scans disabled, like the engine's entry points (see the end of 0007_engine.sql).
ALTER FUNCTION transition_task_state_atomic SET enable_seqscan = off;
ALTER FUNCTION transition_step_state_atomic SET enable_seqscan = off;
