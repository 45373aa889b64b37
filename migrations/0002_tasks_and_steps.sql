-- Tasks, their workflow steps and the dependency edges between steps: the tables, the ordering key of task
-- discovery, and the DAG view and helpers over the edges.

-- No foreign key from a task or step to its registry row (tasker_named_tasks, tasker_named_steps): every task of a
-- template would take a key-share lock on the same registry rows, and concurrent lockers of one row make PostgreSQL
-- create a multixact for each of them (measured: about 0.4 KiB of WAL per linear-4 task, and contention on the
-- multixact cache at high rates). Registry rows are never deleted, and tasks and steps are written only by
-- tasker_create_task from a template resolved in the same process, so the reference always exists.
CREATE TABLE tasker_tasks (
  task_uuid             uuid PRIMARY KEY DEFAULT tasker_uuid_v7(),
  named_task_uuid       uuid         NOT NULL,
  requested_at          timestamptz  NOT NULL DEFAULT now(),
  initiator             varchar(128),
  source_system         varchar(128),
  reason                varchar(128),
  tags                  jsonb        NOT NULL DEFAULT '[]'::jsonb,
  context               jsonb        NOT NULL DEFAULT '{}'::jsonb,
  -- identity strategy: strict (hash of task type + context), caller_provided (caller's key), always_unique.
  identity_hash         varchar(128) NOT NULL,
  priority              integer      NOT NULL DEFAULT 0,
  correlation_id        uuid         NOT NULL,
  parent_correlation_id uuid,
  -- the trace context of the request that created the task (W3C traceparent/tracestate): step messages enqueued
  -- by a caller without a trace of its own (readiness loop, retries after backoff, operator actions) carry it,
  -- so every step of a task stays in the task's trace
  trace_headers         jsonb        NOT NULL DEFAULT '{}'::jsonb,
  created_at            timestamptz  NOT NULL DEFAULT now(),
  -- The columns that change while the task runs come last: an update that changes only them is written to the WAL
  -- as the few bytes that differ (PostgreSQL logs the changed middle of a tuple updated on its own page).
  complete              boolean      NOT NULL DEFAULT false,
  completed_at          timestamptz,
  -- denormalized copy of the latest transition's to_state, written only by the transition functions in the same
  -- transaction as the transition row; compare-and-set transitions test it under the row lock
  current_state         varchar(64)  NOT NULL DEFAULT 'pending',
  -- steps enqueued, in progress or waiting for an orchestrator (enqueued_*_for_orchestration). Kept by the step
  -- result path (one addition per result: minus the finished step, plus the children it made ready) and recounted
  -- by every evaluation of the whole task; when it reaches 0 in steps_in_process, the task is evaluated.
  active_steps          integer      NOT NULL DEFAULT 0,
  updated_at            timestamptz  NOT NULL DEFAULT now(),
  CONSTRAINT tasker_tasks_context_is_object CHECK (jsonb_typeof(context) = 'object'),
  CONSTRAINT tasker_tasks_tags_is_array CHECK (jsonb_typeof(tags) = 'array'),
  CONSTRAINT tasker_tasks_identity_hash_key UNIQUE (identity_hash),
  CONSTRAINT tasker_tasks_current_state_check CHECK (tasker_is_task_state(current_state)),
  CONSTRAINT tasker_tasks_active_steps_nonneg CHECK (active_steps >= 0)
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);

-- Ordering key of the ready-task discovery: computed_priority = priority + 0.1 * age_in_hours, so ordering by
-- computed_priority DESC is ordering by (created_at epoch - priority * 36000 s) ASC, which does not depend on
-- now() and can be indexed. extract(epoch) of a timestamptz does not depend on the time zone.
CREATE FUNCTION tasker_priority_key(p_priority integer, p_created_at timestamptz) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT extract(epoch FROM p_created_at)::double precision - p_priority::double precision * 36000.0
$fn$;

CREATE INDEX idx_tasker_tasks_named_task_uuid ON tasker_tasks (named_task_uuid);
CREATE INDEX idx_tasker_tasks_pickable ON tasker_tasks (tasker_priority_key(priority, created_at))
  WHERE current_state IN ('pending', 'waiting_for_dependencies', 'waiting_for_retry');
CREATE INDEX idx_tasker_tasks_current_state ON tasker_tasks (current_state, created_at);
CREATE INDEX idx_tasker_tasks_correlation_id ON tasker_tasks (correlation_id);
CREATE INDEX idx_tasker_tasks_parent_correlation_id ON tasker_tasks (parent_correlation_id)
  WHERE parent_correlation_id IS NOT NULL;
CREATE INDEX idx_tasker_tasks_correlation_hierarchy ON tasker_tasks (parent_correlation_id, correlation_id)
  WHERE parent_correlation_id IS NOT NULL;

CREATE TABLE tasker_workflow_steps (
  workflow_step_uuid      uuid PRIMARY KEY DEFAULT tasker_uuid_v7(),
  task_uuid               uuid         NOT NULL REFERENCES tasker_tasks (task_uuid) ON DELETE CASCADE,
  named_step_uuid         uuid         NOT NULL,
  retryable               boolean      NOT NULL DEFAULT true,
  -- total attempts including the first; 0 behaves like 1
  max_attempts            integer      NOT NULL DEFAULT 3,
  -- the template's policy for this step
  backoff                 varchar(16)  NOT NULL DEFAULT 'exponential',
  backoff_base_ms         integer      NOT NULL DEFAULT 1000,
  max_backoff_ms          integer      NOT NULL DEFAULT 30000,
  timeout_seconds         integer,
  inputs                  jsonb,
  created_at              timestamptz  NOT NULL DEFAULT now(),
  -- The columns that change while the step runs come last (see tasker_tasks).
  -- denormalized copy of the latest transition's to_state (see tasker_tasks.current_state)
  current_state           varchar(64)  NOT NULL DEFAULT 'pending',
  -- parents not yet complete or resolved_manually: set at creation, lowered by one as each parent gets there
  -- (tasker_release_children). A pending step at 0 may run; it is 0 from the moment a step leaves pending.
  unfinished_parents      integer      NOT NULL DEFAULT 0,
  -- counted when a worker claims the step
  attempts                integer      NOT NULL DEFAULT 0,
  in_process              boolean      NOT NULL DEFAULT false,
  processed               boolean      NOT NULL DEFAULT false,
  last_attempted_at       timestamptz,
  processed_at            timestamptz,
  -- seconds to wait after the last attempt before the next one (fractions allowed)
  backoff_request_seconds double precision,
  -- while waiting_for_retry: when the retry is due (kept by the step transition writer; an index aid for the
  -- orchestrator's retry timer, the readiness functions compute the same time from the columns above)
  retry_at                timestamptz,
  results                 jsonb,
  updated_at              timestamptz  NOT NULL DEFAULT now(),
  CONSTRAINT tasker_workflow_steps_max_attempts_nonneg CHECK (max_attempts >= 0),
  CONSTRAINT tasker_workflow_steps_attempts_nonneg CHECK (attempts >= 0),
  CONSTRAINT tasker_workflow_steps_unfinished_parents_nonneg CHECK (unfinished_parents >= 0),
  CONSTRAINT tasker_workflow_steps_backoff_check CHECK (tasker_is_backoff_kind(backoff)),
  CONSTRAINT tasker_workflow_steps_backoff_base_nonneg CHECK (backoff_base_ms >= 0 AND max_backoff_ms >= 0),
  CONSTRAINT tasker_workflow_steps_timeout_positive CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
  CONSTRAINT tasker_workflow_steps_current_state_check CHECK (tasker_is_step_state(current_state))
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);

CREATE INDEX idx_tasker_workflow_steps_task_uuid ON tasker_workflow_steps (task_uuid);
-- steps waiting for a retry, by when it is due (everything else updates steps without touching an index, so
-- those updates stay HOT)
CREATE INDEX idx_tasker_workflow_steps_retry_at ON tasker_workflow_steps (retry_at) WHERE retry_at IS NOT NULL;

CREATE TABLE tasker_workflow_step_edges (
  from_step_uuid uuid        NOT NULL REFERENCES tasker_workflow_steps (workflow_step_uuid) ON DELETE CASCADE,
  to_step_uuid   uuid        NOT NULL REFERENCES tasker_workflow_steps (workflow_step_uuid) ON DELETE CASCADE,
  name           varchar(64) NOT NULL DEFAULT 'provides',
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- one edge per pair; the key also serves a parent's lookup of its children
  PRIMARY KEY (from_step_uuid, to_step_uuid),
  CONSTRAINT tasker_workflow_step_edges_no_self_edge CHECK (from_step_uuid <> to_step_uuid)
);

-- children look up their parents here
CREATE INDEX idx_tasker_workflow_step_edges_to_step ON tasker_workflow_step_edges (to_step_uuid, from_step_uuid);

-- ---------------------------------------------------------------------------------------------------
-- DAG view
-- ---------------------------------------------------------------------------------------------------

-- Per step: parents, children, root/leaf flags and the shortest distance from a root (recursion capped at 50).
-- The depth is computed per row (walking up from the step), so filtering the view by task stays cheap.
CREATE VIEW tasker_step_dag_relationships AS
SELECT
  ws.workflow_step_uuid,
  ws.task_uuid,
  COALESCE((SELECT jsonb_agg(e.from_step_uuid ORDER BY e.from_step_uuid)
            FROM tasker_workflow_step_edges e WHERE e.to_step_uuid = ws.workflow_step_uuid), '[]'::jsonb) AS parent_step_uuids,
  COALESCE((SELECT jsonb_agg(e.to_step_uuid ORDER BY e.to_step_uuid)
            FROM tasker_workflow_step_edges e WHERE e.from_step_uuid = ws.workflow_step_uuid), '[]'::jsonb) AS child_step_uuids,
  (SELECT count(*)::integer FROM tasker_workflow_step_edges e WHERE e.to_step_uuid = ws.workflow_step_uuid) AS parent_count,
  (SELECT count(*)::integer FROM tasker_workflow_step_edges e WHERE e.from_step_uuid = ws.workflow_step_uuid) AS child_count,
  NOT EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.to_step_uuid = ws.workflow_step_uuid) AS is_root_step,
  NOT EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.from_step_uuid = ws.workflow_step_uuid) AS is_leaf_step,
  (WITH RECURSIVE up (step_uuid, depth) AS (
     SELECT ws.workflow_step_uuid, 0
     UNION
     SELECT e.from_step_uuid, up.depth + 1
     FROM up JOIN tasker_workflow_step_edges e ON e.to_step_uuid = up.step_uuid
     WHERE up.depth < 50
   )
   SELECT min(up.depth) FROM up
   WHERE NOT EXISTS (SELECT 1 FROM tasker_workflow_step_edges e WHERE e.to_step_uuid = up.step_uuid)
  )::integer AS min_depth_from_root
FROM tasker_workflow_steps ws;

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
