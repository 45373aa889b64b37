/**
 * Response bodies of the dashboard's endpoints (issue 15): the overview, a task's DAG, timeline and audit trail,
 * dead letters, a template's detail and the UI's configuration. Definitions only (pure schemas), shared by the
 * server and the client; snake_case like the rest of the API, timestamps ISO 8601 on the wire.
 */
import { Schema } from "effect"
import { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { StepState } from "../domain/StepStateMachine.ts"
import { TaskState } from "../domain/TaskStateMachine.ts"
import { DagEdge, dagStepFields, MinuteCounts, ProcessorStats, QueueStats, StepStats } from "../tasks/DashboardRows.ts"
import { BoundedString, Pagination } from "./Models.ts"

export { DagEdge, MinuteCounts, ProcessorStats, QueueStats, StepStats }

// ---------------------------------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------------------------------

/** `GET /v1/overview` */
export const Overview = Schema.Struct({
  generated_at: Schema.Date,
  /** every task state, with 0 for the states no task is in */
  tasks_by_state: Schema.Record(Schema.String, Schema.Int),
  /** the last 60 minutes, oldest first, zeros included */
  tasks_per_minute: Schema.Array(MinuteCounts),
  steps: StepStats,
  queues: Schema.Array(QueueStats),
  processors: Schema.Array(ProcessorStats)
})
export type Overview = typeof Overview.Type

// ---------------------------------------------------------------------------------------------------------------
// Task DAG, timeline, transitions
// ---------------------------------------------------------------------------------------------------------------

export const DagStep = Schema.Struct({
  ...dagStepFields,
  duration_ms: Schema.NullOr(Schema.Number)
})

/** `GET /v1/tasks/:task_uuid/dag` */
export const TaskDag = Schema.Struct({
  task_uuid: TaskUuid,
  steps: Schema.Array(DagStep),
  edges: Schema.Array(DagEdge)
})
export type TaskDag = typeof TaskDag.Type

export const TimelinePhase = Schema.Literals(["waiting", "queued", "running", "backoff"])
export type TimelinePhase = typeof TimelinePhase.Type

/** A span of a step's life in one phase; `end` null while it lasts. `attempt` counts claims (0 before the first). */
export const TimelineSegment = Schema.Struct({
  phase: TimelinePhase,
  start: Schema.Date,
  end: Schema.NullOr(Schema.Date),
  attempt: Schema.Int
})

export const TimelineStep = Schema.Struct({
  step_uuid: StepUuid,
  name: Schema.String,
  state: StepState,
  segments: Schema.Array(TimelineSegment)
})

/** `GET /v1/tasks/:task_uuid/timeline` */
export const TaskTimeline = Schema.Struct({
  task_uuid: TaskUuid,
  created_at: Schema.Date,
  finished_at: Schema.NullOr(Schema.Date),
  steps: Schema.Array(TimelineStep)
})
export type TaskTimeline = typeof TaskTimeline.Type

/** One state change of the task or one of its steps. */
export const TransitionView = Schema.Struct({
  kind: Schema.Literals(["task", "step"]),
  step_uuid: Schema.NullOr(StepUuid),
  step_name: Schema.NullOr(Schema.String),
  from_state: Schema.NullOr(Schema.String),
  to_state: Schema.String,
  at: Schema.Date,
  /**
   * who made it: the operator named by the metadata (`resolved_by`, `actor`), else `processor:<uuid>` of the
   * engine process that wrote it, else null
   */
  actor: Schema.NullOr(Schema.String),
  processor_uuid: Schema.NullOr(Schema.String),
  metadata: Schema.Json
})

/** `GET /v1/tasks/:task_uuid/transitions`: oldest first. */
export const TaskTransitions = Schema.Struct({ task_uuid: TaskUuid, transitions: Schema.Array(TransitionView) })
export type TaskTransitions = typeof TaskTransitions.Type

// ---------------------------------------------------------------------------------------------------------------
// Dead letters
// ---------------------------------------------------------------------------------------------------------------

export const QueueName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[a-z0-9_]{1,54}$/, { expected: "a queue name (1-54 characters a-z, 0-9, _)" }))
)

/** A message id (a positive integer, as text in paths). */
export const MsgId = Schema.NumberFromString.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThan(0)))

export const DeadLettersQuery = Schema.Struct({
  queue: Schema.optionalKey(QueueName),
  page: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))),
  per_page: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 100 }))))
})

export const DeadLetter = Schema.Struct({
  queue: Schema.String,
  msg_id: Schema.Number,
  reason: Schema.NullOr(Schema.String),
  archived_at: Schema.Date,
  enqueued_at: Schema.Date,
  read_count: Schema.Int,
  message: Schema.Json
})

/** `GET /v1/dead_letters`: newest first. */
export const DeadLetterList = Schema.Struct({ dead_letters: Schema.Array(DeadLetter), pagination: Pagination })
export type DeadLetterList = typeof DeadLetterList.Type

/** `POST /v1/dead_letters/:queue/:msg_id/redrive`: the message sent again (a new msg_id on the same queue). */
export const Redriven = Schema.Struct({ queue: Schema.String, msg_id: Schema.Number, redriven_from: Schema.Number })

/** `DELETE /v1/dead_letters/:queue/:msg_id` */
export const Discarded = Schema.Struct({ queue: Schema.String, msg_id: Schema.Number, discarded: Schema.Literal(true) })

// ---------------------------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------------------------

export const TemplateStepView = Schema.Struct({
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  depends_on: Schema.Array(Schema.String),
  retryable: Schema.Boolean,
  max_attempts: Schema.Int,
  backoff: Schema.String,
  backoff_base_ms: Schema.Int,
  max_backoff_ms: Schema.Int,
  timeout_seconds: Schema.NullOr(Schema.Number)
})

/** `GET /v1/templates/:namespace/:name/:version` */
export const TemplateView = Schema.Struct({
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String,
  description: Schema.NullOr(Schema.String),
  steps: Schema.Array(TemplateStepView),
  /** the template's DAG: `from` must finish before `to` (step names) */
  edges: Schema.Array(Schema.Struct({ from: Schema.String, to: Schema.String })),
  /** JSON Schema of the task context, or null when the template takes any object */
  input_schema: Schema.Json,
  /** tasks of this version in the database */
  task_count: Schema.Int,
  created_at: Schema.Date,
  updated_at: Schema.Date
})
export type TemplateView = typeof TemplateView.Type

export const TemplateParams = { namespace: BoundedString(64), name: BoundedString(64), version: BoundedString(16) }

// ---------------------------------------------------------------------------------------------------------------
// UI configuration, events
// ---------------------------------------------------------------------------------------------------------------

/** `GET /v1/ui_config`: what the dashboard needs to know about the server. */
export const UiConfig = Schema.Struct({
  /** `TASKER_TRACE_URL`: a trace viewer URL with `{traceId}` in it, or null */
  trace_url_template: Schema.NullOr(Schema.String),
  /** whether /v1 requests need `Authorization: Bearer …` (`TASKER_API_TOKEN` is set) */
  auth_required: Schema.Boolean
})
export type UiConfig = typeof UiConfig.Type

export const EventsQuery = Schema.Struct({ task_uuid: Schema.optionalKey(TaskUuid) })

/** `event: task` data */
export const TaskEvent = Schema.Struct({ task_uuid: TaskUuid, state: TaskState, at: Schema.Date })
/** `event: step` data */
export const StepEvent = Schema.Struct({
  task_uuid: TaskUuid,
  step_uuid: StepUuid,
  name: Schema.String,
  state: StepState,
  at: Schema.Date
})
