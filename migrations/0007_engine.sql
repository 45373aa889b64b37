-- The engine's hot paths as PL/pgSQL functions: each is one round trip and one transaction.
--
--   tasker_create_task            initializer: a task + its steps, edges, transitions and the roots' messages, one
--                                 insert per table (the same for a batch: tasker_create_tasks, 0013_batched_creations)
--   tasker_evaluate_task          evaluate an owned task and move it on (enqueue / complete / wait / block)
--   tasker_enqueue_ready_steps    ready steps -> enqueued + a message each, same transaction (whole-task evaluation)
--   tasker_apply_step_result      a result applied: complete / retry with backoff / fail, the step's children
--                                 released, the task moved on only when nothing is active any more
--   tasker_process_step_result    the same for a result an orchestrator reads from the results queue
--   tasker_process_result_messages  the orchestrator's consumer: read result messages and process each
--   tasker_claim_step_messages    the worker's consumer: read step messages, claim steps, return handler context
--   tasker_submit_step_result     the worker's hand-back: store and apply the result, claim ready children for itself
--                                 (the worker calls tasker_submit_step_results, 0012_batched_completions, which goes
--                                 through it for a failure and applies successes with fewer statements)
--   tasker_release_step           graceful shutdown: give an unfinished step back
--   tasker_cancel_task            cancel a task and its unfinished steps
--   tasker_reevaluate_task        after an operator's step action: move a blocked or running task on at once
--   tasker_give_up_blocked_tasks  give-up policy for tasks blocked longer than a limit
--   tasker_next_retry_at          when the next step retry is due (the orchestration loop sleeps until then)
--   tasker_apply_commit_mode      asynchronous commit of engine progress when the session opts in
--
-- Lock order: a step's queue message, then the task row, then step rows (a claim holds the message it read when it
-- locks the step; a submission or a release whose claim may have expired locks its message first), so concurrent
-- orchestrators and workers do not wait on each other in a circle. Concurrent batch creations insert in
-- identity-hash order for the same reason.
-- Every state change goes through the transition writers (0003_transitions.sql) and follows the state machines of
-- src/domain (the test suite audits the recorded transitions against them).
-- The file ends with the orchestrators' results queue and the entry points' planner setting.

CREATE FUNCTION tasker_worker_queue_name(p_namespace varchar) RETURNS varchar
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT 'worker_' || p_namespace || '_queue'
$fn$;

-- The message that travels between orchestrator and workers: ids and correlation, nothing else.
CREATE FUNCTION tasker_step_message(p_task_uuid uuid, p_step_uuid uuid, p_correlation_id uuid,
                                    p_parent_correlation_id uuid)
RETURNS jsonb
-- STABLE like jsonb_build_object, so that it is inlined (an IMMUTABLE wrapper is not, and runs as a separate
-- SQL function on every call)
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'task_uuid', p_task_uuid, 'step_uuid', p_step_uuid, 'correlation_id', p_correlation_id,
    'parent_correlation_id', p_parent_correlation_id))
$fn$;

CREATE FUNCTION tasker_is_uuid(p_text text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT p_text IS NOT NULL AND p_text ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
$fn$;

-- Engine progress (claims, results, evaluations) may commit asynchronously when the session opts in with
-- `tasker.async_commit = on`: a database crash can then undo the last moments of progress, which the engine redoes
-- (messages come back, handlers run again: they run at least once anyway). Task creation and operator actions
-- always commit synchronously.
CREATE FUNCTION tasker_apply_commit_mode() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  IF current_setting('tasker.async_commit', true) = 'on' THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Step enqueuer
-- ---------------------------------------------------------------------------------------------------

-- Enqueues every ready step of a task: waiting_for_retry -> pending -> enqueued, pending -> enqueued, and one
-- message per step on the task namespace's worker queue, all in the caller's transaction (so a step is never
-- `enqueued` without its message, nor the reverse). Returns the enqueued step uuids.
CREATE FUNCTION tasker_enqueue_ready_steps(p_task_uuid uuid, p_processor_uuid uuid, p_headers jsonb DEFAULT '{}'::jsonb)
RETURNS uuid[]
LANGUAGE plpgsql AS $fn$
DECLARE
  v_task record;
  v_queue varchar;
  v_step record;
  v_uuids uuid[] := '{}';
BEGIN
  SELECT t.correlation_id, t.parent_correlation_id, ns.name AS namespace,
         -- without a trace of the caller's own, the messages continue the task's trace
         CASE WHEN COALESCE(p_headers, '{}'::jsonb) ? 'traceparent' THEN p_headers ELSE t.trace_headers END AS headers
  INTO v_task
  FROM tasker_tasks t
  JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE t.task_uuid = p_task_uuid;
  v_queue := tasker_worker_queue_name(v_task.namespace);

  FOR v_step IN
    SELECT r.workflow_step_uuid, r.current_state FROM get_step_readiness_status(p_task_uuid) r
    WHERE r.ready_for_execution
  LOOP
    -- re-check under the row lock: another enqueuer may have taken it meanwhile
    PERFORM 1 FROM tasker_workflow_steps ws
    WHERE ws.workflow_step_uuid = v_step.workflow_step_uuid AND ws.current_state = v_step.current_state
    FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    IF v_step.current_state = 'waiting_for_retry' THEN
      PERFORM tasker_write_step_transition(v_step.workflow_step_uuid, 'waiting_for_retry', 'pending', p_processor_uuid,
                                           '{"event": "Retry"}'::jsonb, NULL);
    END IF;
    PERFORM tasker_write_step_transition(v_step.workflow_step_uuid, 'pending', 'enqueued', p_processor_uuid,
                                         '{"event": "Enqueue"}'::jsonb, NULL);
    INSERT INTO tasker_queue_messages (queue_name, message, headers)
    VALUES (v_queue, tasker_step_message(p_task_uuid, v_step.workflow_step_uuid, v_task.correlation_id,
                                         v_task.parent_correlation_id),
            v_task.headers);
    v_uuids := v_uuids || v_step.workflow_step_uuid;
  END LOOP;

  IF cardinality(v_uuids) > 0 THEN
    PERFORM tasker_notify_queue(v_queue);
  END IF;
  RETURN v_uuids;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Task evaluation
-- ---------------------------------------------------------------------------------------------------

-- The evaluation of a whole task, behind tasker_evaluate_task (the readiness loop), tasker_reevaluate_task (after
-- an operator's step action) and tasker_apply_step_result (only when a result leaves nothing active in
-- steps_in_process: the end of a task, or a task that stops on failures or retries). The caller holds the task's
-- row lock. The task's persisted state is p_from_state; p_path/p_metas are transitions the caller has already
-- decided on but not written (e.g. StepCompleted), so the task's effective state is the last of p_path. The
-- evaluation appends its own transitions, then writes the whole path at once (one insert, one update of the task
-- row, which also recounts active_steps) — intermediate states of one transaction are recorded but never committed
-- alone.
--   has_ready_steps -> enqueuing_steps -> (enqueue) -> steps_in_process
--   processing -> steps_in_process (ownership released until the next result)
--   all_complete -> complete;  blocked_by_failures -> blocked_by_failures
--   waiting_for_retry -> waiting_for_retry;  waiting_for_dependencies -> waiting_for_dependencies
-- A task taken over in `enqueuing_steps` finishes its enqueue. A task being evaluated whose steps have all ended
-- complete (or resolved) is complete without its context: one probe of its steps instead of the readiness of each
-- (the end of every successful task; the context would say all_complete).
CREATE FUNCTION tasker_advance_task(p_task_uuid uuid, p_processor_uuid uuid, p_headers jsonb, p_from_state varchar,
                                    p_path varchar[], p_metas jsonb[])
RETURNS TABLE (task_state varchar, execution_status text, action text, enqueued_step_uuids uuid[])
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state varchar := COALESCE(p_path[cardinality(p_path)], p_from_state);
  v_path varchar[] := p_path;
  v_metas jsonb[] := p_metas;
  v_ctx record;
  v_enqueued uuid[] := '{}';
  v_action text;
BEGIN
  IF v_state = 'evaluating_results' AND NOT EXISTS (
       SELECT 1 FROM tasker_workflow_steps ws
       WHERE ws.task_uuid = p_task_uuid AND ws.current_state NOT IN ('complete', 'resolved_manually')) THEN
    PERFORM tasker_write_task_transitions(p_task_uuid, p_from_state, v_path || 'complete'::varchar, p_processor_uuid,
      v_metas || '{"event": "AllStepsSuccessful"}'::jsonb, 0);
    RETURN QUERY SELECT 'complete'::varchar, 'all_complete'::text, 'completed'::text, '{}'::uuid[];
    RETURN;
  END IF;

  SELECT * INTO v_ctx FROM get_task_execution_context(p_task_uuid);

  IF v_state = 'enqueuing_steps' OR v_ctx.execution_status = 'has_ready_steps' THEN
    IF v_state <> 'enqueuing_steps' THEN
      v_path := v_path || 'enqueuing_steps'::varchar;
      v_metas := v_metas || jsonb_build_object('event', 'ReadyStepsFound', 'count', v_ctx.ready_steps);
    END IF;
    v_enqueued := tasker_enqueue_ready_steps(p_task_uuid, p_processor_uuid, p_headers);
    v_path := v_path || 'steps_in_process'::varchar;
    v_metas := v_metas || jsonb_build_object('event', 'StepsEnqueued', 'stepUuids', to_jsonb(v_enqueued));
    v_action := 'enqueued';
  ELSIF v_state = 'initializing' THEN
    IF v_ctx.execution_status = 'all_complete' THEN
      v_path := v_path || 'complete'::varchar;
      v_metas := v_metas || '{"event": "NoStepsFound"}'::jsonb;
      v_action := 'completed';
    ELSE
      v_path := v_path || 'waiting_for_dependencies'::varchar;
      v_metas := v_metas || '{"event": "NoDependenciesReady"}'::jsonb;
      v_action := 'waiting';
    END IF;
  ELSIF v_ctx.execution_status = 'processing' THEN
    v_path := v_path || 'steps_in_process'::varchar;
    v_metas := v_metas || '{"event": "StepsInProcess"}'::jsonb;
    v_action := 'none';
  ELSIF v_ctx.execution_status = 'all_complete' THEN
    v_path := v_path || 'complete'::varchar;
    v_metas := v_metas || '{"event": "AllStepsSuccessful"}'::jsonb;
    v_action := 'completed';
  ELSIF v_ctx.execution_status = 'blocked_by_failures' THEN
    v_path := v_path || 'blocked_by_failures'::varchar;
    v_metas := v_metas || jsonb_build_object('event', 'PermanentFailure', 'reason',
      format('%s step(s) failed permanently', v_ctx.blocked_steps));
    v_action := 'blocked';
  ELSIF v_ctx.execution_status = 'waiting_for_retry' THEN
    v_path := v_path || 'waiting_for_retry'::varchar;
    v_metas := v_metas || '{"event": "WaitForRetry"}'::jsonb;
    v_action := 'waiting';
  ELSE
    v_path := v_path || 'waiting_for_dependencies'::varchar;
    v_metas := v_metas || '{"event": "NoDependenciesReady"}'::jsonb;
    v_action := 'waiting';
  END IF;

  -- active steps, recounted: those the context saw (enqueued, in progress, waiting for an orchestrator) and those
  -- just enqueued
  PERFORM tasker_write_task_transitions(p_task_uuid, p_from_state, v_path, p_processor_uuid, v_metas,
    v_ctx.in_progress_steps + v_ctx.enqueued_steps + cardinality(v_enqueued));
  RETURN QUERY SELECT v_path[cardinality(v_path)], v_ctx.execution_status, v_action, v_enqueued;
END
$fn$;

-- Evaluates a task in `initializing`, `evaluating_results` or `enqueuing_steps` (owned by the caller, nobody, or a
-- processor that is gone) and moves it on according to its execution status (see tasker_advance_task). A task in
-- any other state, or owned by another live processor, is left as it is (action 'none' / 'owned_by_other').
CREATE FUNCTION tasker_evaluate_task(p_task_uuid uuid, p_processor_uuid uuid, p_headers jsonb DEFAULT '{}'::jsonb,
                                     p_stale_after_seconds integer DEFAULT 60)
RETURNS TABLE (task_state varchar, execution_status text, action text, enqueued_step_uuids uuid[])
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state varchar;
  v_owner uuid;
BEGIN
  SELECT t.current_state INTO v_state FROM tasker_tasks t WHERE t.task_uuid = p_task_uuid FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_state NOT IN ('initializing', 'evaluating_results', 'enqueuing_steps') THEN
    RETURN QUERY SELECT v_state, NULL::text, 'none'::text, '{}'::uuid[];
    RETURN;
  END IF;
  v_owner := tasker_task_owner(p_task_uuid);
  IF v_owner IS NOT NULL AND v_owner IS DISTINCT FROM p_processor_uuid
     AND tasker_processor_is_live(v_owner, p_stale_after_seconds) THEN
    RETURN QUERY SELECT v_state, NULL::text, 'owned_by_other'::text, '{}'::uuid[];
    RETURN;
  END IF;
  -- the caller wakes its own consumers once this commits (tasker_notify_queue)
  PERFORM set_config('tasker.notify_origin', p_processor_uuid::text, true);
  RETURN QUERY SELECT * FROM tasker_advance_task(p_task_uuid, p_processor_uuid, p_headers, v_state, '{}', '{}');
  PERFORM set_config('tasker.notify_origin', '', true);
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Task initializer
-- ---------------------------------------------------------------------------------------------------

-- Creates a task from a registered template in one transaction, or returns the existing task with the same
-- identity hash (created = false; identity hashes are unique). p_steps is the template's step list (see
-- tasker_create_tasks in 0013_batched_creations.sql). The work of tasker_create_tasks for one request, written for
-- one: a single creation is the
-- common case, and going through the batch function (its JSON request and ordering) cost it 40 % more.
-- A new task is started at once, set-based: one insert per table. Its root steps (no dependencies) are enqueued
-- with their messages, the other steps wait with their count of unfinished parents, and the task is recorded
-- going through its start (pending -> initializing -> enqueuing_steps -> steps_in_process; a task without steps
-- -> complete) in the same transaction.
CREATE FUNCTION tasker_create_task(
  p_named_task_uuid uuid, p_identity_hash varchar, p_correlation_id uuid, p_parent_correlation_id uuid,
  p_context jsonb, p_tags jsonb, p_priority integer, p_initiator varchar, p_source_system varchar, p_reason varchar,
  p_requested_at timestamptz, p_steps jsonb, p_processor_uuid uuid, p_headers jsonb DEFAULT '{}'::jsonb,
  p_handoff_limit integer DEFAULT 0, p_vt_seconds double precision DEFAULT 30)
RETURNS TABLE (task_uuid uuid, created boolean, task_state varchar, step_mapping jsonb, correlation_id uuid,
               enqueued_count integer, created_at timestamptz, claims jsonb)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_task_uuid uuid;
  v_created_at timestamptz;
  v_mapping jsonb;
  v_state varchar;
  v_correlation uuid;
  v_step_count integer := jsonb_array_length(p_steps);
  v_roots integer;
  v_queue varchar;
  v_headers jsonb := COALESCE(p_headers, '{}'::jsonb);
  v_root_uuids jsonb;
  v_claimed bigint[];
BEGIN
  SELECT count(*) INTO v_roots FROM jsonb_array_elements(p_steps) AS e(spec)
  WHERE jsonb_array_length(COALESCE(e.spec -> 'depends_on', '[]'::jsonb)) = 0;
  v_state := CASE WHEN v_step_count = 0 THEN 'complete' ELSE 'steps_in_process' END;

  INSERT INTO tasker_tasks (named_task_uuid, identity_hash, correlation_id, parent_correlation_id, context, tags,
                            priority, initiator, source_system, reason, requested_at, trace_headers, complete,
                            completed_at, current_state, active_steps)
  VALUES (p_named_task_uuid, p_identity_hash, p_correlation_id, p_parent_correlation_id,
          COALESCE(p_context, '{}'::jsonb), COALESCE(p_tags, '[]'::jsonb), COALESCE(p_priority, 0), p_initiator,
          p_source_system, p_reason, COALESCE(p_requested_at, now()), v_headers, v_state = 'complete',
          CASE WHEN v_state = 'complete' THEN now() END, v_state, v_roots)
  ON CONFLICT (identity_hash) DO NOTHING
  RETURNING tasker_tasks.task_uuid, tasker_tasks.created_at INTO v_task_uuid, v_created_at;

  IF v_task_uuid IS NULL THEN
    SELECT t.task_uuid, t.current_state, t.correlation_id, t.created_at INTO v_task_uuid, v_state, v_correlation, v_created_at
    FROM tasker_tasks t WHERE t.identity_hash = p_identity_hash;
    SELECT COALESCE(jsonb_object_agg(ns.name, ws.workflow_step_uuid), '{}'::jsonb) INTO v_mapping
    FROM tasker_workflow_steps ws JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
    WHERE ws.task_uuid = v_task_uuid;
    RETURN QUERY SELECT v_task_uuid, false, v_state, v_mapping, v_correlation, 0, v_created_at, '[]'::jsonb;
    RETURN;
  END IF;

  SELECT tasker_worker_queue_name(ns.name) INTO v_queue
  FROM tasker_named_tasks nt JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE nt.named_task_uuid = p_named_task_uuid;

  -- steps (roots already enqueued, or claimed for the caller), edges, the steps' transitions and the roots'
  -- messages, one statement; the step name -> uuid mapping and the claimed roots' messages come back
  WITH specs AS (
    SELECT e.spec ->> 'name' AS name, (e.spec ->> 'named_step_uuid')::uuid AS named_step_uuid,
           (e.spec ->> 'retryable')::boolean AS retryable, (e.spec ->> 'max_attempts')::integer AS max_attempts,
           e.spec ->> 'backoff' AS backoff, (e.spec ->> 'backoff_base_ms')::integer AS backoff_base_ms,
           (e.spec ->> 'max_backoff_ms')::integer AS max_backoff_ms,
           (e.spec ->> 'timeout_seconds')::integer AS timeout_seconds,
           NULLIF(e.spec -> 'inputs', 'null'::jsonb) AS inputs,
           COALESCE(e.spec -> 'depends_on', '[]'::jsonb) AS depends_on, e.ord,
           -- the first p_handoff_limit roots are handed to the caller's worker, already claimed
           CASE WHEN jsonb_array_length(COALESCE(e.spec -> 'depends_on', '[]'::jsonb)) > 0 THEN 'pending'
                WHEN count(*) FILTER (WHERE jsonb_array_length(COALESCE(e.spec -> 'depends_on', '[]'::jsonb)) = 0)
                       OVER (ORDER BY e.ord) <= GREATEST(p_handoff_limit, 0) THEN 'in_progress'
                ELSE 'enqueued' END AS initial_state
    FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS e(spec, ord)
  ),
  inserted AS (
    INSERT INTO tasker_workflow_steps (task_uuid, named_step_uuid, retryable, max_attempts, backoff, backoff_base_ms,
                                       max_backoff_ms, timeout_seconds, inputs, current_state, unfinished_parents,
                                       attempts, in_process, last_attempted_at)
    SELECT v_task_uuid, sp.named_step_uuid, COALESCE(sp.retryable, true), COALESCE(sp.max_attempts, 3),
           COALESCE(sp.backoff, 'exponential'), COALESCE(sp.backoff_base_ms, 1000), COALESCE(sp.max_backoff_ms, 30000),
           sp.timeout_seconds, sp.inputs, sp.initial_state, jsonb_array_length(sp.depends_on),
           -- a claimed root: its first attempt started (as tasker_write_step_transitions' in_progress effects)
           CASE WHEN sp.initial_state = 'in_progress' THEN 1 ELSE 0 END, sp.initial_state = 'in_progress',
           CASE WHEN sp.initial_state = 'in_progress' THEN now() END
    FROM specs sp ORDER BY sp.ord
    RETURNING tasker_workflow_steps.workflow_step_uuid, tasker_workflow_steps.named_step_uuid,
              tasker_workflow_steps.current_state
  ),
  mapping AS (
    SELECT sp.name, i.workflow_step_uuid, i.current_state, sp.depends_on
    FROM inserted i JOIN specs sp ON sp.named_step_uuid = i.named_step_uuid
  ),
  edges AS (
    INSERT INTO tasker_workflow_step_edges (from_step_uuid, to_step_uuid)
    SELECT parent.workflow_step_uuid, child.workflow_step_uuid
    FROM mapping child
    CROSS JOIN LATERAL jsonb_array_elements_text(child.depends_on) AS d(parent_name)
    JOIN mapping parent ON parent.name = d.parent_name
    RETURNING 1
  ),
  transitions AS (
    -- every step is created pending; a root is enqueued at once, or claimed for the caller (Start, as a hand-off)
    INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                  processor_uuid)
    SELECT mp.workflow_step_uuid, 1, 'pending', NULL, '{"event": "Create"}'::jsonb, p_processor_uuid FROM mapping mp
    UNION ALL
    SELECT mp.workflow_step_uuid, 2, mp.current_state, 'pending',
           CASE WHEN mp.current_state = 'enqueued' THEN '{"event": "Enqueue"}'::jsonb
                ELSE '{"event": "Start", "handoff": true}'::jsonb END, p_processor_uuid
    FROM mapping mp WHERE mp.current_state <> 'pending'
    RETURNING 1
  ),
  messages AS (
    -- a claimed root's message is hidden for p_vt_seconds and read once, as tasker_release_children's hand-off
    INSERT INTO tasker_queue_messages (queue_name, message, headers, vt, read_ct, claim_id)
    SELECT v_queue, tasker_step_message(v_task_uuid, mp.workflow_step_uuid, p_correlation_id, p_parent_correlation_id),
           v_headers,
           CASE WHEN mp.current_state = 'in_progress' THEN clock_timestamp() + make_interval(secs => p_vt_seconds)
                ELSE now() END,
           CASE WHEN mp.current_state = 'in_progress' THEN 1 ELSE 0 END,
           CASE WHEN mp.current_state = 'in_progress' THEN gen_random_uuid() END
    FROM mapping mp WHERE mp.current_state <> 'pending'
    RETURNING tasker_queue_messages.msg_id, tasker_queue_messages.read_ct
  )
  SELECT COALESCE(jsonb_object_agg(mp.name, mp.workflow_step_uuid), '{}'::jsonb),
         COALESCE(jsonb_agg(mp.workflow_step_uuid) FILTER (WHERE mp.current_state <> 'pending'), '[]'::jsonb),
         (SELECT COALESCE(array_agg(m.msg_id ORDER BY m.msg_id) FILTER (WHERE m.read_ct = 1), '{}') FROM messages m)
  INTO v_mapping, v_root_uuids, v_claimed FROM mapping mp;

  IF v_state = 'complete' THEN
    PERFORM tasker_write_task_transitions(v_task_uuid, NULL, ARRAY['pending', 'initializing', 'complete']::varchar[],
      p_processor_uuid, ARRAY['{"event": "Create"}', '{"event": "Start"}', '{"event": "NoStepsFound"}']::jsonb[]);
  ELSE
    -- the task row holds its end state already: the transitions are recorded without another update of it
    INSERT INTO tasker_task_transitions (task_uuid, sort_key, to_state, from_state, metadata, processor_uuid)
    VALUES (v_task_uuid, 1, 'pending', NULL, '{"event": "Create"}'::jsonb, p_processor_uuid),
           (v_task_uuid, 2, 'initializing', 'pending', '{"event": "Start"}'::jsonb, p_processor_uuid),
           (v_task_uuid, 3, 'enqueuing_steps', 'initializing',
            jsonb_build_object('event', 'ReadyStepsFound', 'count', v_roots), p_processor_uuid),
           (v_task_uuid, 4, 'steps_in_process', 'enqueuing_steps',
            jsonb_build_object('event', 'StepsEnqueued', 'stepUuids', v_root_uuids), p_processor_uuid);
    -- roots left on the queue: the caller wakes its own worker once this commits (tasker_notify_queue)
    IF v_roots > cardinality(v_claimed) THEN
      PERFORM set_config('tasker.notify_origin', p_processor_uuid::text, true);
      PERFORM tasker_notify_queue(v_queue);
      PERFORM set_config('tasker.notify_origin', '', true);
    END IF;
  END IF;

  RETURN QUERY SELECT v_task_uuid, true, v_state, v_mapping, p_correlation_id, v_roots, v_created_at,
    CASE WHEN COALESCE(cardinality(v_claimed), 0) = 0 THEN '[]'::jsonb
         ELSE (SELECT jsonb_agg(to_jsonb(c) || jsonb_build_object('msg_id', c.msg_id::text))
               FROM tasker_claimed_steps(v_queue, v_claimed) c) END;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Results
-- ---------------------------------------------------------------------------------------------------

-- A step and its task as a result is applied to them (tasker_lock_step_for_result).
CREATE TYPE tasker_result_target AS (
  task_uuid uuid, task_state varchar, active_steps integer, correlation_id uuid, parent_correlation_id uuid,
  trace_headers jsonb, step_uuid uuid, step_state varchar, attempts integer, retryable boolean, max_attempts integer,
  backoff varchar, backoff_base_ms integer, max_backoff_ms integer, results jsonb);

-- Locks a step's task and the step, in that order (the order every writer keeps: FOR UPDATE OF locks in the order
-- listed), in one statement, and reads what applying a result needs. NULL for an unknown step.
CREATE FUNCTION tasker_lock_step_for_result(p_step_uuid uuid) RETURNS tasker_result_target
LANGUAGE plpgsql AS $fn$
DECLARE
  v_target tasker_result_target;
BEGIN
  SELECT t.task_uuid, t.current_state, t.active_steps, t.correlation_id, t.parent_correlation_id, t.trace_headers,
         ws.workflow_step_uuid, ws.current_state, ws.attempts, ws.retryable, ws.max_attempts, ws.backoff,
         ws.backoff_base_ms, ws.max_backoff_ms, ws.results
  INTO v_target
  FROM tasker_tasks t JOIN tasker_workflow_steps ws ON ws.task_uuid = t.task_uuid
  WHERE ws.workflow_step_uuid = p_step_uuid
  FOR UPDATE OF t, ws;
  RETURN v_target;
END
$fn$;

-- Applies a step's result and moves its task on, touching only the step, its own children and the task row. p_target
-- is the step and its task, locked by the caller (tasker_lock_step_for_result), who has checked the step's state:
-- in_progress for a worker's own result (p_results is the envelope), enqueued_for_orchestration /
-- enqueued_as_error_for_orchestration for a result an orchestrator applies (the envelope is stored already;
-- p_results NULL).
--   success -> complete (Complete), and its children released (tasker_release_children, p_child_mode 'handoff'
--     or 'enqueue' on p_queue: their namespace's worker queue)
--   failure -> waiting_for_retry (WaitForRetry: retryable, attempts left; the backoff is the handler's retry-after
--     hint, else the step's policy, plus up to p_jitter_fraction of random jitter, capped at p_max_backoff_seconds)
--     or -> error (Fail)
-- Then the task's count of active steps moves by this result (the step leaves, the children it made ready come
-- in). While something stays active the task stays in steps_in_process and nothing more is written (no evaluation
-- of the task per result); when nothing does, the whole task is evaluated (StepCompleted, then complete, blocked,
-- waiting for a retry or for dependencies). Returns the outcome, the steps enqueued (children handed to the caller
-- included) and the messages of the children claimed for the caller.
CREATE FUNCTION tasker_apply_step_result(
  p_target tasker_result_target, p_success boolean, p_results jsonb, p_processor_uuid uuid, p_headers jsonb,
  p_max_backoff_seconds double precision, p_jitter_fraction double precision, p_queue varchar, p_child_mode text,
  p_handoff_limit integer DEFAULT 0, p_vt_seconds double precision DEFAULT 30)
RETURNS TABLE (step_state varchar, task_state varchar, outcome text, execution_status text, enqueued_count integer,
               claimed_msg_ids bigint[])
LANGUAGE plpgsql AS $fn$
DECLARE
  v_results jsonb := COALESCE(p_results, p_target.results);
  v_to varchar;
  v_outcome text;
  v_meta jsonb;
  v_backoff double precision;
  v_child record;
  v_released integer := 0;
  v_claimed bigint[] := '{}';
  v_active integer;
  v_eval record;
BEGIN
  IF p_success THEN
    v_to := 'complete';
    v_outcome := 'completed';
    v_meta := '{"event": "Complete"}'::jsonb;
  ELSIF p_target.retryable AND COALESCE((v_results -> 'error' ->> 'retryable')::boolean, true)
        AND p_target.attempts < GREATEST(p_target.max_attempts, 1) THEN
    v_backoff := COALESCE((v_results -> 'error' ->> 'retry_after_seconds')::double precision,
                          extract(epoch FROM calculate_backoff_delay(p_target.attempts, p_target.backoff,
                                                                     p_target.backoff_base_ms, p_target.max_backoff_ms)));
    -- jitter first, then the cap: no delay exceeds p_max_backoff_seconds
    v_backoff := LEAST(GREATEST(v_backoff, 0) * (1 + random() * GREATEST(p_jitter_fraction, 0)), p_max_backoff_seconds);
    v_to := 'waiting_for_retry';
    v_outcome := 'retry_scheduled';
    v_meta := jsonb_build_object('event', 'WaitForRetry', 'message',
                                 COALESCE(v_results -> 'error' ->> 'message', 'step failed'), 'backoff_seconds', v_backoff);
  ELSE
    v_to := 'error';
    v_outcome := 'failed';
    v_meta := jsonb_build_object('event', 'Fail', 'message', COALESCE(v_results -> 'error' ->> 'message', 'step failed'));
  END IF;
  PERFORM tasker_write_step_transitions(ARRAY[p_target.step_uuid], ARRAY[p_target.step_state], v_to, p_processor_uuid,
                                        v_meta, p_results, v_backoff);

  -- the step was active (in progress, or its result waiting for an orchestrator); its ready children become so
  v_active := p_target.active_steps - 1;
  IF v_to = 'complete' THEN
    FOR v_child IN
      SELECT * FROM tasker_release_children(p_target.step_uuid, p_processor_uuid, p_child_mode, p_target.task_uuid,
        p_queue,
        -- without a trace of the caller's own, the children's messages continue the task's trace
        CASE WHEN COALESCE(p_headers, '{}'::jsonb) ? 'traceparent' THEN p_headers ELSE p_target.trace_headers END,
        p_target.correlation_id, p_target.parent_correlation_id, p_handoff_limit, p_vt_seconds)
    LOOP
      v_released := v_released + 1;
      IF v_child.claimed THEN
        v_claimed := v_claimed || v_child.msg_id;
      END IF;
    END LOOP;
    v_active := v_active + v_released;
  END IF;

  IF p_target.task_state = 'steps_in_process' AND v_active <= 0 THEN
    SELECT * INTO v_eval FROM tasker_advance_task(p_target.task_uuid, p_processor_uuid, p_headers, 'steps_in_process',
      ARRAY['evaluating_results']::varchar[],
      ARRAY[jsonb_build_object('event', 'StepCompleted', 'stepUuid', p_target.step_uuid)]);
    RETURN QUERY SELECT v_to, v_eval.task_state, v_outcome, v_eval.execution_status,
                        v_released + cardinality(v_eval.enqueued_step_uuids), v_claimed;
    RETURN;
  END IF;
  -- (a chain that hands each step to the next leaves the count as it was: nothing to write)
  IF GREATEST(v_active, 0) <> p_target.active_steps THEN
    UPDATE tasker_tasks SET active_steps = GREATEST(v_active, 0), updated_at = now()
    WHERE task_uuid = p_target.task_uuid;
  END IF;
  RETURN QUERY SELECT v_to, p_target.task_state, v_outcome, NULL::text, v_released, v_claimed;
END
$fn$;

-- Applies a result an orchestrator reads from orchestration_step_results_queue (the step waits in
-- enqueued_for_orchestration or enqueued_as_error_for_orchestration): tasker_apply_step_result, with the children
-- enqueued for the workers. A step in any other state had its result applied already (a duplicate delivery):
-- 'ignored'.
CREATE FUNCTION tasker_process_step_result(
  p_step_uuid uuid, p_processor_uuid uuid, p_headers jsonb DEFAULT '{}'::jsonb,
  p_max_backoff_seconds double precision DEFAULT 300, p_jitter_fraction double precision DEFAULT 0)
RETURNS TABLE (task_uuid uuid, step_state varchar, task_state varchar, outcome text, execution_status text,
               enqueued_count integer, parent_correlation_id uuid, namespace_name varchar, task_name varchar)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_target tasker_result_target := tasker_lock_step_for_result(p_step_uuid);
  v_task record;
  r record;
BEGIN
  IF v_target.step_uuid IS NULL THEN
    RETURN QUERY SELECT NULL::uuid, NULL::varchar, NULL::varchar, 'unknown_step'::text, NULL::text, 0,
                        NULL::uuid, NULL::varchar, NULL::varchar;
    RETURN;
  END IF;
  -- the task's namespace (its steps' queue) and name (what the orchestrator's metrics and logs are labelled with)
  SELECT ns.name AS namespace_name, nt.name AS task_name INTO v_task
  FROM tasker_tasks t
  JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE t.task_uuid = v_target.task_uuid;
  IF v_target.step_state NOT IN ('enqueued_for_orchestration', 'enqueued_as_error_for_orchestration') THEN
    RETURN QUERY SELECT v_target.task_uuid, v_target.step_state, v_target.task_state, 'ignored'::text, NULL::text, 0,
                        v_target.parent_correlation_id, v_task.namespace_name, v_task.task_name;
    RETURN;
  END IF;
  SELECT * INTO r FROM tasker_apply_step_result(v_target, v_target.step_state = 'enqueued_for_orchestration', NULL,
    p_processor_uuid, p_headers, p_max_backoff_seconds, p_jitter_fraction,
    tasker_worker_queue_name(v_task.namespace_name), 'enqueue');
  RETURN QUERY SELECT v_target.task_uuid, r.step_state, r.task_state, r.outcome, r.execution_status, r.enqueued_count,
                      v_target.parent_correlation_id, v_task.namespace_name, v_task.task_name;
END
$fn$;

-- The orchestrator's consumer: reads up to p_limit messages from orchestration_step_results_queue and processes
-- each in its own subtransaction. A processed message is deleted; a message read more than p_max_read_ct times,
-- malformed, or naming an unknown step goes to the dead-letter archive with the reason; a message whose processing
-- failed stays in the queue and is retried after its visibility timeout. Returns one row per message.
CREATE FUNCTION tasker_process_result_messages(
  p_processor_uuid uuid, p_limit integer DEFAULT 10, p_vt_seconds double precision DEFAULT 30,
  p_max_read_ct integer DEFAULT 5, p_max_backoff_seconds double precision DEFAULT 300,
  p_jitter_fraction double precision DEFAULT 0)
RETURNS TABLE (msg_id bigint, read_ct integer, enqueued_at timestamptz, headers jsonb, step_uuid uuid, task_uuid uuid,
               correlation_id uuid, step_state varchar, task_state varchar, outcome text, execution_status text,
               error text, enqueued_count integer, parent_correlation_id uuid, namespace_name varchar,
               task_name varchar)
LANGUAGE plpgsql AS $fn$
DECLARE
  c_queue constant varchar := 'orchestration_step_results_queue';
  m record;
  r record;
  v_step_uuid uuid;
  v_correlation uuid;
BEGIN
  PERFORM tasker_apply_commit_mode();
  -- the caller wakes its own consumers once this commits (tasker_notify_queue)
  PERFORM set_config('tasker.notify_origin', p_processor_uuid::text, true);
  FOR m IN SELECT * FROM tasker_read(c_queue, p_vt_seconds, p_limit) LOOP
    v_step_uuid := NULL;
    v_correlation := CASE WHEN tasker_is_uuid(m.message ->> 'correlation_id') THEN (m.message ->> 'correlation_id')::uuid END;
    IF m.read_ct > p_max_read_ct THEN
      PERFORM tasker_archive(c_queue, m.msg_id, format('read %s times without being processed', m.read_ct), true);
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, NULL::uuid, NULL::uuid, v_correlation, NULL::varchar,
                          NULL::varchar, 'dead_lettered'::text, NULL::text, 'max read count exceeded'::text, 0,
                          NULL::uuid, NULL::varchar, NULL::varchar;
      CONTINUE;
    END IF;
    IF NOT tasker_is_uuid(m.message ->> 'step_uuid') THEN
      PERFORM tasker_archive(c_queue, m.msg_id, 'malformed message: no step_uuid', true);
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, NULL::uuid, NULL::uuid, v_correlation, NULL::varchar,
                          NULL::varchar, 'dead_lettered'::text, NULL::text, 'malformed message'::text, 0,
                          NULL::uuid, NULL::varchar, NULL::varchar;
      CONTINUE;
    END IF;
    v_step_uuid := (m.message ->> 'step_uuid')::uuid;
    BEGIN
      SELECT * INTO r FROM tasker_process_step_result(v_step_uuid, p_processor_uuid, m.headers, p_max_backoff_seconds,
                                                      p_jitter_fraction);
      IF r.outcome = 'unknown_step' THEN
        PERFORM tasker_archive(c_queue, m.msg_id, 'unknown step ' || v_step_uuid, true);
        RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, v_step_uuid, NULL::uuid, v_correlation, NULL::varchar,
                            NULL::varchar, 'dead_lettered'::text, NULL::text, 'unknown step'::text, 0,
                            NULL::uuid, NULL::varchar, NULL::varchar;
      ELSE
        PERFORM tasker_delete(c_queue, m.msg_id);
        RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, v_step_uuid, r.task_uuid, v_correlation, r.step_state,
                            r.task_state, r.outcome, r.execution_status, NULL::text, r.enqueued_count,
                            r.parent_correlation_id, r.namespace_name, r.task_name;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, v_step_uuid, NULL::uuid, v_correlation, NULL::varchar,
                          NULL::varchar, 'error'::text, NULL::text, SQLERRM, 0,
                          NULL::uuid, NULL::varchar, NULL::varchar;
    END;
  END LOOP;
  PERFORM set_config('tasker.notify_origin', '', true);
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Worker
-- ---------------------------------------------------------------------------------------------------

-- What a worker needs to run claimed steps: for each message of p_queue in p_msg_ids (whose step the caller has
-- just claimed), the message, the step, its task and template coordinates, and its parents' results by step name.
-- A step's other ancestors are not included: a handler that asks for one reads it on demand
-- (get_step_transitive_dependencies), so a claim costs the same in a chain of 4 steps as in one of 128.
CREATE FUNCTION tasker_claimed_steps(p_queue varchar, p_msg_ids bigint[])
RETURNS TABLE (
  msg_id bigint, read_ct integer, enqueued_at timestamptz, headers jsonb, outcome text, reason text, step_uuid uuid,
  task_uuid uuid, correlation_id uuid, parent_correlation_id uuid, namespace_name varchar, task_name varchar,
  task_version varchar, step_name varchar, attempts integer, max_attempts integer, retryable boolean,
  timeout_seconds integer, inputs jsonb, task_context jsonb, dependency_results jsonb, claim_id uuid)
LANGUAGE sql STABLE AS $fn$
  SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, 'claimed'::text, NULL::text, ws.workflow_step_uuid,
         t.task_uuid, t.correlation_id, t.parent_correlation_id, ns.name, nt.name, nt.version, sn.name, ws.attempts,
         ws.max_attempts, ws.retryable, ws.timeout_seconds, ws.inputs, t.context,
         (SELECT COALESCE(jsonb_object_agg(pn.name, p.results -> 'result'), '{}'::jsonb)
          FROM tasker_workflow_step_edges e
          JOIN tasker_workflow_steps p ON p.workflow_step_uuid = e.from_step_uuid
          JOIN tasker_named_steps pn ON pn.named_step_uuid = p.named_step_uuid
          WHERE e.to_step_uuid = ws.workflow_step_uuid AND p.processed AND p.results IS NOT NULL),
         m.claim_id
  -- (driven by the messages' keys, msg_id = ANY: a join to unnest() let the planner scan the whole queue instead)
  FROM tasker_queue_messages m
  JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = (m.message ->> 'step_uuid')::uuid
  JOIN tasker_named_steps sn ON sn.named_step_uuid = ws.named_step_uuid
  JOIN tasker_tasks t ON t.task_uuid = ws.task_uuid
  JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE m.queue_name = p_queue AND m.msg_id = ANY (p_msg_ids)
  ORDER BY array_position(p_msg_ids, m.msg_id)
$fn$;

-- The worker's consumer: reads up to p_limit step messages from p_queue and claims each step.
--   enqueued -> in_progress (Start, attempts + 1): outcome 'claimed', with everything the handler needs
--   in_progress (the message came back after its visibility timeout: the previous claimant went silent)
--     -> in_progress again (Reclaim, attempts + 1) while the step is retryable and attempts remain: 'claimed';
--     otherwise the step is reported failed (WorkerLost) and the message deleted: 'abandoned'
--   any other state: the message is stale and is archived: 'discarded'
--   malformed, or an unknown step: dead-letter archive: 'dead_lettered'
-- p_max_read_ct is kept for the signature; step messages are limited by the step's attempts instead.
-- The message stays in the queue (hidden by its visibility timeout) until the result is submitted.
CREATE FUNCTION tasker_claim_step_messages(
  p_queue varchar, p_processor_uuid uuid, p_limit integer DEFAULT 1, p_vt_seconds double precision DEFAULT 30)
RETURNS TABLE (
  msg_id bigint, read_ct integer, enqueued_at timestamptz, headers jsonb, outcome text, reason text, step_uuid uuid, task_uuid uuid,
  correlation_id uuid, parent_correlation_id uuid, namespace_name varchar, task_name varchar, task_version varchar,
  step_name varchar, attempts integer, max_attempts integer, retryable boolean, timeout_seconds integer,
  inputs jsonb, task_context jsonb, dependency_results jsonb, claim_id uuid)
LANGUAGE plpgsql AS $fn$
DECLARE
  m record;
  v_step_uuid uuid;
  v_step record;
  v_envelope jsonb;
  v_claimed bigint[] := '{}';
  -- the steps claimed from `enqueued`: their Start is written for all of them at once, after the loop
  v_started uuid[] := '{}';
BEGIN
  PERFORM tasker_apply_commit_mode();
  FOR m IN SELECT * FROM tasker_read(p_queue, p_vt_seconds, p_limit) LOOP
    -- (no read-count limit for a step message: every read claims an attempt, and the step's attempt budget
    -- decides when reclaiming stops; a message that can never be claimed is archived at its first read)
    IF NOT tasker_is_uuid(m.message ->> 'step_uuid') THEN
      PERFORM tasker_archive(p_queue, m.msg_id, 'malformed message: no step_uuid', true);
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, 'dead_lettered'::text, 'malformed message'::text,
        NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::varchar, NULL::varchar, NULL::varchar,
        NULL::integer, NULL::integer, NULL::boolean, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::uuid;
      CONTINUE;
    END IF;
    v_step_uuid := (m.message ->> 'step_uuid')::uuid;
    IF v_step_uuid = ANY (v_started) THEN
      -- a second message for a step this read started: its Start is written first, so that this one sees the
      -- step in_progress (and reclaims it), as it would have message by message
      PERFORM tasker_write_step_transitions(v_started, array_fill('enqueued'::varchar, ARRAY[cardinality(v_started)]),
                                            'in_progress', p_processor_uuid, '{"event": "Start"}'::jsonb);
      v_started := '{}';
    END IF;

    SELECT ws.task_uuid, ws.current_state, ws.attempts, ws.max_attempts, ws.retryable, t.correlation_id,
           t.parent_correlation_id
    INTO v_step
    FROM tasker_workflow_steps ws JOIN tasker_tasks t ON t.task_uuid = ws.task_uuid
    WHERE ws.workflow_step_uuid = v_step_uuid FOR UPDATE OF ws;
    IF NOT FOUND THEN
      PERFORM tasker_archive(p_queue, m.msg_id, 'unknown step ' || v_step_uuid, true);
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, 'dead_lettered'::text, 'unknown step'::text,
        v_step_uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::varchar, NULL::varchar, NULL::varchar,
        NULL::integer, NULL::integer, NULL::boolean, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::uuid;
      CONTINUE;
    END IF;

    IF v_step.current_state = 'in_progress'
       AND (NOT v_step.retryable OR v_step.attempts >= GREATEST(v_step.max_attempts, 1)) THEN
      -- the claimants of every allowed attempt went silent: report the step failed, for the orchestrator to apply
      v_envelope := jsonb_build_object(
        'step_uuid', v_step_uuid, 'success', false, 'status', 'error', 'result', NULL,
        'error', jsonb_build_object('message', format('the worker running attempt %s stopped responding', v_step.attempts),
                                    'error_type', 'WorkerLost', 'retryable', false),
        'metadata', jsonb_build_object('completed_at', now(), 'processor_uuid', p_processor_uuid));
      PERFORM tasker_write_step_transition(v_step_uuid, 'in_progress', 'enqueued_as_error_for_orchestration',
        p_processor_uuid, '{"event": "EnqueueAsErrorForOrchestration", "reason": "WorkerLost"}'::jsonb, v_envelope);
      PERFORM tasker_delete(p_queue, m.msg_id);
      PERFORM tasker_send('orchestration_step_results_queue',
        tasker_step_message(v_step.task_uuid, v_step_uuid, v_step.correlation_id, v_step.parent_correlation_id),
        m.headers);
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, 'abandoned'::text, 'no attempt left after lost workers'::text,
        v_step_uuid, v_step.task_uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::varchar, NULL::varchar,
        NULL::varchar, v_step.attempts, v_step.max_attempts, NULL::boolean, NULL::integer, NULL::jsonb, NULL::jsonb,
        NULL::jsonb, NULL::uuid;
      CONTINUE;
    ELSIF v_step.current_state = 'enqueued' THEN
      v_started := v_started || v_step_uuid;
    ELSIF v_step.current_state = 'in_progress' THEN
      PERFORM tasker_write_step_transition(v_step_uuid, 'in_progress', 'in_progress', p_processor_uuid,
                                           '{"event": "Reclaim"}'::jsonb, NULL);
    ELSE
      PERFORM tasker_archive(p_queue, m.msg_id, 'step not claimable in state ' || v_step.current_state, false);
      RETURN QUERY SELECT m.msg_id, m.read_ct, m.enqueued_at, m.headers, 'discarded'::text,
        ('step not claimable in state ' || v_step.current_state)::text,
        v_step_uuid, v_step.task_uuid, NULL::uuid, NULL::uuid, NULL::varchar, NULL::varchar, NULL::varchar,
        NULL::varchar, NULL::integer, NULL::integer, NULL::boolean, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::jsonb, NULL::uuid;
      CONTINUE;
    END IF;
    v_claimed := v_claimed || m.msg_id;
  END LOOP;

  IF cardinality(v_started) > 0 THEN
    -- (the rows are locked by the loop; one insert and one update for every step started)
    PERFORM tasker_write_step_transitions(v_started, array_fill('enqueued'::varchar, ARRAY[cardinality(v_started)]),
                                          'in_progress', p_processor_uuid, '{"event": "Start"}'::jsonb);
  END IF;
  IF cardinality(v_claimed) > 0 THEN
    RETURN QUERY SELECT * FROM tasker_claimed_steps(p_queue, v_claimed);
  END IF;
END
$fn$;

-- The worker's hand-back of one claimed attempt (called by tasker_submit_step_results, which sets the commit mode and
-- marks its notifications with the worker's origin). The step must still be in_progress with the claimed attempt;
-- its message is deleted. Then either
--   * p_process_inline (the default path): the result is applied at once (tasker_apply_step_result: complete /
--     retry / fail; the step's children released; the task moved on only when nothing is active any more). Up to
--     p_handoff_limit children that became ready are claimed for this worker in the same transaction (their
--     messages hidden for p_vt_seconds) and returned in `claims`, so the worker starts them at once: no
--     notification, no wake-up, no second claim. If applying fails, the result goes to the orchestrators as below;
--   * or: in_progress -> enqueued_for_orchestration (or enqueued_as_error_for_orchestration) with the envelope,
--     and a message to orchestration_step_results_queue for an orchestrator to apply.
-- Outcomes: 'processed' (applied inline), 'submitted' (sent to the orchestrators); 'superseded' (the step was
-- claimed again meanwhile, or the message is no longer this claim's — p_claim_id, the claim_id its read gave it —,
-- e.g. after a server crash undid the claim: nothing written, message kept for the new claimant); 'discarded' (the step ended
-- meanwhile, e.g. cancelled: nothing written, message archived). `claims` holds tasker_claimed_steps rows as JSON.
CREATE FUNCTION tasker_submit_step_result(
  p_queue varchar, p_msg_id bigint, p_step_uuid uuid, p_attempts integer, p_success boolean, p_results jsonb,
  p_processor_uuid uuid, p_headers jsonb DEFAULT '{}'::jsonb, p_process_inline boolean DEFAULT false,
  p_max_backoff_seconds double precision DEFAULT 300, p_jitter_fraction double precision DEFAULT 0,
  p_handoff_limit integer DEFAULT 0, p_vt_seconds double precision DEFAULT 30, p_claim_id uuid DEFAULT NULL)
RETURNS TABLE (outcome text, step_state varchar, task_uuid uuid, task_state varchar, result_outcome text,
               enqueued_count integer, claims jsonb)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_target tasker_result_target;
  v_to varchar;
  v_message tasker_queue_messages;
  v_owned boolean;
  r record;
BEGIN
  -- The message first (the lock order: a claim whose visibility timeout ran out locks it, then the step), taken only
  -- while it is still this claim's: after another read of it (a reclaim), or after a server crash undid the claim
  -- (an asynchronous commit lost) and the step was claimed again with the same attempt number — on a new message
  -- or on one whose msg_id came back —, only the message's claim_id tells the claims apart. Deleting it now locks it
  -- with no write of its own; it is put back below when the result turns out not to count.
  DELETE FROM tasker_queue_messages m WHERE m.queue_name = p_queue AND m.msg_id = p_msg_id AND m.claim_id = p_claim_id
  RETURNING m.* INTO v_message;
  v_owned := FOUND;
  v_target := tasker_lock_step_for_result(p_step_uuid);
  IF v_target.step_uuid IS NULL THEN
    IF v_owned THEN
      INSERT INTO tasker_queue_archive (queue_name, msg_id, read_ct, enqueued_at, vt, message, headers, reason, dead_letter)
      VALUES (v_message.queue_name, v_message.msg_id, v_message.read_ct, v_message.enqueued_at, v_message.vt,
              v_message.message, v_message.headers, 'unknown step ' || p_step_uuid, true);
    END IF;
    RETURN QUERY SELECT 'discarded'::text, NULL::varchar, NULL::uuid, NULL::varchar, NULL::text, 0, '[]'::jsonb;
    RETURN;
  END IF;
  IF NOT v_owned OR v_target.step_state <> 'in_progress' OR v_target.attempts <> p_attempts THEN
    IF v_target.step_state IN ('complete', 'cancelled', 'resolved_manually') THEN
      IF v_owned THEN
        INSERT INTO tasker_queue_archive (queue_name, msg_id, read_ct, enqueued_at, vt, message, headers, reason)
        VALUES (v_message.queue_name, v_message.msg_id, v_message.read_ct, v_message.enqueued_at, v_message.vt,
                v_message.message, v_message.headers, 'result of a step already ' || v_target.step_state);
      END IF;
      RETURN QUERY SELECT 'discarded'::text, v_target.step_state, v_target.task_uuid, NULL::varchar, NULL::text, 0,
                          '[]'::jsonb;
    ELSE
      -- another claim's step now: its message stays for it
      IF v_owned THEN
        INSERT INTO tasker_queue_messages SELECT (v_message).*;
      END IF;
      RETURN QUERY SELECT 'superseded'::text, v_target.step_state, v_target.task_uuid, NULL::varchar, NULL::text, 0,
                          '[]'::jsonb;
    END IF;
    RETURN;
  END IF;

  IF p_process_inline THEN
    BEGIN
      SELECT * INTO r FROM tasker_apply_step_result(v_target, p_success, p_results, p_processor_uuid, p_headers,
        p_max_backoff_seconds, p_jitter_fraction, p_queue, 'handoff', p_handoff_limit, p_vt_seconds);
      RETURN QUERY SELECT 'processed'::text, r.step_state, v_target.task_uuid, r.task_state, r.outcome, r.enqueued_count,
        CASE WHEN cardinality(r.claimed_msg_ids) = 0 THEN '[]'::jsonb
             ELSE (SELECT jsonb_agg(to_jsonb(c) || jsonb_build_object('msg_id', c.msg_id::text))
                   FROM tasker_claimed_steps(p_queue, r.claimed_msg_ids) c) END;
      RETURN;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'applying the result of step % inline failed (%); handing it to the orchestrators', p_step_uuid, SQLERRM;
    END;
  END IF;

  v_to := CASE WHEN p_success THEN 'enqueued_for_orchestration' ELSE 'enqueued_as_error_for_orchestration' END;
  PERFORM tasker_write_step_transitions(ARRAY[p_step_uuid], ARRAY['in_progress']::varchar[], v_to, p_processor_uuid,
    jsonb_build_object('event', CASE WHEN p_success THEN 'EnqueueForOrchestration' ELSE 'EnqueueAsErrorForOrchestration' END),
    p_results);
  PERFORM tasker_send('orchestration_step_results_queue',
    tasker_step_message(v_target.task_uuid, p_step_uuid, v_target.correlation_id, v_target.parent_correlation_id),
    p_headers);
  RETURN QUERY SELECT 'submitted'::text, v_to, v_target.task_uuid, NULL::varchar, NULL::text, 0, '[]'::jsonb;
END
$fn$;

-- Gives an unfinished claimed attempt back (graceful shutdown, or a worker without the step's handler):
-- in_progress -> enqueued without using up the attempt; the message becomes visible again after p_delay_seconds.
-- Returns false when the attempt was superseded (the step claimed again, or the message no longer this claim's).
CREATE FUNCTION tasker_release_step(p_queue varchar, p_msg_id bigint, p_step_uuid uuid, p_attempts integer,
                                    p_processor_uuid uuid, p_delay_seconds double precision DEFAULT 0,
                                    p_claim_id uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM tasker_apply_commit_mode();
  -- the message, then the step: the order a claim locks them in; the message must still be this claim's
  PERFORM 1 FROM tasker_queue_messages
  WHERE queue_name = p_queue AND msg_id = p_msg_id AND claim_id = p_claim_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM 1 FROM tasker_workflow_steps ws
  WHERE ws.workflow_step_uuid = p_step_uuid AND ws.current_state = 'in_progress' AND ws.attempts = p_attempts
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM tasker_write_step_transition(p_step_uuid, 'in_progress', 'enqueued', p_processor_uuid,
                                       '{"event": "Release"}'::jsonb, NULL);
  PERFORM tasker_set_vt(p_queue, p_msg_id, GREATEST(p_delay_seconds, 0));
  IF p_delay_seconds <= 0 THEN
    PERFORM tasker_notify_queue(p_queue);
  END IF;
  RETURN true;
END
$fn$;

-- ---------------------------------------------------------------------------------------------------
-- Operator actions and policies
-- ---------------------------------------------------------------------------------------------------

-- Cancels a task and every unfinished step (their messages are discarded when read). Returns the task's state
-- afterwards and whether this call cancelled it (false: it was already terminal). No row for an unknown task.
CREATE FUNCTION tasker_cancel_task(p_task_uuid uuid, p_processor_uuid uuid, p_reason text DEFAULT NULL)
RETURNS TABLE (task_state varchar, cancelled boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state varchar;
  v_step record;
BEGIN
  SELECT t.current_state INTO v_state FROM tasker_tasks t WHERE t.task_uuid = p_task_uuid FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_state IN ('complete', 'error', 'cancelled', 'resolved_manually') THEN
    RETURN QUERY SELECT v_state, false;
    RETURN;
  END IF;
  FOR v_step IN
    SELECT ws.workflow_step_uuid, ws.current_state FROM tasker_workflow_steps ws
    WHERE ws.task_uuid = p_task_uuid AND ws.current_state NOT IN ('complete', 'cancelled', 'resolved_manually')
    ORDER BY ws.workflow_step_uuid
    FOR UPDATE
  LOOP
    PERFORM tasker_write_step_transition(v_step.workflow_step_uuid, v_step.current_state, 'cancelled', p_processor_uuid,
      jsonb_build_object('event', 'Cancel', 'reason', COALESCE(p_reason, 'task cancelled')), NULL);
  END LOOP;
  PERFORM tasker_write_task_transition(p_task_uuid, v_state, 'cancelled', p_processor_uuid,
    jsonb_build_object('event', 'Cancel', 'reason', COALESCE(p_reason, 'cancelled')));
  RETURN QUERY SELECT 'cancelled'::varchar, true;
END
$fn$;

-- After an operator changed a step (retried or resolved it): a task in steps_in_process or blocked_by_failures is
-- evaluated at once in the caller's transaction (Unblock and DependenciesReady for a blocked task, StepCompleted
-- for one with steps in process), so it moves on without waiting for another result or for the readiness loop.
-- Returns the task's state afterwards.
CREATE FUNCTION tasker_reevaluate_task(p_task_uuid uuid, p_processor_uuid uuid, p_reason text,
                                       p_step_uuid uuid DEFAULT NULL)
RETURNS varchar
LANGUAGE plpgsql AS $fn$
DECLARE
  v_state varchar;
  v_eval record;
BEGIN
  SELECT t.current_state INTO v_state FROM tasker_tasks t WHERE t.task_uuid = p_task_uuid FOR UPDATE;
  IF v_state = 'blocked_by_failures' THEN
    SELECT * INTO v_eval FROM tasker_advance_task(p_task_uuid, p_processor_uuid, '{}'::jsonb, v_state,
      ARRAY['waiting_for_dependencies', 'evaluating_results']::varchar[],
      ARRAY[jsonb_build_object('event', 'Unblock', 'reason', p_reason), '{"event": "DependenciesReady"}'::jsonb]);
    RETURN v_eval.task_state;
  ELSIF v_state = 'steps_in_process' THEN
    SELECT * INTO v_eval FROM tasker_advance_task(p_task_uuid, p_processor_uuid, '{}'::jsonb, v_state,
      ARRAY['evaluating_results']::varchar[],
      ARRAY[jsonb_build_object('event', 'StepCompleted', 'stepUuid', p_step_uuid)]);
    RETURN v_eval.task_state;
  END IF;
  RETURN v_state;
END
$fn$;

-- Gives up tasks that have been blocked_by_failures for longer than p_blocked_for_seconds: -> error (GiveUp).
CREATE FUNCTION tasker_give_up_blocked_tasks(p_processor_uuid uuid, p_blocked_for_seconds double precision,
                                             p_limit integer DEFAULT 100)
RETURNS SETOF uuid
LANGUAGE plpgsql AS $fn$
DECLARE
  v_task_uuid uuid;
BEGIN
  PERFORM tasker_apply_commit_mode();
  FOR v_task_uuid IN
    SELECT t.task_uuid FROM tasker_tasks t
    CROSS JOIN LATERAL (
      SELECT tt.created_at FROM tasker_task_transitions tt
      WHERE tt.task_uuid = t.task_uuid ORDER BY tt.sort_key DESC LIMIT 1) blocked
    WHERE t.current_state = 'blocked_by_failures'
      AND blocked.created_at < now() - make_interval(secs => p_blocked_for_seconds)
    ORDER BY blocked.created_at
    LIMIT p_limit
    FOR UPDATE OF t SKIP LOCKED
  LOOP
    PERFORM tasker_write_task_transition(v_task_uuid, 'blocked_by_failures', 'error', p_processor_uuid,
      jsonb_build_object('event', 'GiveUp', 'reason',
        format('blocked by failures for more than %s seconds', p_blocked_for_seconds)));
    RETURN NEXT v_task_uuid;
  END LOOP;
END
$fn$;

-- The earliest time a step waiting for a retry becomes ready, for a task an orchestrator can act on (NULL when
-- none waits): the orchestration loop sleeps until then instead of polling.
CREATE FUNCTION tasker_next_retry_at() RETURNS timestamptz
LANGUAGE sql STABLE AS $fn$
  SELECT min(ws.retry_at)
  FROM tasker_workflow_steps ws
  JOIN tasker_tasks t ON t.task_uuid = ws.task_uuid
  WHERE ws.retry_at IS NOT NULL AND ws.current_state = 'waiting_for_retry'
    AND t.current_state IN ('waiting_for_retry', 'steps_in_process')
$fn$;

SELECT tasker_create_queue('orchestration_step_results_queue');

-- The engine's statements are all key lookups, but a plan cached while the tables were still small (a fresh
-- database, before autovacuum has analyzed it) would keep scanning them sequentially as they grow — measured:
-- end-to-end latency growing linearly with the number of finished tasks. The entry points therefore plan with
-- sequential scans disabled (functions they call, and the SQL functions inlined into them, inherit the setting).
-- The other entry points get the same setting next to their definitions: transition_task_state_atomic and
-- transition_step_state_atomic (0003_transitions.sql), get_next_ready_tasks (0005_discovery.sql).
ALTER FUNCTION tasker_create_task SET enable_seqscan = off;
ALTER FUNCTION tasker_evaluate_task SET enable_seqscan = off;
ALTER FUNCTION tasker_process_result_messages SET enable_seqscan = off;
ALTER FUNCTION tasker_claim_step_messages SET enable_seqscan = off;
ALTER FUNCTION tasker_release_step SET enable_seqscan = off;
ALTER FUNCTION tasker_cancel_task SET enable_seqscan = off;
ALTER FUNCTION tasker_reevaluate_task SET enable_seqscan = off;
ALTER FUNCTION tasker_give_up_blocked_tasks SET enable_seqscan = off;
