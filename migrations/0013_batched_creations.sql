-- Task creation in batches: TaskInitializer.createTasks, and the createTask calls of one process that arrive while
-- another creation of the process is in flight (TaskInitializer batches them, each with its own trace context).
-- Lock order: as 0007_engine.sql; concurrent batch creations insert in identity-hash order.

-- Creates tasks from registered templates in one transaction (TaskInitializer.createTasks, and createTask through
-- tasker_create_task), set-based: one insert per table for the whole batch, whatever the templates.
-- p_requests: [{"named_task_uuid", "queue" (its namespace's worker queue), "identity_hash", "correlation_id",
-- "parent_correlation_id", "context", "tags", "priority", "initiator", "source_system", "reason", "requested_at",
-- "steps": [{"name", "named_step_uuid", "retryable", "max_attempts", "backoff", "backoff_base_ms", "max_backoff_ms",
-- "timeout_seconds", "inputs", "depends_on": ["name", …]}, …], "headers"}, …]; a request's "headers" (its trace
-- context: the task's trace_headers and its root steps' messages) default to p_headers.
-- A new task is started at once: its root steps (no dependencies) are enqueued with their messages, the other steps
-- wait with their count of unfinished parents, and the task is recorded going through its start (pending ->
-- initializing -> enqueuing_steps -> steps_in_process; a task without steps -> complete). A request whose identity
-- matches an existing task, or an earlier request of the batch, returns that task (created = false; identity
-- hashes are unique). One row per request, in order (ord from 1).
CREATE FUNCTION tasker_create_tasks(p_requests jsonb, p_processor_uuid uuid, p_headers jsonb DEFAULT '{}'::jsonb)
RETURNS TABLE (ord integer, task_uuid uuid, created boolean, task_state varchar, step_mapping jsonb,
               correlation_id uuid, enqueued_count integer, created_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_headers jsonb := COALESCE(p_headers, '{}'::jsonb);
  v_created uuid[];
  v_queue varchar;
BEGIN
  WITH req AS (
    SELECT r.ord, r.item ->> 'identity_hash' AS identity_hash, (r.item ->> 'named_task_uuid')::uuid AS named_task_uuid,
           r.item ->> 'queue' AS queue, (r.item ->> 'correlation_id')::uuid AS correlation_id,
           (r.item ->> 'parent_correlation_id')::uuid AS parent_correlation_id,
           COALESCE(r.item -> 'context', '{}'::jsonb) AS context, COALESCE(r.item -> 'tags', '[]'::jsonb) AS tags,
           COALESCE((r.item ->> 'priority')::integer, 0) AS priority, r.item ->> 'initiator' AS initiator,
           r.item ->> 'source_system' AS source_system, r.item ->> 'reason' AS reason,
           COALESCE((r.item ->> 'requested_at')::timestamptz, now()) AS requested_at,
           COALESCE(r.item -> 'headers', v_headers) AS headers,
           COALESCE(r.item -> 'steps', '[]'::jsonb) AS steps,
           (SELECT count(*)::integer FROM jsonb_array_elements(COALESCE(r.item -> 'steps', '[]'::jsonb)) AS e(spec)
            WHERE jsonb_array_length(COALESCE(e.spec -> 'depends_on', '[]'::jsonb)) = 0) AS roots
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS r(item, ord)
  ),
  tasks AS (
    INSERT INTO tasker_tasks (named_task_uuid, identity_hash, correlation_id, parent_correlation_id, context, tags,
                              priority, initiator, source_system, reason, requested_at, trace_headers, complete,
                              completed_at, current_state, active_steps)
    SELECT q.named_task_uuid, q.identity_hash, q.correlation_id, q.parent_correlation_id, q.context, q.tags, q.priority,
           q.initiator, q.source_system, q.reason, q.requested_at, q.headers, jsonb_array_length(q.steps) = 0,
           CASE WHEN jsonb_array_length(q.steps) = 0 THEN now() END,
           CASE WHEN jsonb_array_length(q.steps) = 0 THEN 'complete' ELSE 'steps_in_process' END, q.roots
    -- in identity order (the first request of the batch first within one identity): two batches naming the same
    -- identities then wait for each other's uncommitted rows in one direction only, never in a circle
    FROM req q ORDER BY q.identity_hash, q.ord
    ON CONFLICT (identity_hash) DO NOTHING
    RETURNING tasker_tasks.task_uuid, tasker_tasks.identity_hash, tasker_tasks.current_state
  ),
  new_tasks AS (
    -- the request each new task came from (the first of the batch with its identity)
    SELECT DISTINCT ON (t.task_uuid) t.task_uuid, t.current_state, q.*
    FROM tasks t JOIN req q ON q.identity_hash = t.identity_hash
    ORDER BY t.task_uuid, q.ord
  ),
  specs AS (
    SELECT n.task_uuid, n.queue, n.correlation_id, n.parent_correlation_id, n.headers, e.spec ->> 'name' AS name,
           (e.spec ->> 'named_step_uuid')::uuid AS named_step_uuid, (e.spec ->> 'retryable')::boolean AS retryable,
           (e.spec ->> 'max_attempts')::integer AS max_attempts, e.spec ->> 'backoff' AS backoff,
           (e.spec ->> 'backoff_base_ms')::integer AS backoff_base_ms, (e.spec ->> 'max_backoff_ms')::integer AS max_backoff_ms,
           (e.spec ->> 'timeout_seconds')::integer AS timeout_seconds, NULLIF(e.spec -> 'inputs', 'null'::jsonb) AS inputs,
           COALESCE(e.spec -> 'depends_on', '[]'::jsonb) AS depends_on, e.ord AS step_ord
    FROM new_tasks n CROSS JOIN LATERAL jsonb_array_elements(n.steps) WITH ORDINALITY AS e(spec, ord)
  ),
  steps AS (
    INSERT INTO tasker_workflow_steps (task_uuid, named_step_uuid, retryable, max_attempts, backoff, backoff_base_ms,
                                       max_backoff_ms, timeout_seconds, inputs, current_state, unfinished_parents)
    SELECT sp.task_uuid, sp.named_step_uuid, COALESCE(sp.retryable, true), COALESCE(sp.max_attempts, 3),
           COALESCE(sp.backoff, 'exponential'), COALESCE(sp.backoff_base_ms, 1000), COALESCE(sp.max_backoff_ms, 30000),
           sp.timeout_seconds, sp.inputs,
           CASE WHEN jsonb_array_length(sp.depends_on) = 0 THEN 'enqueued' ELSE 'pending' END,
           jsonb_array_length(sp.depends_on)
    FROM specs sp ORDER BY sp.task_uuid, sp.step_ord
    RETURNING tasker_workflow_steps.workflow_step_uuid, tasker_workflow_steps.task_uuid,
              tasker_workflow_steps.named_step_uuid, tasker_workflow_steps.current_state
  ),
  mapping AS (
    SELECT sp.task_uuid, sp.queue, sp.correlation_id, sp.parent_correlation_id, sp.headers, sp.name, s.workflow_step_uuid,
           s.current_state, sp.depends_on
    FROM steps s JOIN specs sp ON sp.task_uuid = s.task_uuid AND sp.named_step_uuid = s.named_step_uuid
  ),
  edges AS (
    INSERT INTO tasker_workflow_step_edges (from_step_uuid, to_step_uuid)
    SELECT parent.workflow_step_uuid, child.workflow_step_uuid
    FROM mapping child
    CROSS JOIN LATERAL jsonb_array_elements_text(child.depends_on) AS d(parent_name)
    JOIN mapping parent ON parent.task_uuid = child.task_uuid AND parent.name = d.parent_name
    RETURNING 1
  ),
  step_transitions AS (
    INSERT INTO tasker_workflow_step_transitions (workflow_step_uuid, sort_key, to_state, from_state, metadata,
                                                  processor_uuid)
    SELECT mp.workflow_step_uuid, 1, 'pending', NULL, '{"event": "Create"}'::jsonb, p_processor_uuid FROM mapping mp
    UNION ALL
    SELECT mp.workflow_step_uuid, 2, 'enqueued', 'pending', '{"event": "Enqueue"}'::jsonb, p_processor_uuid
    FROM mapping mp WHERE mp.current_state = 'enqueued'
    RETURNING 1
  ),
  task_transitions AS (
    INSERT INTO tasker_task_transitions (task_uuid, sort_key, to_state, from_state, metadata, processor_uuid)
    SELECT n.task_uuid, p.ord, p.to_state, p.from_state, p.metadata, p_processor_uuid
    FROM new_tasks n
    CROSS JOIN LATERAL (
      SELECT 1 AS ord, 'pending' AS to_state, NULL AS from_state, '{"event": "Create"}'::jsonb AS metadata
      UNION ALL SELECT 2, 'initializing', 'pending', '{"event": "Start"}'::jsonb
      UNION ALL SELECT 3, 'complete', 'initializing', '{"event": "NoStepsFound"}'::jsonb WHERE n.current_state = 'complete'
      UNION ALL SELECT 3, 'enqueuing_steps', 'initializing', jsonb_build_object('event', 'ReadyStepsFound', 'count', n.roots)
        WHERE n.current_state <> 'complete'
      UNION ALL SELECT 4, 'steps_in_process', 'enqueuing_steps', jsonb_build_object('event', 'StepsEnqueued', 'stepUuids',
          (SELECT COALESCE(jsonb_agg(mp.workflow_step_uuid), '[]'::jsonb) FROM mapping mp
           WHERE mp.task_uuid = n.task_uuid AND mp.current_state = 'enqueued'))
        WHERE n.current_state <> 'complete'
    ) p
    RETURNING 1
  ),
  messages AS (
    INSERT INTO tasker_queue_messages (queue_name, message, headers)
    SELECT mp.queue, tasker_step_message(mp.task_uuid, mp.workflow_step_uuid, mp.correlation_id, mp.parent_correlation_id),
           mp.headers
    FROM mapping mp WHERE mp.current_state = 'enqueued'
    RETURNING 1
  )
  SELECT COALESCE(array_agg(n.task_uuid), '{}') INTO v_created FROM new_tasks n;

  -- the caller wakes its own workers once this commits (tasker_notify_queue)
  PERFORM set_config('tasker.notify_origin', p_processor_uuid::text, true);
  FOR v_queue IN
    SELECT DISTINCT r.item ->> 'queue' FROM jsonb_array_elements(p_requests) AS r(item)
    JOIN tasker_tasks t ON t.identity_hash = r.item ->> 'identity_hash'
    JOIN unnest(v_created) AS c(uuid) ON c.uuid = t.task_uuid
    WHERE t.current_state = 'steps_in_process'
  LOOP
    PERFORM tasker_notify_queue(v_queue);
  END LOOP;
  PERFORM set_config('tasker.notify_origin', '', true);

  RETURN QUERY
  WITH r AS (
    SELECT x.ord::integer AS ord, x.item ->> 'identity_hash' AS identity_hash
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS x(item, ord)
  ),
  firsts AS (SELECT r.identity_hash, min(r.ord) AS first_ord FROM r GROUP BY r.identity_hash),
  fresh AS (SELECT c.uuid FROM unnest(v_created) AS c(uuid))
  SELECT r.ord, t.task_uuid, (fr.uuid IS NOT NULL AND r.ord = f.first_ord), t.current_state,
         (SELECT COALESCE(jsonb_object_agg(ns.name, ws.workflow_step_uuid), '{}'::jsonb)
          FROM tasker_workflow_steps ws JOIN tasker_named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
          WHERE ws.task_uuid = t.task_uuid),
         t.correlation_id, CASE WHEN fr.uuid IS NOT NULL AND r.ord = f.first_ord THEN t.active_steps ELSE 0 END,
         t.created_at
  FROM r
  JOIN firsts f ON f.identity_hash = r.identity_hash
  JOIN tasker_tasks t ON t.identity_hash = r.identity_hash
  LEFT JOIN fresh fr ON fr.uuid = t.task_uuid
  ORDER BY r.ord;
END
$fn$;

ALTER FUNCTION tasker_create_tasks SET enable_seqscan = off;
