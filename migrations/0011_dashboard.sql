-- The dashboard's reads (issue 15): task-list filters that stay fast on large databases, and the recent
-- transitions the overview and the event stream read.
--
-- No new B-tree on tasker_tasks' columns: every task transition updates its row, and each index of the table costs
-- every such update a new entry. The creation-time filters use the primary key instead (task uuids are UUIDv7: their
-- first 48 bits are the creation time in milliseconds, so a time range is a key range).

-- The smallest UUIDv7 of the millisecond p_at (a lower bound of every UUIDv7 generated at or after p_at).
-- extract(epoch) of a timestamptz does not depend on the time zone (see tasker_priority_key).
CREATE FUNCTION tasker_uuid_v7_floor(p_at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
  SELECT (lpad(to_hex(GREATEST(floor(extract(epoch FROM p_at) * 1000), 0)::bigint), 12, '0')
          || '00000000000000000000')::uuid
$fn$;

-- Tags filter (GET /v1/tasks?tag=): only tasks that have tags are indexed, so tasks without any never write to it.
CREATE INDEX idx_tasker_tasks_tags ON tasker_tasks USING gin (tags jsonb_path_ops) WHERE tags <> '[]'::jsonb;

-- The last hour of transitions (overview step statistics, event-stream catch-up). The transition tables are
-- append-only in time order, so a BRIN index is a few pages and costs inserts next to nothing: a row inserted into
-- a block range that has no summary yet writes nothing to the index (VACUUM summarizes a range once it is full,
-- and a query reads the unsummarized ranges whole). Building the index on the empty table summarizes the first
-- range, though, and each transition inserted there would then widen that summary and write WAL (0.6 KiB per
-- linear-4 workflow, 4 %, on a new database: npm run bench:writes), so the migration removes that summary.
CREATE INDEX idx_tasker_task_transitions_created_brin ON tasker_task_transitions USING brin (created_at);
CREATE INDEX idx_tasker_workflow_step_transitions_created_brin ON tasker_workflow_step_transitions
  USING brin (created_at);
SELECT brin_desummarize_range('idx_tasker_task_transitions_created_brin', 0);
SELECT brin_desummarize_range('idx_tasker_workflow_step_transitions_created_brin', 0);
