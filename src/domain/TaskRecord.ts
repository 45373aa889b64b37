/**
 * A task as the engine stores it and the API shows it: its template coordinates, state and request fields. One
 * schema for both, so the row `TaskQueries` reads (`TaskRow`) and the `TaskView` the API answers cannot drift apart.
 */
import { Schema } from "effect"
import { TaskState } from "./TaskStateMachine.ts"
import { TaskUuid } from "./Ids.ts"

export const TaskRecord = Schema.Struct({
  task_uuid: TaskUuid,
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String,
  /** the task's state (one of the 12 task states) */
  status: TaskState,
  complete: Schema.Boolean,
  context: Schema.Json,
  tags: Schema.Json,
  initiator: Schema.NullOr(Schema.String),
  source_system: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String),
  priority: Schema.Int,
  correlation_id: Schema.String,
  parent_correlation_id: Schema.NullOr(Schema.String),
  requested_at: Schema.Date,
  completed_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
})
export type TaskRecord = typeof TaskRecord.Type

/**
 * A `TaskRecord` as the database renders it in JSON (`tasker_finished_task_record`: timestamps as ISO text), decoded
 * to the same type.
 */
export const TaskRecordFromJson = Schema.Struct({
  ...TaskRecord.fields,
  requested_at: Schema.DateFromString,
  completed_at: Schema.NullOr(Schema.DateFromString),
  created_at: Schema.DateFromString,
  updated_at: Schema.DateFromString
})

const { context: _context, ...fieldsWithoutContext } = TaskRecord.fields

/**
 * A task in a listing: its fields without the context, which a list carries only when asked for
 * (`include=context`) and only while the response's context budget lasts. A context that was asked for but did
 * not fit is absent and `context_omitted` is true: read it with the task itself (`GET /v1/tasks/:task_uuid`).
 */
export const TaskSummary = Schema.Struct({
  ...fieldsWithoutContext,
  /** present with `include=context`, unless it did not fit the response's context budget */
  context: Schema.optionalKey(Schema.Json),
  /** true when the context was asked for but did not fit the response's context budget */
  context_omitted: Schema.optionalKey(Schema.Literal(true))
})
export type TaskSummary = typeof TaskSummary.Type

/** The most task requests one batch creation takes (`TaskInitializer.createTasks`, `POST /v1/tasks/batch`). */
export const MAX_BATCH_SIZE = 1000

/**
 * Something the caller should know about an accepted task, in the creation answer and the task's view. Codes:
 * - `no_live_worker`: no live worker hosts the task's template (none registered it, or every one that did has
 *   stopped or stopped heartbeating), so its steps wait until a worker that hosts it starts.
 */
export const TaskWarning = Schema.Struct({
  code: Schema.Literal("no_live_worker"),
  message: Schema.String
})
export type TaskWarning = typeof TaskWarning.Type

/** The `no_live_worker` warning for template `key` (`namespace/name@version`). */
export const noLiveWorker = (key: string): TaskWarning => ({
  code: "no_live_worker",
  message: `no live worker hosts ${key}: the task waits until a worker that hosts it starts`
})
