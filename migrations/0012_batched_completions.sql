-- A worker's results: tasker_submit_step_results, which applies successes with fewer, flatter statements than the
-- per-result path of 0007_engine.sql (tasker_submit_step_result and the functions it calls: some thirty nested
-- statements and eight nested function calls per result).
--
--   tasker_submit_step_results    the worker's submission: a batch of successes through tasker_complete_step_results,
--                                 one alone through tasker_complete_step_result; a failure, results for the
--                                 orchestrators, and any result the two do not apply, result by result through
--                                 tasker_submit_step_result
--   tasker_complete_step_results  successes set-based: messages, locks, completions, children, tasks — each one
--                                 statement for the whole batch
--   tasker_complete_step_result   one success, its statements inline
--
-- The two only apply results that count: every message still its claim's, every step in_progress with the claimed
-- attempt. Otherwise they raise tasker_result_not_counted (SQLSTATE TKR01) before writing anything that stays: the
-- caller undoes them and goes result by result, where tasker_submit_step_result decides each outcome (superseded,
-- discarded) in one place. What they write is exactly what tasker_submit_step_result writes for the same results
-- (the same transitions, rows, messages and notifications): the audit trail does not see which path applied a result.

-- One row of tasker_submit_step_results' answer.
CREATE TYPE tasker_submit_outcome AS (
  ord integer, outcome text, step_state varchar, task_uuid uuid, task_state varchar, result_outcome text,
  enqueued_count integer, claims jsonb);

-- Applies a batch of successful results (p_results as for tasker_submit_step_results; every item has success: true)
-- inline, set-based, in this order of locks (the order every writer keeps):
--   1. the results' messages, deleted while they are still these claims' (p_claim_id), which locks them;
--   2. the steps' tasks and the steps, locked in task order (FOR UPDATE OF t, ws after the sort); a message no longer
--      its claim's, a step no longer in_progress with the claimed attempt, or an unknown step raises TKR01 (above);
--   3. in_progress -> complete (Complete, the envelope stored), one insert and one update for all;
--   4. their children, locked in uuid order: each has as many unfinished parents less as it has parents among the
--      completed steps; a pending child left with none is ready. Ready children are claimed for this worker
--      (Start, handoff: a hidden message read once, as tasker_release_children's 'handoff') — one per completed
--      step that has any, then p_extra_slots more in result order — or enqueued (Enqueue, a message, the queue's
--      consumers notified); p_handoff false enqueues them all. One update, one transition insert and one message
--      insert for all;
--   5. each task's count of active steps moves by its completions and its ready children; a task in
--      steps_in_process left with nothing active is evaluated (tasker_advance_task, StepCompleted first), as
--      tasker_apply_step_result does.
-- Returns one row per result (ord = its position in p_results); claims as tasker_submit_step_result's.
CREATE FUNCTION tasker_complete_step_results(
  p_queue varchar, p_results jsonb, p_processor_uuid uuid, p_extra_slots integer, p_vt_seconds double precision,
  p_handoff boolean)
RETURNS SETOF tasker_submit_outcome
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  -- the results, by position in p_results
  v_ord integer[];
  v_msg_id bigint[];
  v_claim_id uuid[];
  v_step uuid[];
  v_attempts integer[];
  v_envelope jsonb[];
  v_headers jsonb[];
  v_taken integer;
  v_counted integer;
  -- the results in lock order, with their tasks and what their children's messages carry
  c_ord integer[];
  c_step uuid[];
  c_task uuid[];
  c_task_state varchar[];
  c_correlation uuid[];
  c_parent_correlation uuid[];
  c_headers jsonb[];
  -- the children of the completed steps
  k_step uuid[];
  k_task uuid[];
  k_ready boolean[];
  k_parents integer[];
  k_first integer[];
  -- the ready children's messages: the result that released each, its message and whether it was claimed
  s_ord integer[] := '{}';
  s_msg_id bigint[];
  s_claimed boolean[];
  v_enqueued integer;
  v_task record;
  v_eval record;
  v_task_states jsonb := '{}'::jsonb;
  v_eval_enqueued jsonb := '{}'::jsonb;
  v_claims jsonb := '{}'::jsonb;
  v_claimed bigint[];
BEGIN
  -- (the arrays in p_results' order: the aggregates read the items as jsonb_array_elements yields them)
  SELECT array_agg(x.ord::integer), array_agg((x.item ->> 'msg_id')::bigint), array_agg((x.item ->> 'claim_id')::uuid),
         array_agg((x.item ->> 'step_uuid')::uuid), array_agg((x.item ->> 'attempts')::integer),
         array_agg(x.item -> 'results'), array_agg(COALESCE(x.item -> 'headers', '{}'::jsonb))
  INTO v_ord, v_msg_id, v_claim_id, v_step, v_attempts, v_envelope, v_headers
  FROM jsonb_array_elements(p_results) WITH ORDINALITY AS x(item, ord);
  IF v_ord IS NULL THEN
    RETURN;
  END IF;

  -- 1. the messages
  DELETE FROM tasker_queue_messages m
  USING unnest(v_msg_id, v_claim_id) AS i(msg_id, claim_id)
  WHERE m.queue_name = p_queue AND m.msg_id = i.msg_id AND m.claim_id = i.claim_id;
  GET DIAGNOSTICS v_taken = ROW_COUNT;
  IF v_taken < cardinality(v_ord) THEN
    RAISE EXCEPTION USING ERRCODE = 'TKR01', MESSAGE = 'tasker_result_not_counted: a message is no longer its claim''s';
  END IF;

  -- 2. the tasks and steps (the arrays in lock order)
  SELECT array_agg(l.ord), array_agg(l.step_uuid), array_agg(l.task_uuid), array_agg(l.task_state),
         array_agg(l.correlation_id), array_agg(l.parent_correlation_id),
         -- without a trace of the result's own, the children's messages continue the task's trace
         array_agg(CASE WHEN l.headers ? 'traceparent' THEN l.headers ELSE l.trace_headers END),
         count(*) FILTER (WHERE l.step_state = 'in_progress' AND l.attempts = l.claimed_attempts)
  INTO c_ord, c_step, c_task, c_task_state, c_correlation, c_parent_correlation, c_headers, v_counted
  FROM (
    SELECT i.ord, ws.workflow_step_uuid AS step_uuid, t.task_uuid, t.current_state AS task_state,
           ws.current_state AS step_state, ws.attempts, i.attempts AS claimed_attempts, t.correlation_id,
           t.parent_correlation_id, t.trace_headers, i.headers
    FROM unnest(v_ord, v_step, v_attempts, v_headers) AS i(ord, step_uuid, attempts, headers)
    JOIN tasker_workflow_steps ws ON ws.workflow_step_uuid = i.step_uuid
    JOIN tasker_tasks t ON t.task_uuid = ws.task_uuid
    ORDER BY t.task_uuid, ws.workflow_step_uuid
    FOR UPDATE OF t, ws
  ) l;
  IF v_counted < cardinality(v_ord) THEN
    RAISE EXCEPTION USING ERRCODE = 'TKR01',
      MESSAGE = 'tasker_result_not_counted: a step is unknown, ended or claimed again';
  END IF;

  -- 3. the completions
  WITH completed AS (
    UPDATE tasker_workflow_steps ws SET
      current_state = 'complete', in_process = false, processed = true, processed_at = now(), retry_at = NULL,
      results = COALESCE(i.envelope, ws.results), updated_at = now()
    FROM unnest(v_step, v_envelope) AS i(step_uuid, envelope)
    WHERE ws.workflow_step_uuid = i.step_uuid
    RETURNING ws.workflow_step_uuid
  )
  INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                processor_uuid)
  SELECT c.step_uuid,
         COALESCE((SELECT max(st.sort_key) FROM tasker_workflow_step_transitions st
                   WHERE st.workflow_step_uuid = c.step_uuid), 0) + 1,
         'complete', 'in_progress', '{"event": "Complete"}'::jsonb, p_processor_uuid
  FROM unnest(c_step) AS c(step_uuid);

  -- 4. the children, locked in a fixed order
  SELECT array_agg(k.step_uuid), array_agg(k.task_uuid), array_agg(k.ready), array_agg(k.parents),
         array_agg(k.first_ord)
  INTO k_step, k_task, k_ready, k_parents, k_first
  FROM (
    SELECT ch.workflow_step_uuid AS step_uuid, ch.task_uuid, p.parents, p.first_ord,
           ch.current_state = 'pending' AND ch.unfinished_parents = p.parents AS ready
    FROM (SELECT e.to_step_uuid, count(*)::integer AS parents, min(c.ord) AS first_ord
          FROM unnest(c_step, c_ord) AS c(step_uuid, ord)
          JOIN tasker_workflow_step_edges e ON e.from_step_uuid = c.step_uuid
          GROUP BY e.to_step_uuid) p
    JOIN tasker_workflow_steps ch ON ch.workflow_step_uuid = p.to_step_uuid
    ORDER BY ch.workflow_step_uuid
    FOR UPDATE OF ch
  ) k;

  IF k_step IS NOT NULL THEN
    WITH kids AS (
      SELECT k.*,
             row_number() OVER (PARTITION BY k.first_ord, k.ready ORDER BY k.step_uuid) AS rank_in_result
      FROM unnest(k_step, k_task, k_ready, k_parents, k_first) AS k(step_uuid, task_uuid, ready, parents, first_ord)
    ),
    decided AS (
      SELECT kids.*,
             CASE WHEN NOT kids.ready THEN 'wait'
                  WHEN p_handoff AND (kids.rank_in_result = 1
                       OR sum(CASE WHEN kids.ready AND kids.rank_in_result > 1 THEN 1 ELSE 0 END)
                            OVER (ORDER BY kids.first_ord, kids.ready, kids.rank_in_result
                                  ROWS UNBOUNDED PRECEDING) <= GREATEST(p_extra_slots, 0)) THEN 'claim'
                  ELSE 'enqueue' END AS kind
      FROM kids
    ),
    moved AS (
      UPDATE tasker_workflow_steps ch SET
        current_state = CASE d.kind WHEN 'claim' THEN 'in_progress' WHEN 'enqueue' THEN 'enqueued'
                                    ELSE ch.current_state END,
        unfinished_parents = CASE WHEN d.kind = 'wait' THEN ch.unfinished_parents - d.parents ELSE 0 END,
        attempts = CASE WHEN d.kind = 'claim' THEN ch.attempts + 1 ELSE ch.attempts END,
        in_process = CASE d.kind WHEN 'claim' THEN true WHEN 'enqueue' THEN false ELSE ch.in_process END,
        last_attempted_at = CASE WHEN d.kind = 'claim' THEN now() ELSE ch.last_attempted_at END,
        retry_at = CASE WHEN d.kind = 'wait' THEN ch.retry_at END,
        updated_at = now()
      FROM decided d
      WHERE ch.workflow_step_uuid = d.step_uuid
      RETURNING ch.workflow_step_uuid
    ),
    recorded AS (
      INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                    processor_uuid)
      SELECT d.step_uuid,
             COALESCE((SELECT max(st.sort_key) FROM tasker_workflow_step_transitions st
                       WHERE st.workflow_step_uuid = d.step_uuid), 0) + 1,
             CASE WHEN d.kind = 'claim' THEN 'in_progress' ELSE 'enqueued' END, 'pending',
             CASE WHEN d.kind = 'claim' THEN '{"event": "Start", "handoff": true}'::jsonb
                  ELSE '{"event": "Enqueue"}'::jsonb END,
             p_processor_uuid
      FROM decided d WHERE d.kind <> 'wait'
    ),
    sent AS (
      INSERT INTO tasker_queue_messages (queue_name, vt, read_ct, message, headers, claim_id)
      SELECT p_queue,
             CASE WHEN d.kind = 'claim' THEN clock_timestamp() + make_interval(secs => p_vt_seconds) ELSE now() END,
             CASE WHEN d.kind = 'claim' THEN 1 ELSE 0 END,
             tasker_step_message(d.task_uuid, d.step_uuid, c.correlation_id, c.parent_correlation_id), c.headers,
             CASE WHEN d.kind = 'claim' THEN gen_random_uuid() END
      FROM decided d
      JOIN unnest(c_ord, c_correlation, c_parent_correlation, c_headers)
        AS c(ord, correlation_id, parent_correlation_id, headers) ON c.ord = d.first_ord
      WHERE d.kind <> 'wait'
      RETURNING tasker_queue_messages.msg_id, (tasker_queue_messages.message ->> 'step_uuid')::uuid AS step_uuid,
                tasker_queue_messages.claim_id IS NOT NULL AS claimed
    )
    SELECT array_agg(d.first_ord), array_agg(s.msg_id), array_agg(s.claimed)
    INTO s_ord, s_msg_id, s_claimed
    FROM sent s JOIN decided d ON d.step_uuid = s.step_uuid;

    v_enqueued := cardinality(array_positions(s_claimed, false));
    IF v_enqueued > 0 THEN
      PERFORM tasker_notify_queue(p_queue);
    END IF;
  END IF;
  -- what the claimed children's handlers need, by the result that released them
  IF array_position(s_claimed, true) IS NOT NULL THEN
    -- (tasker_claimed_steps called with plain variables, so that it is inlined into this statement and planned once
    -- per session; an argument computed by a subquery makes it a function call planned at every call)
    v_claimed := ARRAY(SELECT s.msg_id FROM unnest(s_msg_id, s_claimed) AS s(msg_id, claimed) WHERE s.claimed);
    SELECT jsonb_object_agg(x.ord::text, x.claims) INTO v_claims
    FROM (SELECT s_ord[array_position(s_msg_id, cs.msg_id)] AS ord,
                 jsonb_agg(to_jsonb(cs) || jsonb_build_object('msg_id', cs.msg_id::text) ORDER BY cs.msg_id) AS claims
          FROM tasker_claimed_steps(p_queue, v_claimed) cs
          GROUP BY 1) x;
  END IF;

  -- 5. the tasks
  FOR v_task IN
    SELECT t.task_uuid, t.current_state, t.active_steps,
           t.active_steps - done.n + COALESCE(rel.n, 0) AS active, done.last_ord, done.last_step, done.headers
    FROM (SELECT c.task_uuid, count(*)::integer AS n, max(c.ord) AS last_ord,
                 (array_agg(c.step_uuid ORDER BY c.ord DESC))[1] AS last_step,
                 (array_agg(v_headers[c.ord] ORDER BY c.ord DESC))[1] AS headers
          FROM unnest(c_ord, c_step, c_task) AS c(ord, step_uuid, task_uuid)
          GROUP BY c.task_uuid) done
    JOIN tasker_tasks t ON t.task_uuid = done.task_uuid
    LEFT JOIN (SELECT k.task_uuid, count(*)::integer AS n
               FROM unnest(k_task, k_ready) AS k(task_uuid, ready) WHERE k.ready
               GROUP BY k.task_uuid) rel ON rel.task_uuid = done.task_uuid
    ORDER BY t.task_uuid
  LOOP
    IF v_task.current_state = 'steps_in_process' AND v_task.active <= 0 THEN
      SELECT * INTO v_eval FROM tasker_advance_task(v_task.task_uuid, p_processor_uuid, v_task.headers,
        'steps_in_process', ARRAY['evaluating_results']::varchar[],
        ARRAY[jsonb_build_object('event', 'StepCompleted', 'stepUuid', v_task.last_step)]);
      v_task_states := v_task_states || jsonb_build_object(v_task.last_ord::text, v_eval.task_state);
      v_eval_enqueued := v_eval_enqueued
        || jsonb_build_object(v_task.last_ord::text, cardinality(v_eval.enqueued_step_uuids));
    ELSIF GREATEST(v_task.active, 0) <> v_task.active_steps THEN
      UPDATE tasker_tasks SET active_steps = GREATEST(v_task.active, 0), updated_at = now()
      WHERE task_uuid = v_task.task_uuid;
    END IF;
  END LOOP;

  RETURN QUERY
  SELECT c.ord, 'processed'::text, 'complete'::varchar, c.task_uuid,
         COALESCE(v_task_states ->> c.ord::text, c.task_state)::varchar, 'completed'::text,
         (SELECT count(*)::integer FROM unnest(s_ord) so(ord) WHERE so.ord = c.ord)
           + COALESCE((v_eval_enqueued ->> c.ord::text)::integer, 0),
         COALESCE(v_claims -> c.ord::text, '[]'::jsonb)
  FROM unnest(c_ord, c_task, c_task_state) AS c(ord, task_uuid, task_state)
  ORDER BY c.ord;
END
$fn$;

-- Applies one successful result inline (p_results' single item of tasker_submit_step_results), as
-- tasker_submit_step_result and tasker_apply_step_result do, in one function with no nested calls: the message
-- (deleted while it is still this claim's), the step and its task (locked, task first; a result that does not count
-- raises TKR01, above), the step's completion, its children (locked in uuid order; each has one unfinished parent
-- less; the ready ones claimed for this worker, up to p_handoff_limit, or enqueued), and the task's count of active
-- steps (or its evaluation when nothing stays active).
CREATE FUNCTION tasker_complete_step_result(
  p_queue varchar, p_msg_id bigint, p_claim_id uuid, p_step_uuid uuid, p_attempts integer, p_envelope jsonb,
  p_headers jsonb, p_processor_uuid uuid, p_handoff_limit integer, p_vt_seconds double precision)
RETURNS tasker_submit_outcome
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_target record;
  v_ready uuid[];
  v_children integer;
  v_claims integer;
  v_claimed bigint[] := '{}';
  v_enqueued bigint := 0;
  v_active integer;
  v_eval record;
  v_task_state varchar;
  v_count integer;
BEGIN
  DELETE FROM tasker_queue_messages m WHERE m.queue_name = p_queue AND m.msg_id = p_msg_id AND m.claim_id = p_claim_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'TKR01', MESSAGE = 'tasker_result_not_counted: the message is no longer its claim''s';
  END IF;
  SELECT tk.task_uuid, tk.current_state AS task_state, tk.active_steps, tk.correlation_id, tk.parent_correlation_id,
         tk.trace_headers, ws.current_state AS step_state, ws.attempts
  INTO v_target
  FROM tasker_tasks tk JOIN tasker_workflow_steps ws ON ws.task_uuid = tk.task_uuid
  WHERE ws.workflow_step_uuid = p_step_uuid
  FOR UPDATE OF tk, ws;
  IF NOT FOUND OR v_target.step_state <> 'in_progress' OR v_target.attempts <> p_attempts THEN
    RAISE EXCEPTION USING ERRCODE = 'TKR01', MESSAGE = 'tasker_result_not_counted: the step is unknown, ended or claimed again';
  END IF;

  WITH completed AS (
    UPDATE tasker_workflow_steps ws SET
      current_state = 'complete', in_process = false, processed = true, processed_at = now(), retry_at = NULL,
      results = COALESCE(p_envelope, ws.results), updated_at = now()
    WHERE ws.workflow_step_uuid = p_step_uuid
    RETURNING ws.workflow_step_uuid
  )
  INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                processor_uuid)
  VALUES (p_step_uuid,
          COALESCE((SELECT max(st.sort_key) FROM tasker_workflow_step_transitions st
                    WHERE st.workflow_step_uuid = p_step_uuid), 0) + 1,
          'complete', 'in_progress', '{"event": "Complete"}'::jsonb, p_processor_uuid);

  -- the children, locked in a fixed order; those this step was the last unfinished parent of are ready
  SELECT COALESCE(array_agg(c.workflow_step_uuid ORDER BY c.workflow_step_uuid)
                    FILTER (WHERE c.unfinished_parents = 1 AND c.current_state = 'pending'), '{}'),
         count(*)::integer
  INTO v_ready, v_children
  FROM (SELECT ch.workflow_step_uuid, ch.unfinished_parents, ch.current_state
        FROM tasker_workflow_step_edges e JOIN tasker_workflow_steps ch ON ch.workflow_step_uuid = e.to_step_uuid
        WHERE e.from_step_uuid = p_step_uuid
        ORDER BY ch.workflow_step_uuid
        FOR UPDATE OF ch) c;
  IF v_children > cardinality(v_ready) THEN
    UPDATE tasker_workflow_steps ch SET unfinished_parents = ch.unfinished_parents - 1, updated_at = now()
    FROM tasker_workflow_step_edges e
    WHERE e.from_step_uuid = p_step_uuid AND ch.workflow_step_uuid = e.to_step_uuid
      AND ch.workflow_step_uuid <> ALL (v_ready);
  END IF;
  IF cardinality(v_ready) > 0 THEN
    v_claims := LEAST(GREATEST(p_handoff_limit, 0), cardinality(v_ready));
    WITH kids AS (
      SELECT r.step_uuid, r.ord <= v_claims AS claim FROM unnest(v_ready) WITH ORDINALITY AS r(step_uuid, ord)
    ),
    moved AS (
      UPDATE tasker_workflow_steps ch SET
        current_state = CASE WHEN k.claim THEN 'in_progress' ELSE 'enqueued' END,
        unfinished_parents = 0,
        attempts = CASE WHEN k.claim THEN ch.attempts + 1 ELSE ch.attempts END,
        in_process = k.claim,
        last_attempted_at = CASE WHEN k.claim THEN now() ELSE ch.last_attempted_at END,
        retry_at = NULL,
        updated_at = now()
      FROM kids k
      WHERE ch.workflow_step_uuid = k.step_uuid
      RETURNING ch.workflow_step_uuid
    ),
    recorded AS (
      INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                    processor_uuid)
      SELECT k.step_uuid,
             COALESCE((SELECT max(st.sort_key) FROM tasker_workflow_step_transitions st
                       WHERE st.workflow_step_uuid = k.step_uuid), 0) + 1,
             CASE WHEN k.claim THEN 'in_progress' ELSE 'enqueued' END, 'pending',
             CASE WHEN k.claim THEN '{"event": "Start", "handoff": true}'::jsonb ELSE '{"event": "Enqueue"}'::jsonb END,
             p_processor_uuid
      FROM kids k
    ),
    sent AS (
      INSERT INTO tasker_queue_messages (queue_name, vt, read_ct, message, headers, claim_id)
      SELECT p_queue,
             CASE WHEN k.claim THEN clock_timestamp() + make_interval(secs => p_vt_seconds) ELSE now() END,
             CASE WHEN k.claim THEN 1 ELSE 0 END,
             tasker_step_message(v_target.task_uuid, k.step_uuid, v_target.correlation_id,
                                 v_target.parent_correlation_id),
             -- without a trace of the result's own, the children's messages continue the task's trace
             CASE WHEN COALESCE(p_headers, '{}'::jsonb) ? 'traceparent' THEN p_headers ELSE v_target.trace_headers END,
             CASE WHEN k.claim THEN gen_random_uuid() END
      FROM kids k
      RETURNING tasker_queue_messages.msg_id, tasker_queue_messages.claim_id IS NOT NULL AS claimed
    )
    SELECT COALESCE(array_agg(s.msg_id ORDER BY s.msg_id) FILTER (WHERE s.claimed), '{}'),
           count(*) FILTER (WHERE NOT s.claimed)
    INTO v_claimed, v_enqueued
    FROM sent s;
    IF v_enqueued > 0 THEN
      PERFORM tasker_notify_queue(p_queue);
    END IF;
  END IF;

  -- the task: its count of active steps moves by this result (the step leaves, its ready children come in)
  v_active := v_target.active_steps - 1 + cardinality(v_ready);
  v_count := cardinality(v_ready);
  v_task_state := v_target.task_state;
  IF v_target.task_state = 'steps_in_process' AND v_active <= 0 THEN
    SELECT * INTO v_eval FROM tasker_advance_task(v_target.task_uuid, p_processor_uuid, p_headers, 'steps_in_process',
      ARRAY['evaluating_results']::varchar[], ARRAY[jsonb_build_object('event', 'StepCompleted', 'stepUuid', p_step_uuid)]);
    v_task_state := v_eval.task_state;
    v_count := v_count + cardinality(v_eval.enqueued_step_uuids);
  ELSIF GREATEST(v_active, 0) <> v_target.active_steps THEN
    UPDATE tasker_tasks SET active_steps = GREATEST(v_active, 0), updated_at = now() WHERE task_uuid = v_target.task_uuid;
  END IF;

  RETURN ROW(1, 'processed', 'complete', v_target.task_uuid, v_task_state, 'completed', v_count,
    CASE WHEN cardinality(v_claimed) = 0 THEN '[]'::jsonb
         ELSE (SELECT jsonb_agg(to_jsonb(c) || jsonb_build_object('msg_id', c.msg_id::text))
               FROM tasker_claimed_steps(p_queue, v_claimed) c) END)::tasker_submit_outcome;
END
$fn$;

-- A task's row as its waiters read it (TaskQueries' TaskRow; timestamps as ISO text) when p_state is one they wait
-- for (tasker_is_finished_task_state), else NULL without reading anything. tasker_submit_step_results returns it
-- with the result that finished the task: the waiters in the submitting worker's process take it instead of reading
-- the task again (Wakeups.publishTaskEvent). Read at the end of the submission, so it is the state it commits. (The
-- submission tests the state itself before calling: a call per result that returns NULL would cost every step.)
CREATE FUNCTION tasker_finished_task_record(p_task_uuid uuid, p_state varchar) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  v_record jsonb;
BEGIN
  IF p_state IS NULL OR NOT tasker_is_finished_task_state(p_state) THEN
    RETURN NULL;
  END IF;
  SELECT jsonb_build_object('task_uuid', t.task_uuid, 'namespace', ns.name, 'name', nt.name, 'version', nt.version,
           'status', t.current_state, 'complete', t.complete, 'context', t.context, 'tags', t.tags,
           'initiator', t.initiator, 'source_system', t.source_system, 'reason', t.reason, 'priority', t.priority,
           'correlation_id', t.correlation_id, 'parent_correlation_id', t.parent_correlation_id,
           'requested_at', t.requested_at, 'completed_at', t.completed_at, 'created_at', t.created_at,
           'updated_at', t.updated_at)
  INTO v_record
  FROM tasker_tasks t
  JOIN tasker_named_tasks nt ON nt.named_task_uuid = t.named_task_uuid
  JOIN tasker_task_namespaces ns ON ns.task_namespace_uuid = nt.task_namespace_uuid
  WHERE t.task_uuid = p_task_uuid;
  RETURN v_record;
END
$fn$;

-- The results a worker has ready at the same time, in one transaction. p_results: [{"msg_id", "claim_id",
-- "step_uuid", "task_uuid", "attempts", "success", "results", "headers"}, …]. Applied inline (p_process_inline), a
-- batch of successes goes through tasker_complete_step_results (a fixed number of statements for the whole batch),
-- one success alone through tasker_complete_step_result. Otherwise — a failure in the batch, results for the
-- orchestrators, a result that does not count (TKR01), or successes the two failed on (with a warning) — their
-- work is undone and each result goes through tasker_submit_step_result (applied in a subtransaction of its own, so
-- one that fails to apply goes to the orchestrators alone), taken in task order so that two workers' batches lock
-- their tasks in the same order. With p_handoff, each successful step's own slot can take one of its ready
-- children, and the p_extra_slots other free slots of the worker go to the children of the first results that have
-- more; without (a worker shutting down), every ready child is enqueued for the others. Returns one row per result,
-- in p_results' order (ord = its position, from 1).
CREATE FUNCTION tasker_submit_step_results(
  p_queue varchar, p_results jsonb, p_processor_uuid uuid, p_process_inline boolean DEFAULT false,
  p_max_backoff_seconds double precision DEFAULT 300, p_jitter_fraction double precision DEFAULT 0,
  p_extra_slots integer DEFAULT 0, p_vt_seconds double precision DEFAULT 30, p_handoff boolean DEFAULT true)
RETURNS TABLE (ord integer, outcome text, step_state varchar, task_uuid uuid, task_state varchar, result_outcome text,
               enqueued_count integer, claims jsonb, task jsonb)
LANGUAGE plpgsql AS $fn$
DECLARE
  e record;
  r record;
  v_extra integer := GREATEST(p_extra_slots, 0);
  v_applied tasker_submit_outcome[];
BEGIN
  IF current_setting('tasker.async_commit', true) = 'on' THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  -- the caller wakes its own consumers once this commits (tasker_notify_queue)
  PERFORM set_config('tasker.notify_origin', p_processor_uuid::text, true);

  IF p_process_inline AND NOT jsonb_path_exists(p_results, '$[*] ? (@.success != true)') THEN
    BEGIN
      IF jsonb_array_length(p_results) = 1 THEN
        -- (one result alone: plain statements cost less than the set-based ones, which pay from two results on)
        v_applied := ARRAY[tasker_complete_step_result(p_queue, (p_results -> 0 ->> 'msg_id')::bigint,
          (p_results -> 0 ->> 'claim_id')::uuid, (p_results -> 0 ->> 'step_uuid')::uuid,
          (p_results -> 0 ->> 'attempts')::integer, p_results -> 0 -> 'results',
          COALESCE(p_results -> 0 -> 'headers', '{}'::jsonb), p_processor_uuid,
          CASE WHEN p_handoff THEN 1 + v_extra ELSE 0 END, p_vt_seconds)];
      ELSE
        v_applied := ARRAY(SELECT c FROM tasker_complete_step_results(p_queue, p_results, p_processor_uuid, v_extra,
                                                                       p_vt_seconds, p_handoff) c);
      END IF;
    EXCEPTION
      WHEN SQLSTATE 'TKR01' THEN
        -- a result that does not count: undone, and every result goes the per-result way, which decides its outcome
        v_applied := NULL;
      WHEN OTHERS THEN
        RAISE WARNING 'applying % successful results failed (%); applying them one by one',
          jsonb_array_length(p_results), SQLERRM;
        v_applied := NULL;
    END;
    IF v_applied IS NOT NULL THEN
      RETURN QUERY SELECT a.*, CASE WHEN tasker_is_finished_task_state(a.task_state)
                                    THEN tasker_finished_task_record(a.task_uuid, a.task_state) END
                   FROM unnest(v_applied) a;
      PERFORM set_config('tasker.notify_origin', '', true);
      RETURN;
    END IF;
  END IF;

  FOR e IN
    SELECT x.ord::integer AS ord, (x.item ->> 'msg_id')::bigint AS msg_id, (x.item ->> 'step_uuid')::uuid AS step_uuid,
           (x.item ->> 'attempts')::integer AS attempts, (x.item ->> 'success')::boolean AS success,
           x.item -> 'results' AS results, COALESCE(x.item -> 'headers', '{}'::jsonb) AS headers,
           (x.item ->> 'claim_id')::uuid AS claim_id
    FROM jsonb_array_elements(p_results) WITH ORDINALITY AS x(item, ord)
    -- (the step's task, as its claim returned it: a step never changes task)
    ORDER BY (x.item ->> 'task_uuid')::uuid, x.ord
  LOOP
    SELECT * INTO r FROM tasker_submit_step_result(p_queue, e.msg_id, e.step_uuid, e.attempts, e.success, e.results,
      p_processor_uuid, e.headers, p_process_inline, p_max_backoff_seconds, p_jitter_fraction,
      CASE WHEN e.success AND p_handoff THEN 1 + v_extra ELSE 0 END, p_vt_seconds, e.claim_id);
    v_extra := v_extra - GREATEST(jsonb_array_length(r.claims) - 1, 0);
    RETURN QUERY SELECT e.ord, r.outcome, r.step_state, r.task_uuid, r.task_state, r.result_outcome, r.enqueued_count,
                        r.claims, CASE WHEN tasker_is_finished_task_state(r.task_state)
                                       THEN tasker_finished_task_record(r.task_uuid, r.task_state) END;
  END LOOP;
  PERFORM set_config('tasker.notify_origin', '', true);
END
$fn$;

ALTER FUNCTION tasker_submit_step_results SET enable_seqscan = off;
ALTER FUNCTION tasker_complete_step_results SET enable_seqscan = off SET plan_cache_mode = force_generic_plan;
-- (tasker_complete_step_result runs under its caller's settings: a SET of its own would cost each result a save and
-- restore of the setting)
