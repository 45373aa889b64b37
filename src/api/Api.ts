/**
 * The REST API as one `HttpApi` definition, shared by the server (`Http.ts`) and the typed client
 * (`src/client/Client.ts`). Definitions only: nothing here may import server code.
 *
 * | group | endpoints |
 * |---|---|
 * | `tasks` | `POST /v1/tasks`, `POST /v1/tasks/batch`, `GET /v1/tasks`, `GET/DELETE /v1/tasks/:task_uuid`, `GET /v1/tasks/:task_uuid/wait`, `GET /v1/tasks/:task_uuid/workflow_steps[/:step_uuid]`, `PATCH /v1/tasks/:task_uuid/workflow_steps/:step_uuid` |
 * | `templates` | `GET /v1/templates[/:namespace[/:name]]` |
 * | `audit` | `GET /v1/audit` |
 * | `dashboard` | `GET /v1/overview`, `GET /v1/tasks/:task_uuid/{dag,timeline,transitions}`, `GET /v1/dead_letters`, `POST /v1/dead_letters/:queue/:msg_id/redrive`, `DELETE /v1/dead_letters/:queue/:msg_id`, `GET /v1/templates/:namespace/:name/:version`, `GET /v1/ui_config`, `GET /v1/events` (server-sent events) |
 * | `system` (top level) | `GET /health`, `/live`, `/ready` |
 *
 * Two middlewares: `Authorization` (tasks, templates, audit and `/ready`: the caller's scopes against the
 * endpoint's, `src/api/Access.ts`) and `RequestErrors` (every endpoint; turns request decoding failures, oversize
 * bodies and defects into the API's error shape).
 */
import { Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { StepUuid, TaskUuid } from "../domain/Ids.ts"
import {
  DeadLetterList,
  DeadLettersQuery,
  Discarded,
  EventsQuery,
  MsgId,
  Overview,
  QueueName,
  Redriven,
  TaskDag,
  TaskTimeline,
  TaskTransitions,
  TemplateParams,
  TemplateView,
  UiConfig
} from "./DashboardModels.ts"
import {
  ApiBadRequest,
  ApiConflict,
  ApiForbidden,
  ApiInternalError,
  ApiNotFound,
  ApiPayloadTooLarge,
  ApiServiceUnavailable,
  ApiTooManyRequests,
  ApiUnauthorized,
  ApiValidationError
} from "./Errors.ts"
import {
  AuditPage,
  AuditQuery,
  BoundedString,
  CreateTaskRequest,
  CreateTasksRequest,
  HealthStatus,
  ListTasksQuery,
  LiveStatus,
  NamespaceTemplates,
  ReadyStatus,
  StepAction,
  StepView,
  TaskCreated,
  TaskDetail,
  TaskExisting,
  TaskList,
  TasksCreated,
  TaskView,
  TemplateIndex,
  TemplateVersions,
  Uuid,
  WaitQuery,
  WaitResult
} from "./Models.ts"

/** The header carrying the caller's correlation ID (`POST /v1/tasks` uses it when the body has none). */
export const CORRELATION_HEADER = "x-correlation-id"
/** The header carrying an API key (an alternative to `Authorization: Bearer <token>`). */
export const API_KEY_HEADER = "X-API-Key"

/**
 * Authentication and authorization: `Authorization: Bearer <key>` or `X-API-Key: <key>` — the bootstrap token
 * (`TASKER_API_TOKEN`) or an API key (`tasker keys create`). With authentication on, a request without a valid key
 * is a 401, one whose key lacks the endpoint's scope a 403 naming it, one over its rate limit a 429 with
 * `Retry-After`. Not required by the client: it sends a key when it is configured with one.
 */
export class Authorization extends HttpApiMiddleware.Service<Authorization>()("tasker/api/Authorization", {
  error: [ApiUnauthorized, ApiForbidden, ApiTooManyRequests],
  security: {
    bearer: HttpApiSecurity.bearer,
    apiKey: HttpApiSecurity.apiKey({ key: API_KEY_HEADER, in: "header" })
  }
}) {}

/**
 * Request failures in the API's error shape: a body, path parameter, query parameter or header that does not
 * decode is a 400 naming the field, an oversize body a 413, and anything unexpected a 500 without details.
 */
export class RequestErrors extends HttpApiMiddleware.Service<RequestErrors>()("tasker/api/RequestErrors", {
  error: [ApiBadRequest, ApiPayloadTooLarge, ApiInternalError, ApiServiceUnavailable]
}) {}

/**
 * The license stated in the OpenAPI document's `info` (a name and the license text's URL; OpenAPI 3.1 allows an
 * SPDX `identifier` or a `url`, not both). Keep it equal to `package.json`'s `license`.
 */
export const API_LICENSE = { name: "MIT", url: "https://opensource.org/license/mit" }

const TaskParams = { task_uuid: TaskUuid }
/** One dead letter: its queue and msg_id in the path; a 404 when there is no such dead letter. */
const DEAD_LETTER_PATH = "/v1/dead_letters/:queue/:msg_id"
const DeadLetterTarget = { params: { queue: QueueName, msg_id: MsgId }, error: ApiNotFound }
const StepParams = { task_uuid: TaskUuid, step_uuid: StepUuid }

const doc = (summary: string, description?: string) =>
  OpenApi.annotations(description === undefined ? { summary } : { summary, description })

export class TasksGroup extends HttpApiGroup.make("tasks").add(
  HttpApiEndpoint.post("create", "/v1/tasks", {
    payload: CreateTaskRequest,
    headers: { [CORRELATION_HEADER]: Schema.optionalKey(Uuid) },
    success: [TaskCreated.pipe(HttpApiSchema.status(201)), TaskExisting],
    error: [ApiBadRequest, ApiNotFound, ApiConflict, ApiValidationError, ApiPayloadTooLarge]
  }).annotateMerge(doc(
    "Create a task",
    "Creates a task from a template. 201 with the new task; 200 with `created: false` when the request matches " +
      "an existing task's identity (nothing is created). Either answer has `warnings: [{code: \"no_live_worker\", " +
      "message}]` when no live worker hosts the template (the task waits until one starts). 404 for an unknown " +
      "template, 422 when the context does not match the template's input schema (`error.field` names the field, " +
      "e.g. `context.even_number`), 409 when the stored template is invalid (a dependency cycle or an unknown " +
      "dependency, named in the message), 413 naming `context` when the context is larger than the server's " +
      "context limit (TASKER_API_MAX_CONTEXT_BYTES, default 256 KiB)."
  )),
  HttpApiEndpoint.post("createBatch", "/v1/tasks/batch", {
    payload: CreateTasksRequest,
    success: TasksCreated,
    error: [ApiBadRequest, ApiNotFound, ApiConflict, ApiValidationError, ApiPayloadTooLarge]
  }).annotateMerge(doc(
    "Create several tasks at once",
    "Up to 1 000 task requests, each as for `POST /v1/tasks`, created in one transaction: all of them, or none when " +
      "one is refused (`error.field` names it, e.g. `tasks.3.context.even_number`). One result per request, in order; " +
      "a request that matches an existing task's identity (or an earlier request of the batch) returns that task " +
      "with `created: false`."
  )),
  HttpApiEndpoint.get("list", "/v1/tasks", {
    query: ListTasksQuery,
    success: TaskList,
    error: ApiBadRequest
  }).annotateMerge(doc(
    "List tasks",
    "Newest first, paginated, filtered by namespace, name, status and correlation ids. Contexts are left out " +
      "unless `include=context`; then each page carries contexts in list order up to the server's context budget " +
      "(TASKER_API_LIST_CONTEXT_BUDGET_BYTES, default 1 MiB), and a task whose context did not fit has " +
      "`context_omitted: true` (read it with `GET /v1/tasks/:task_uuid`)."
  )),
  HttpApiEndpoint.get("get", "/v1/tasks/:task_uuid", {
    params: TaskParams,
    success: TaskDetail,
    error: ApiNotFound
  }).annotateMerge(doc("Get a task with its execution context and steps")),
  HttpApiEndpoint.delete("cancel", "/v1/tasks/:task_uuid", {
    params: TaskParams,
    success: TaskView,
    error: [ApiNotFound, ApiConflict]
  }).annotateMerge(doc("Cancel a task", "Cancels the task and its unfinished steps; 409 when it already finished.")),
  HttpApiEndpoint.get("wait", "/v1/tasks/:task_uuid/wait", {
    params: TaskParams,
    query: WaitQuery,
    success: WaitResult,
    error: ApiNotFound
  }).annotateMerge(doc(
    "Wait for a task to finish (long poll)",
    "Holds the request until the task is complete, error, cancelled, resolved_manually or blocked_by_failures, " +
      "or `timeout_ms` (default 30000, at most 60000) passed; `finished` tells which."
  )),
  HttpApiEndpoint.get("listSteps", "/v1/tasks/:task_uuid/workflow_steps", {
    params: TaskParams,
    success: Schema.Array(StepView),
    error: ApiNotFound
  }).annotateMerge(doc("List a task's steps", "Roots first, with readiness.")),
  HttpApiEndpoint.get("getStep", "/v1/tasks/:task_uuid/workflow_steps/:step_uuid", {
    params: StepParams,
    success: StepView,
    error: ApiNotFound
  }).annotateMerge(doc("Get a step", "404 when the step does not belong to the task.")),
  HttpApiEndpoint.patch("updateStep", "/v1/tasks/:task_uuid/workflow_steps/:step_uuid", {
    params: StepParams,
    payload: StepAction,
    success: StepView,
    error: [ApiNotFound, ApiConflict]
  }).annotateMerge(doc(
    "Resolve or retry a step",
    "`{action: \"resolve\", result_data, reason}` resolves a failed step (`error` or `waiting_for_retry`) by hand " +
      "(its dependents receive `result_data`; `resolved_by` is the caller's key id, a `resolved_by` in the body is " +
      "ignored); `force: true` (admin scope) resolves a step in any unfinished state. `{action: \"retry\"}` retries " +
      "a failed step. 409 when the step's state does not allow it. Both are recorded in the audit trail. " +
      "A 400 names every missing or invalid field of the action at once."
  ))
    // an operator fixing a request should see every missing field at once, not one per attempt
    .annotate(HttpApi.PayloadParseOptions, { errors: "all" })
).middleware(Authorization).annotateMerge(OpenApi.annotations({
  title: "Tasks",
  description: "Create tasks from templates, read, list, wait for and cancel them, and resolve or retry their steps."
})) {}

export class TemplatesGroup extends HttpApiGroup.make("templates").add(
  HttpApiEndpoint.get("list", "/v1/templates", { success: TemplateIndex })
    .annotateMerge(doc("List namespaces and stored templates")),
  HttpApiEndpoint.get("namespace", "/v1/templates/:namespace", {
    params: { namespace: BoundedString(64) },
    success: NamespaceTemplates,
    error: ApiNotFound
  }).annotateMerge(doc("List a namespace's templates")),
  HttpApiEndpoint.get("versions", "/v1/templates/:namespace/:name", {
    params: { namespace: BoundedString(64), name: BoundedString(64) },
    success: TemplateVersions,
    error: ApiNotFound
  }).annotateMerge(doc("Get a template's versions", "Every stored version with its configuration, newest last."))
).middleware(Authorization).annotateMerge(OpenApi.annotations({
  title: "Templates",
  description: "The registered workflow templates: namespaces, names, versions and their stored configuration."
})) {}

export class AuditGroup extends HttpApiGroup.make("audit").add(
  HttpApiEndpoint.get("list", "/v1/audit", { query: AuditQuery, success: AuditPage, error: ApiBadRequest })
    .annotateMerge(doc(
      "The operator audit trail",
      "Every operator action (task.cancel, step.retry, step.resolve, key.create, key.revoke), newest first: the " +
        "acting key's id, the client address, the request's correlation id, the task and step. Filters: task_uuid, " +
        "key_id, action, since (ISO 8601). Needs the admin scope."
    ))
).middleware(Authorization).annotateMerge(OpenApi.annotations({
  title: "Audit",
  description: "The operator audit trail (admin scope)."
})) {}

/** The header a reconnecting event-stream client sends with the last event id it received. */
export const LAST_EVENT_ID_HEADER = "last-event-id"

/** What the dashboard reads: overview statistics, a task's DAG, timeline and audit trail, dead letters, events. */
export class DashboardGroup extends HttpApiGroup.make("dashboard").add(
  HttpApiEndpoint.get("overview", "/v1/overview", { success: Overview }).annotateMerge(doc(
    "Overview statistics",
    "Tasks by state (every state, 0 included); tasks created, completed and failed per minute over the last 60 " +
      "minutes (oldest first, zeros included); step attempts finished in the last hour with p50/p95 durations; " +
      "each queue's depth, oldest message age and dead letters; the live engine processes with their heartbeat age " +
      "and running steps. Computed from the engine's tables on each request."
  )),
  HttpApiEndpoint.get("dag", "/v1/tasks/:task_uuid/dag", {
    params: TaskParams,
    success: TaskDag,
    error: ApiNotFound
  }).annotateMerge(doc(
    "A task's DAG",
    "Its steps (state, attempts, first claim, finish, duration) and the dependency edges between them."
  )),
  HttpApiEndpoint.get("timeline", "/v1/tasks/:task_uuid/timeline", {
    params: TaskParams,
    success: TaskTimeline,
    error: ApiNotFound
  }).annotateMerge(doc(
    "A task's timeline",
    "Each step's life as segments derived from its transitions: `waiting` (for its dependencies), `queued`, " +
      "`running` and `backoff` (waiting for a retry), each with its start, end (null while it lasts) and attempt."
  )),
  HttpApiEndpoint.get("transitions", "/v1/tasks/:task_uuid/transitions", {
    params: TaskParams,
    success: TaskTransitions,
    error: ApiNotFound
  }).annotateMerge(doc(
    "A task's audit trail",
    "Every task and step transition, oldest first, with its metadata and who made it (`actor`: the operator " +
      "named by the metadata, else `processor:<uuid>`)."
  )),
  HttpApiEndpoint.get("deadLetters", "/v1/dead_letters", {
    query: DeadLettersQuery,
    success: DeadLetterList,
    error: ApiBadRequest
  }).annotateMerge(doc(
    "List dead letters",
    "Messages the engine archived as dead letters (unreadable, read too often, unknown step), newest first, of " +
      "every queue or of `queue`; paginated like the task list."
  )),
  HttpApiEndpoint.post("redrive", `${DEAD_LETTER_PATH}/redrive` as const, { ...DeadLetterTarget, success: Redriven })
    .annotateMerge(doc(
      "Re-drive a dead letter",
      "Sends the message again on its queue (a new msg_id, same message and headers) and removes it from the " +
        "archive, in one transaction. 404 for an unknown dead letter."
    )),
  HttpApiEndpoint.delete("discard", DEAD_LETTER_PATH, { ...DeadLetterTarget, success: Discarded })
    .annotateMerge(doc("Discard a dead letter", "Deletes it from the archive. 404 for an unknown dead letter.")),
  HttpApiEndpoint.get("template", "/v1/templates/:namespace/:name/:version", {
    params: TemplateParams,
    success: TemplateView,
    error: [ApiNotFound, ApiConflict]
  }).annotateMerge(doc(
    "Get one template version",
    "Its steps with dependencies and retry policies, the DAG's edges, the input JSON Schema and how many tasks " +
      "of it exist. 409 when its stored configuration is not a valid template."
  )),
  HttpApiEndpoint.get("uiConfig", "/v1/ui_config", { success: UiConfig }).annotateMerge(doc(
    "The dashboard's configuration",
    "`trace_url_template` (TASKER_TRACE_URL, `{traceId}` replaced by a task's trace id) and whether requests " +
      "need a credential: true when the server has a token (TASKER_API_TOKEN) or the database an API key."
  )),
  HttpApiEndpoint.get("events", "/v1/events", {
    query: EventsQuery,
    headers: { [LAST_EVENT_ID_HEADER]: Schema.optionalKey(Schema.String) },
    success: HttpApiSchema.StreamUint8Array({ contentType: "text/event-stream" }),
    error: [ApiBadRequest, ApiNotFound]
  }).annotateMerge(doc(
    "Live task and step events (server-sent events)",
    "`event: task` with data `{task_uuid, state, at}` and `event: step` with `{task_uuid, step_uuid, name, " +
      "state, at}`, each with an `id:`; a `: heartbeat` comment every 15 s. `task_uuid` filters to one task (404 " +
      "when there is none). A client that reconnects with `Last-Event-ID` receives the events it missed (400 " +
      "naming `last-event-id` when it is not an id of this stream). Needs the same authorization as " +
      "the rest of the API (read it with fetch(), not EventSource, when a token is set)."
  ))
).middleware(Authorization).annotateMerge(OpenApi.annotations({
  title: "Dashboard",
  description: "Overview statistics, task DAGs, timelines and audit trails, dead letters and live events."
})) {}

/** Health probes: `/health` and `/live` never behind authentication; `/ready` needs the `metrics` scope. */
export class SystemGroup extends HttpApiGroup.make("system", { topLevel: true }).add(
  HttpApiEndpoint.get("health", "/health", { success: HealthStatus }).annotateMerge(doc("Health")),
  HttpApiEndpoint.get("live", "/live", { success: LiveStatus }).annotateMerge(doc("Liveness probe")),
  HttpApiEndpoint.get("ready", "/ready", { success: ReadyStatus, error: ApiServiceUnavailable }).annotateMerge(doc(
    "Readiness probe",
    "200 when the database answers and this process's engine services are registered and heartbeating; 503 " +
      "otherwise. With authentication on, needs a key with the metrics scope (its checks name the process)."
  )).middleware(Authorization)
).annotateMerge(OpenApi.annotations({
  title: "System",
  description: "Health, liveness and readiness probes; /health and /live are never behind authentication."
})) {}

export class Api extends HttpApi.make("tasker")
  .add(TasksGroup)
  .add(TemplatesGroup)
  .add(AuditGroup)
  .add(DashboardGroup)
  .add(SystemGroup)
  .middleware(RequestErrors)
  .annotateMerge(OpenApi.annotations({
    title: "tasker-effect API",
    version: "1.0.0",
    description: "Workflow orchestration: create and inspect tasks, operate on steps, browse templates. " +
      "Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`.",
    license: API_LICENSE,
    // the document is served by the API itself: its paths are relative to the server that serves it
    servers: [{ url: "/", description: "The server that serves this document" }]
  }))
{}
