/**
 * Request and response bodies of the REST API. Definitions only (pure schemas): shared by the server and the
 * client. Field names are snake_case like the database and tasker-core's API; timestamps are ISO 8601 strings on
 * the wire and `Date`s in TypeScript.
 *
 * Input strings are bounded and may not contain NUL characters or unpaired UTF-16 surrogates (PostgreSQL cannot
 * store either: `jsonb` rejects them and text columns would silently get U+FFFD instead), and task contexts must be
 * JSON objects at most `MAX_JSON_DEPTH` levels deep, so bad input is rejected with a 400 before anything reaches
 * the database.
 */
import { Schema } from "effect"
import { StepUuid, TaskUuid } from "../domain/Ids.ts"
import { MAX_BATCH_SIZE, TaskRecord, TaskSummary, TaskWarning } from "../domain/TaskRecord.ts"
import { StepState } from "../domain/StepStateMachine.ts"
import { TaskState } from "../domain/TaskStateMachine.ts"
import { ReadinessCheck } from "./Errors.ts"
import { findBadJson, unstorable } from "../domain/StorableJson.ts"

// ---------------------------------------------------------------------------------------------------------------
// Input building blocks
// ---------------------------------------------------------------------------------------------------------------

const noNul = Schema.makeFilter<string>(
  (s) => unstorable(s) ?? true,
  { expected: "a string without NUL characters or unpaired surrogates" }
)

/** A string PostgreSQL can store (no NUL, no unpaired surrogate), at most `max` characters long. */
export const BoundedString = (max: number) => Schema.String.pipe(Schema.check(noNul, Schema.isMaxLength(max)))

/** A non-empty bounded string (template coordinates). */
export const Identifier = (max: number) =>
  Schema.String.pipe(Schema.check(noNul, Schema.isMinLength(1), Schema.isMaxLength(max)))

/** A UUID in its canonical text form. */
export const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

const storableJson = Schema.makeFilter<Schema.Json>((value) => {
  const bad = findBadJson(value)
  return bad === undefined ? undefined : { path: bad.path, issue: bad.message }
}, { expected: "JSON that PostgreSQL can store" })

/** Any JSON value PostgreSQL can store in a `jsonb` column. */
export const StorableJson = Schema.Json.pipe(Schema.check(storableJson))

/** A JSON object PostgreSQL can store (a task context). */
export const JsonObject = Schema.Record(Schema.String, Schema.Json).pipe(Schema.check(storableJson))

const Int32 = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: -2147483648, maximum: 2147483647 })))

// ---------------------------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------------------------

/** `POST /v1/tasks`: which template to run, the task context (its input) and bookkeeping fields. */
export const CreateTaskRequest = Schema.Struct({
  namespace: Identifier(64),
  name: Identifier(64),
  version: Identifier(16),
  /** the task's input, validated against the template's input schema (default `{}`) */
  context: Schema.optionalKey(JsonObject),
  initiator: Schema.optionalKey(Schema.NullOr(BoundedString(128))),
  source_system: Schema.optionalKey(Schema.NullOr(BoundedString(128))),
  reason: Schema.optionalKey(Schema.NullOr(BoundedString(128))),
  tags: Schema.optionalKey(Schema.Array(BoundedString(256)).pipe(Schema.check(Schema.isMaxLength(100)))),
  /** higher runs first (a 32-bit integer, default 0) */
  priority: Schema.optionalKey(Int32),
  /** defaults to the `X-Correlation-ID` header, else a new UUIDv7 */
  correlation_id: Schema.optionalKey(Uuid),
  parent_correlation_id: Schema.optionalKey(Schema.NullOr(Uuid)),
  /** dedupe by this key instead of the template's identity strategy */
  idempotency_key: Schema.optionalKey(BoundedString(255))
})
export type CreateTaskRequest = typeof CreateTaskRequest.Type

const createdFields = {
  task_uuid: TaskUuid,
  correlation_id: Schema.String,
  /** the task's state */
  status: TaskState,
  step_count: Schema.Int,
  /** step name → step uuid */
  step_mapping: Schema.Record(Schema.String, StepUuid),
  created_at: Schema.Date,
  /**
   * present when there is something to know about the accepted task: `[{ "code": "no_live_worker", "message" }]`
   * when no live worker hosts its template (it waits until one starts)
   */
  warnings: Schema.optionalKey(Schema.Array(TaskWarning))
}

/** `201 Created`: a new task. */
export const TaskCreated = Schema.Struct({ ...createdFields, created: Schema.Literal(true) })
/** `200 OK`: the request matched an existing task's identity; that task is returned and nothing is created. */
export const TaskExisting = Schema.Struct({ ...createdFields, created: Schema.Literal(false) })
export type TaskCreatedResponse = typeof TaskCreated.Type | typeof TaskExisting.Type

/** `POST /v1/tasks/batch`: up to 1 000 task requests, created together (all or none). */
export const CreateTasksRequest = Schema.Struct({
  tasks: Schema.Array(CreateTaskRequest).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_BATCH_SIZE)))
})
export type CreateTasksRequest = typeof CreateTasksRequest.Type

/** One result per request, in order: a new task, or the existing task the request matched. */
export const TasksCreated = Schema.Struct({ tasks: Schema.Array(Schema.Union([TaskCreated, TaskExisting])) })
export type TasksCreated = typeof TasksCreated.Type

/** A task's fields. `status` is its state (one of the 12 task states). */
export const TaskView = TaskRecord
export type TaskView = typeof TaskView.Type

/** The task's execution context (`get_task_execution_context`): step counts and derived status. */
export const ExecutionView = Schema.Struct({
  status: TaskState,
  total_steps: Schema.Int,
  pending_steps: Schema.Int,
  in_progress_steps: Schema.Int,
  enqueued_steps: Schema.Int,
  completed_steps: Schema.Int,
  failed_steps: Schema.Int,
  ready_steps: Schema.Int,
  waiting_for_retry_steps: Schema.Int,
  blocked_steps: Schema.Int,
  execution_status: Schema.String,
  recommended_action: Schema.String,
  completion_percentage: Schema.Number,
  health_status: Schema.String
})
export type ExecutionView = typeof ExecutionView.Type

/** A workflow step with its readiness (`get_step_readiness_status`). `results` is the stored result envelope. */
export const StepView = Schema.Struct({
  step_uuid: StepUuid,
  task_uuid: TaskUuid,
  name: Schema.String,
  current_state: StepState,
  attempts: Schema.Int,
  max_attempts: Schema.Int,
  retryable: Schema.Boolean,
  /**
   * `{success, status, result, error, metadata}` once the step ran or was resolved, else null. (`Schema.Json`
   * includes null: `NullOr` would add nothing but an `anyOf` of an empty schema to the OpenAPI document.)
   */
  results: Schema.Json,
  /** the step's static inputs (`handler.initialization`), or null */
  inputs: Schema.Json,
  dependencies_satisfied: Schema.Boolean,
  retry_eligible: Schema.Boolean,
  ready_for_execution: Schema.Boolean,
  total_parents: Schema.Int,
  completed_parents: Schema.Int,
  backoff_request_seconds: Schema.NullOr(Schema.Number),
  last_failure_at: Schema.NullOr(Schema.Date),
  next_retry_at: Schema.NullOr(Schema.Date),
  last_attempted_at: Schema.NullOr(Schema.Date),
  /** when the step was processed (complete, cancelled or resolved manually) */
  completed_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
})
export type StepView = typeof StepView.Type

/**
 * `GET /v1/tasks/:task_uuid`: the task, its execution context and its steps (roots first); `warnings` when an
 * unfinished task's template has no live worker (`no_live_worker`).
 */
export const TaskDetail = Schema.Struct({
  ...TaskView.fields,
  execution: ExecutionView,
  steps: Schema.Array(StepView),
  /**
   * the trace id of the request that created the task (from its stored W3C trace context), or null when it was
   * created outside a trace; the dashboard links it with `trace_url_template` (`GET /v1/ui_config`)
   */
  trace_id: Schema.NullOr(Schema.String),
  warnings: Schema.optionalKey(Schema.Array(TaskWarning))
})
export type TaskDetail = typeof TaskDetail.Type

/** An ISO 8601 date-time with a time zone (`2026-01-31T12:00:00Z`, `…+02:00`), as text. */
export const IsoDateTime = Schema.String.pipe(Schema.check(Schema.makeFilter<string>(
  (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)),
  { expected: "an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z" }
)))

export const DEFAULT_PER_PAGE = 25
export const MAX_PER_PAGE = 100

/**
 * `GET /v1/tasks` query: pagination (page from 1; per_page 1–100, default 25), filters, and `include=context` to
 * carry the tasks' contexts (left out by default; carried up to the server's context budget per page).
 */
export const ListTasksQuery = Schema.Struct({
  /** `context`: include each task's context (those past the page's context budget get `context_omitted: true`) */
  include: Schema.optionalKey(Schema.Literal("context")),
  page: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))),
  per_page: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: MAX_PER_PAGE })))),
  namespace: Schema.optionalKey(BoundedString(64)),
  name: Schema.optionalKey(BoundedString(64)),
  /** any of the 12 task states */
  status: Schema.optionalKey(TaskState),
  correlation_id: Schema.optionalKey(Uuid),
  parent_correlation_id: Schema.optionalKey(Uuid),
  /** tasks created at or after this ISO 8601 date-time */
  created_after: Schema.optionalKey(IsoDateTime),
  /** tasks created before this ISO 8601 date-time */
  created_before: Schema.optionalKey(IsoDateTime),
  /** tasks whose tags include this one */
  tag: Schema.optionalKey(BoundedString(256)),
  /** a task UUID or a correlation ID: the task, or the tasks of that correlation */
  q: Schema.optionalKey(Uuid)
})
export type ListTasksQuery = typeof ListTasksQuery.Type

export const Pagination = Schema.Struct({
  page: Schema.Int,
  per_page: Schema.Int,
  /** matching items, counted up to 10 000 for tasks (then `total_count_capped` is true) */
  total_count: Schema.Int,
  total_pages: Schema.Int,
  has_next: Schema.Boolean,
  has_previous: Schema.Boolean,
  /** present (true) when more than 10 000 tasks match: `total_count` and `total_pages` stop there */
  total_count_capped: Schema.optionalKey(Schema.Boolean)
})
export type Pagination = typeof Pagination.Type

/** A task in a list: its fields, with its context only when asked for (`include=context`). */
export const TaskListItem = TaskSummary
export type TaskListItem = typeof TaskListItem.Type

/** `GET /v1/tasks`: a page of tasks, newest first. */
export const TaskList = Schema.Struct({ tasks: Schema.Array(TaskListItem), pagination: Pagination })
export type TaskList = typeof TaskList.Type

/** The longest a single `wait` request holds (ms); clients wait longer by asking again. */
export const MAX_WAIT_MS = 60_000
export const DEFAULT_WAIT_MS = 30_000

export const WaitQuery = Schema.Struct({
  timeout_ms: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: MAX_WAIT_MS }))))
})

/**
 * `GET /v1/tasks/:task_uuid/wait`: the task once it finished (complete, error, cancelled, resolved_manually or
 * blocked_by_failures: `finished: true`), or as it is when the timeout expired (`finished: false`).
 */
export const WaitResult = Schema.Struct({ finished: Schema.Boolean, task: TaskView })
export type WaitResult = typeof WaitResult.Type

export { finishedTaskStates } from "../domain/TaskStateMachine.ts"

// ---------------------------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------------------------

/** Resolve the step by hand: it becomes `resolved_manually` and its dependents receive `result_data`. */
export const ResolveStepAction = Schema.Struct({
  action: Schema.Literal("resolve"),
  result_data: StorableJson,
  /** ignored: the step records the caller's key id as `resolved_by` (accepted for older clients) */
  resolved_by: Schema.optionalKey(Identifier(128)),
  reason: Identifier(255),
  /** resolve a step that has not failed (pending, in progress, …): needs the `admin` scope */
  force: Schema.optionalKey(Schema.Boolean)
})

/** Retry a failed step: `error` → `pending` with a fresh attempt budget. */
export const RetryStepAction = Schema.Struct({ action: Schema.Literal("retry") })

/** `PATCH /v1/tasks/:task_uuid/workflow_steps/:step_uuid` */
export const StepAction = Schema.Union([ResolveStepAction, RetryStepAction])
export type StepAction = typeof StepAction.Type

// ---------------------------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------------------------

/** A stored template version. */
export const TemplateSummary = Schema.Struct({
  namespace: Schema.String,
  name: Schema.String,
  version: Schema.String,
  description: Schema.NullOr(Schema.String),
  step_names: Schema.Array(Schema.String),
  created_at: Schema.Date,
  updated_at: Schema.Date
})
export type TemplateSummary = typeof TemplateSummary.Type

/** A stored template version with its whole configuration (steps, retry policies, input JSON Schema). */
export const TemplateDetail = Schema.Struct({ ...TemplateSummary.fields, configuration: Schema.Json })
export type TemplateDetail = typeof TemplateDetail.Type

export const NamespaceSummary = Schema.Struct({ name: Schema.String, template_count: Schema.Int })

/** `GET /v1/templates`: the namespaces and every stored template version. */
export const TemplateIndex = Schema.Struct({
  namespaces: Schema.Array(NamespaceSummary),
  templates: Schema.Array(TemplateSummary)
})
export type TemplateIndex = typeof TemplateIndex.Type

/** `GET /v1/templates/:namespace` */
export const NamespaceTemplates = Schema.Struct({ namespace: Schema.String, templates: Schema.Array(TemplateSummary) })
export type NamespaceTemplates = typeof NamespaceTemplates.Type

/** `GET /v1/templates/:namespace/:name`: every version, newest last. */
export const TemplateVersions = Schema.Struct({
  namespace: Schema.String,
  name: Schema.String,
  versions: Schema.Array(TemplateDetail)
})
export type TemplateVersions = typeof TemplateVersions.Type

// ---------------------------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------------------------

export const HealthStatus = Schema.Struct({ status: Schema.Literal("healthy"), timestamp: Schema.Date })
export const LiveStatus = Schema.Struct({ status: Schema.Literal("alive"), timestamp: Schema.Date })

/** `GET /ready` when every check passed (otherwise a 503 `ApiServiceUnavailable` with the same checks). */
export const ReadyStatus = Schema.Struct({
  status: Schema.Literal("ready"),
  timestamp: Schema.Date,
  checks: Schema.Record(Schema.String, ReadinessCheck)
})

// ---------------------------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------------------------

/** The operator actions the audit trail records. */
export const AuditAction = Schema.Literals(["task.cancel", "step.retry", "step.resolve", "key.create", "key.revoke"])

/** `GET /v1/audit` query: filters and pagination (page from 1; per_page 1–100, default 25). */
export const AuditQuery = Schema.Struct({
  task_uuid: Schema.optionalKey(Uuid),
  key_id: Schema.optionalKey(BoundedString(64)),
  action: Schema.optionalKey(AuditAction),
  /** only actions at or after this time (ISO 8601) */
  since: Schema.optionalKey(Schema.DateFromString),
  page: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))),
  per_page: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: MAX_PER_PAGE }))))
})
export type AuditQuery = typeof AuditQuery.Type

/** One operator action: who (the key id, never the secret), from where, under which correlation, on what. */
export const AuditEntry = Schema.Struct({
  audit_id: Schema.Number,
  occurred_at: Schema.Date,
  action: Schema.String,
  key_id: Schema.String,
  client_address: Schema.NullOr(Schema.String),
  correlation_id: Schema.NullOr(Schema.String),
  task_uuid: Schema.NullOr(Schema.String),
  step_uuid: Schema.NullOr(Schema.String),
  details: Schema.Json
})

export const AuditPage = Schema.Struct({ entries: Schema.Array(AuditEntry), pagination: Pagination })
