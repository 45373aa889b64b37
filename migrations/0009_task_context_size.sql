-- The size of each task's context as JSON text, computed once when the task is written, so a listing can carry
-- contexts up to a byte budget (GET /v1/tasks?include=context) without turning every context of the page into
-- text to measure it.
ALTER TABLE tasker_tasks
  ADD COLUMN context_bytes integer GENERATED ALWAYS AS (octet_length(context::text)) STORED;
