-- The transition tables (the audit trail; the row with most_recent = true holds the current state), the writers
-- every state change goes through, the compare-and-set transitions and the current-state read. Names follow
-- tasker-core; where its semantics had known bugs they are fixed here (docs/architecture.md lists the differences).
--
-- tasker_write_step_transition computes retry_at with calculate_step_next_retry_time (0004_readiness.sql): PL/pgSQL
-- resolves the names in a body when it runs, so the call may come before the definition.

CREATE TABLE tasker_task_transitions (
  task_transition_uuid uuid PRIMARY KEY DEFAULT tasker_uuid_v7(),
  -- no foreign key: the transition tables are append-only logs written only by the transition functions, which
  -- lock the row they record; a key check per row would cost every transition a round of the executor
  task_uuid            uuid        NOT NULL,
  to_state             varchar(64) NOT NULL,
  from_state           varchar(64),
  metadata             jsonb       NOT NULL DEFAULT '{}'::jsonb,
  sort_key             integer     NOT NULL,
  most_recent          boolean     NOT NULL DEFAULT false,
  processor_uuid       uuid,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tasker_task_transitions_to_state_check CHECK (tasker_is_task_state(to_state)),
  CONSTRAINT tasker_task_transitions_from_state_check CHECK (from_state IS NULL OR tasker_is_task_state(from_state))
);

CREATE UNIQUE INDEX idx_task_transitions_uuid_most_recent ON tasker_task_transitions (task_uuid)
  WHERE most_recent;
CREATE UNIQUE INDEX idx_task_transitions_uuid_sort_key ON tasker_task_transitions (task_uuid, sort_key);

CREATE TABLE tasker_workflow_step_transitions (
  workflow_step_transition_uuid uuid PRIMARY KEY DEFAULT tasker_uuid_v7(),
  workflow_step_uuid            uuid        NOT NULL,
  to_state                      varchar(64) NOT NULL,
  from_state                    varchar(64),
  metadata                      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  sort_key                      integer     NOT NULL,
  most_recent                   boolean     NOT NULL DEFAULT false,
  processor_uuid                uuid,
  created_at                    timestamptz NOT NULL DEFAULT now(),
  updated_at                    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tasker_workflow_step_transitions_to_state_check CHECK (tasker_is_step_state(to_state)),
  CONSTRAINT tasker_workflow_step_transitions_from_state_check CHECK (from_state IS NULL OR tasker_is_step_state(from_state))
);

CREATE UNIQUE INDEX idx_workflow_step_transitions_uuid_most_recent ON tasker_workflow_step_transitions (workflow_step_uuid)
  WHERE most_recent;
CREATE UNIQUE INDEX idx_workflow_step_transitions_uuid_sort_key ON tasker_workflow_step_transitions (workflow_step_uuid, sort_key);
-- last failure time per step (newest transition into a failure state)
CREATE INDEX idx_workflow_step_transitions_failures ON tasker_workflow_step_transitions (workflow_step_uuid, created_at DESC)
  WHERE to_state IN ('error', 'waiting_for_retry');
-- tasks blocked_by_failures, by when they got there (the give-up policy: tasker_give_up_blocked_tasks)
CREATE INDEX idx_task_transitions_blocked ON tasker_task_transitions (created_at)
  WHERE most_recent AND to_state = 'blocked_by_failures';

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

-- Planned with sequential scans disabled, like the engine's entry points (see the end of 0007_engine.sql).
ALTER FUNCTION transition_task_state_atomic SET enable_seqscan = off;
ALTER FUNCTION transition_step_state_atomic SET enable_seqscan = off;
